"""Factories for every model, one section per app (core first, then the domain apps).

Build rows with `XFactory()`; staff with a role and a second factor through `StaffFactory` or
the persona fixtures in tests/conftest.py. Passwords are `tests.kit.auth.PASSWORD`.
"""

from __future__ import annotations

from datetime import date, timedelta

import factory
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.core.models import (
    CheckInPlanStep,
    Clinic,
    ClinicClosure,
    FormToken,
    Heartbeat,
    IdempotencyRecord,
    Invitation,
    Membership,
    Role,
    StaffAction,
    StaffAuditEvent,
    User,
)
from tests.kit.auth import PASSWORD

# --- clinic.core ---------------------------------------------------------------------------


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Clinic {n}")
    time_zone = "Asia/Seoul"
    phone = factory.Sequence(lambda n: f"+82-2-555-{n:04d}")
    country = "KR"
    emergency_number = "119"
    on_call_email = factory.Sequence(lambda n: f"oncall{n}@clinic.example")
    address = "1 Example Street"


class UserFactory(factory.django.DjangoModelFactory):
    """A user with the kit's password and no role, no device (see StaffFactory)."""

    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@clinic.example")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save(update_fields=["password"])


class TOTPDeviceFactory(factory.django.DjangoModelFactory):
    """A confirmed authenticator-app device (random secret)."""

    class Meta:
        model = TOTPDevice

    user = factory.SubFactory(UserFactory)
    name = "Authenticator app"
    confirmed = True


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    role = Role.PRACTITIONER
    active = True


class StaffAuditEventFactory(factory.django.DjangoModelFactory):
    """One line of a clinic's staff audit (a manager invited someone)."""

    class Meta:
        model = StaffAuditEvent

    clinic = factory.SubFactory(ClinicFactory)
    actor = factory.SubFactory(UserFactory)
    subject_name = "Jiwoo Han"
    action = StaffAction.INVITED


def _now():
    from django.utils import timezone

    return timezone.now()


class InvitationFactory(factory.django.DjangoModelFactory):
    """A pending invitation (the token is not kept; this one's hash is random)."""

    class Meta:
        model = Invitation

    clinic = factory.SubFactory(ClinicFactory)
    invited_by = factory.SubFactory(UserFactory)
    first_name = "Jiwoo"
    last_name = "Han"
    email = "jiwoo@clinic.example"
    roles = factory.LazyFunction(lambda: [Role.PRACTITIONER])
    token_hash = factory.Sequence(lambda n: f"{n:064x}")
    expires_at = factory.LazyFunction(lambda: _now() + timedelta(hours=72))


class StaffFactory(UserFactory):
    """A user with a role at a clinic and a confirmed TOTP device.

    `StaffFactory(membership__clinic=clinic, membership__role=Role.FRONT_DESK)`.
    """

    membership = factory.RelatedFactory(MembershipFactory, factory_related_name="user")
    device = factory.RelatedFactory(TOTPDeviceFactory, factory_related_name="user")


class ClinicClosureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicClosure

    clinic = factory.SubFactory(ClinicFactory)
    starts_on = factory.LazyFunction(lambda: date.today() + timedelta(days=30))
    ends_on = factory.LazyAttribute(lambda c: c.starts_on + timedelta(days=2))
    reason = "Public holiday"


class CheckInPlanStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CheckInPlanStep
        django_get_or_create = ("clinic", "code")

    clinic = factory.SubFactory(ClinicFactory)
    code = factory.Sequence(lambda n: f"s{n}")
    label = factory.LazyAttribute(lambda s: f"Step {s.code}")
    offset = timedelta(days=1)


class FormTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FormToken

    token = factory.Faker("uuid4", cast_to=None)
    record_type = "patients.patient"
    clinic = factory.SubFactory(ClinicFactory)


class IdempotencyRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IdempotencyRecord

    user = factory.SubFactory(UserFactory)
    key = factory.Sequence(lambda n: f"key-{n}")
    request_hash = "0" * 64
    status_code = 201


class HeartbeatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Heartbeat
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"task-{n}")


# --- patients / treatments / adverse_events ------------------------------------------------
#
# Every factory builds a row that passes `full_clean()` and every database constraint. Rows
# that hang off a patient share one clinic: pass whichever you have, `clinic=`, `patient=`
# or (for reports) `session=`, and the rest is derived from it; mixing clinics raises at once.
#
#   TreatmentSessionFactory(clinic=clinic_a)          session, patient, lot, practitioner in A
#   ReactionReportFactory(session=session)            report on that session's patient
#   AppointmentFactory(patient=p, practitioner=u)     consecutive slots never overlap
#   PersonalLinkFactory(token="abc")                  stores sha256("abc") only
#   ReactionTermFactory(code="redness")               the shipped term (get-or-create)

from datetime import datetime  # noqa: E402
from decimal import Decimal  # noqa: E402
from typing import Any  # noqa: E402
from uuid import uuid4  # noqa: E402

from django.db import models  # noqa: E402
from django.utils import timezone  # noqa: E402

from adverse_events.models import (  # noqa: E402
    Alarm,
    Assessment,
    Causality,
    CheckInWeekSummary,
    ClinicTermCode,
    Locality,
    LotSignal,
    LotTermSummary,
    LotWeekSummary,
    Outcome,
    PatientSeverity,
    ReactionReport,
    ReactionTerm,
    ReactionWeekSummary,
    ReportSource,
    SeverityGrade,
    SignalKind,
    Submission,
    SubmissionPhoto,
    SummaryFillState,
    TriageStatus,
)
from clinic.core.models import BaseModel  # noqa: E402
from patients.models import (  # noqa: E402
    CallReason,
    CallTask,
    Channel,
    Fitzpatrick,
    Language,
    LinkPurpose,
    MessageKind,
    OutboxMessage,
    Patient,
    PersonalLink,
    ScreeningFact,
    ScreeningFactConfirmation,
)
from treatments.models import (  # noqa: E402
    Appointment,
    CheckIn,
    DeliveryMethod,
    LaserType,
    LotStatus,
    Product,
    ProductForm,
    ProductLot,
    ProductSource,
    Recall,
    RecallNotice,
    SeriesTemplate,
    SessionAddendum,
    SessionStatus,
    Storage,
    TreatedArea,
    TreatmentSeries,
    TreatmentSession,
)


def clinic_of(row: models.Model) -> Clinic | None:
    """The clinic a row belongs to, following the model's `clinic_path` (None: shared data)."""
    path = getattr(type(row), "clinic_path", None)
    if path is None:
        return None
    for step in filter(None, path.split("__")):
        row = getattr(row, step)
    return row  # type: ignore[return-value]


class ClinicRowFactory(factory.django.DjangoModelFactory):
    """Base for rows whose parents each carry a clinic: fills the gaps, refuses a mix.

    `_derived` lists (field, source): when `field` was not given it is read from `source`,
    e.g. ("patient", "session") then ("clinic", "patient").
    """

    class Meta:
        abstract = True

    _derived: tuple[tuple[str, str], ...] = (("clinic", "patient"),)

    @classmethod
    def _adjust_kwargs(cls, **kwargs: Any) -> dict[str, Any]:
        for field, source in cls._derived:
            if kwargs.get(field) is None and kwargs.get(source) is not None:
                kwargs[field] = getattr(kwargs[source], field)
        clinics = {
            name: clinic_of(value)
            for name, value in kwargs.items()
            if isinstance(value, BaseModel) and clinic_of(value) is not None
        }
        if len({c.pk for c in clinics.values()}) > 1:
            seen = ", ".join(f"{name} in {c}" for name, c in clinics.items())
            raise ValueError(f"{cls.__name__}: rows from different clinics ({seen}).")
        return kwargs


def _in_given_context(factory_cls: type, **extra: Any) -> factory.Maybe:
    """A SubFactory placed with the parent's `patient` if one was given, else in its `clinic`."""
    return factory.Maybe(
        "patient",
        factory.SubFactory(factory_cls, patient=factory.SelfAttribute("..patient"), **extra),
        factory.Maybe(
            "clinic",
            factory.SubFactory(factory_cls, clinic=factory.SelfAttribute("..clinic"), **extra),
            factory.SubFactory(factory_cls, **extra),
        ),
    )


def _patient_in_given_clinic() -> factory.Maybe:
    return factory.Maybe(
        "clinic",
        factory.SubFactory(
            "tests.factories.PatientFactory", clinic=factory.SelfAttribute("..clinic")
        ),
        factory.SubFactory("tests.factories.PatientFactory"),
    )


def _soon(days: int = 0, hours: int = 0) -> datetime:
    return timezone.now() + timedelta(days=days, hours=hours)


class PractitionerFactory(UserFactory):
    """A user with an active practitioner membership at `clinic` (no TOTP device)."""

    class Params:
        clinic = factory.SubFactory(ClinicFactory)

    membership = factory.RelatedFactory(
        MembershipFactory,
        factory_related_name="user",
        clinic=factory.SelfAttribute("..clinic"),
        role=Role.PRACTITIONER,
    )


# patients


class PatientFactory(factory.django.DjangoModelFactory):
    """An adult who consented to email contact."""

    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = factory.Faker("date_of_birth", minimum_age=18, maximum_age=80)
    email = factory.Sequence(lambda n: f"patient{n}@patients.example")
    phone = factory.Sequence(lambda n: f"+82 10 {5000 + n % 5000:04d} {n % 10000:04d}")
    preferred_channel = Channel.EMAIL
    consent_to_contact = True
    language = Language.EN
    fitzpatrick_type = Fitzpatrick.III


class ScreeningFactConfirmationFactory(factory.django.DjangoModelFactory):
    """A screening fact confirmed now (pass `confirmed_at` for an older one)."""

    class Meta:
        model = ScreeningFactConfirmation

    patient = factory.SubFactory(PatientFactory)
    fact = ScreeningFact.PREGNANT_OR_BREASTFEEDING
    confirmed_at = factory.LazyFunction(timezone.now)
    confirmed_by = factory.SubFactory(UserFactory)


class PersonalLinkFactory(factory.django.DjangoModelFactory):
    """A live link; only the hash of `token` (a parameter) is stored."""

    class Meta:
        model = PersonalLink

    class Params:
        token = factory.Sequence(lambda n: f"test-token-{n}")

    patient = factory.SubFactory(PatientFactory)
    purpose = LinkPurpose.SESSION_REPORT
    token_hash = factory.LazyAttribute(lambda o: PersonalLink.hash_token(o.token))
    expires_at = factory.LazyFunction(lambda: _soon(days=120))


class OutboxMessageFactory(ClinicRowFactory):
    """A pending email to the patient; `patient=None, clinic=c` for a staff alert."""

    class Meta:
        model = OutboxMessage

    clinic = None
    patient = _patient_in_given_clinic()
    kind = MessageKind.AFTERCARE
    channel = Channel.EMAIL
    to_address = factory.LazyAttribute(
        lambda o: o.patient.email if o.patient else "oncall@clinic.example"
    )
    subject = "Your aftercare"
    idempotency_key = factory.Sequence(lambda n: f"test:{n}")
    due_at = factory.LazyFunction(timezone.now)


class CallTaskFactory(ClinicRowFactory):
    class Meta:
        model = CallTask

    clinic = None
    patient = _patient_in_given_clinic()
    reason = CallReason.UNANSWERED_CHECKIN
    dedupe_key = factory.Sequence(lambda n: f"test-call:{n}")


# treatments


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Exosome serum {n}")
    manufacturer = "ExoLab"
    source = ProductSource.ADIPOSE_MSC
    form = ProductForm.LYOPHILISED
    storage = Storage.REFRIGERATED
    unit = "vial"


class ProductLotFactory(factory.django.DjangoModelFactory):
    """A released, full lot received ten days ago that expires in a year."""

    class Meta:
        model = ProductLot

    product = factory.SubFactory(ProductFactory)
    lot_number = factory.Sequence(lambda n: f"LOT-{n:05d}")
    received_on = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=10))
    expiry_date = factory.LazyAttribute(lambda o: o.received_on + timedelta(days=375))
    quantity_received = 20
    quantity_on_hand = factory.SelfAttribute("quantity_received")
    supplier = "ExoLab Distribution"
    status = LotStatus.RELEASED


class SeriesTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SeriesTemplate

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Acne scars course {n}")
    indication = "Acne scars"
    sessions_planned = 3
    interval_weeks = 4
    min_interval_weeks = 4
    max_interval_weeks = 6


class TreatmentSeriesFactory(ClinicRowFactory):
    class Meta:
        model = TreatmentSeries

    clinic = None
    patient = _patient_in_given_clinic()
    indication = "Acne scars"
    sessions_planned = 3
    interval_weeks = 4


class AppointmentFactory(ClinicRowFactory):
    """A booked hour with a practitioner of the patient's clinic; each one an hour later."""

    class Meta:
        model = Appointment

    clinic = None
    patient = _patient_in_given_clinic()
    practitioner = factory.SubFactory(
        PractitionerFactory, clinic=factory.SelfAttribute("..patient.clinic")
    )
    starts_at = factory.Sequence(
        lambda n: (
            timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1, hours=n)
        )
    )
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=60))


class TreatmentSessionFactory(ClinicRowFactory):
    """An open microneedling session on the cheeks, one vial of a released lot.

    Traits: `laser=True` (non-ablative fractional), `signed=True`.
    """

    class Meta:
        model = TreatmentSession

    class Params:
        laser = factory.Trait(
            delivery_method=DeliveryMethod.LASER,
            needle_depth_mm=None,
            laser_device="Fraxel",
            laser_type=LaserType.NON_ABLATIVE_FRACTIONAL,
            fluence_j_cm2=Decimal("20.00"),
            passes=2,
        )
        signed = factory.Trait(
            status=SessionStatus.SIGNED,
            signed_at=factory.LazyFunction(timezone.now),
            signed_by=factory.SelfAttribute("practitioner"),
        )

    clinic = None
    patient = _patient_in_given_clinic()
    practitioner = factory.SubFactory(
        PractitionerFactory, clinic=factory.SelfAttribute("..patient.clinic")
    )
    lot = factory.SubFactory(
        ProductLotFactory, product__clinic=factory.SelfAttribute("...patient.clinic")
    )
    performed_at = factory.LazyFunction(timezone.now)
    delivery_method = DeliveryMethod.MICRONEEDLING
    needle_depth_mm = Decimal("0.50")
    treated_areas = factory.LazyFunction(lambda: [TreatedArea.CHEEKS.value])
    units_used = 1
    screening = factory.LazyFunction(lambda: {"contraindications": [], "warnings": []})


class SessionAddendumFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionAddendum

    session = factory.SubFactory(TreatmentSessionFactory, signed=True)
    author = factory.SelfAttribute("session.practitioner")
    text = "Patient called: mild redness on the left cheek, as expected."


class CheckInFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CheckIn

    session = factory.SubFactory(TreatmentSessionFactory)
    step_code = factory.Sequence(lambda n: f"d{n + 1}")
    step_label = factory.LazyAttribute(lambda o: f"Check-in {o.step_code}")
    due_at = factory.LazyAttribute(lambda o: o.session.performed_at + timedelta(days=1))


# adverse_events


class RecallFactory(factory.django.DjangoModelFactory):
    """A recall of a (recalled) lot by a safety lead of its clinic."""

    class Meta:
        model = Recall

    lot = factory.SubFactory(
        ProductLotFactory, status=LotStatus.RECALLED, status_reason="Sterility test failed"
    )
    reason = "Sterility test failed"
    recalled_by = factory.SubFactory(
        PractitionerFactory, clinic=factory.SelfAttribute("..lot.product.clinic")
    )


class RecallNoticeFactory(factory.django.DjangoModelFactory):
    """A patient of the recall's clinic on the recall (no message yet)."""

    class Meta:
        model = RecallNotice

    recall = factory.SubFactory(RecallFactory)
    patient = factory.SubFactory(
        PatientFactory, clinic=factory.SelfAttribute("..recall.lot.product.clinic")
    )


class ReactionTermFactory(factory.django.DjangoModelFactory):
    """A shipped term by `code` (default "redness"); a new code creates a local term."""

    class Meta:
        model = ReactionTerm
        django_get_or_create = ("code",)

    code = "redness"
    name = factory.LazyAttribute(lambda o: o.code.replace("_", " ").capitalize())
    patient_label = factory.SelfAttribute("name")
    patient_label_ko = "기타 반응"
    locality = Locality.LOCAL


class ClinicTermCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicTermCode

    clinic = factory.SubFactory(ClinicFactory)
    term = factory.SubFactory(ReactionTermFactory)
    system = "MedDRA"
    code = factory.Sequence(lambda n: f"{10000000 + n}")


class SubmissionFactory(ClinicRowFactory):
    """A patient's report-link submission about a session."""

    class Meta:
        model = Submission

    _derived = (("patient", "session"), ("clinic", "patient"))

    clinic = None
    patient = None
    session = _in_given_context(TreatmentSessionFactory)
    link = factory.SubFactory(
        PersonalLinkFactory, patient=factory.SelfAttribute("..session.patient")
    )
    submission_id = factory.LazyFunction(uuid4)
    source = ReportSource.PATIENT_FORM


class SubmissionPhotoFactory(factory.django.DjangoModelFactory):
    """Row only: `image` names a file that is never written."""

    class Meta:
        model = SubmissionPhoto

    submission = factory.SubFactory(SubmissionFactory)
    image = factory.Sequence(lambda n: f"photos/00/test{n}.jpg")
    content_type = "image/jpeg"
    width = 640
    height = 480
    size_bytes = 50_000


class ReactionReportFactory(ClinicRowFactory):
    """Mild, ongoing redness since today, reported through the patient's link."""

    class Meta:
        model = ReactionReport

    _derived = (("patient", "session"), ("clinic", "patient"))

    clinic = None
    patient = None
    session = _in_given_context(TreatmentSessionFactory)
    submission = factory.SubFactory(SubmissionFactory, session=factory.SelfAttribute("..session"))
    term = factory.SubFactory(ReactionTermFactory)
    onset_date = factory.LazyFunction(timezone.localdate)
    ongoing = True
    patient_severity = PatientSeverity.MILD
    source = ReportSource.PATIENT_FORM


class AssessmentFactory(factory.django.DjangoModelFactory):
    """A new (untriaged) assessment; `reviewed=True` or `closed=True` for later states."""

    class Meta:
        model = Assessment

    class Params:
        reviewed = factory.Trait(
            triage_status=TriageStatus.REVIEWED,
            severity_grade=SeverityGrade.MILD,
            assessed_by=factory.SelfAttribute("report.session.practitioner"),
            assessed_at=factory.LazyFunction(timezone.now),
        )
        closed = factory.Trait(
            reviewed=True,
            triage_status=TriageStatus.CLOSED,
            outcome=Outcome.RECOVERED,
            causality=Causality.PROBABLE,
        )

    report = factory.SubFactory(ReactionReportFactory)


class AlarmFactory(ClinicRowFactory):
    """An open red-flag alarm on a red-flag submission."""

    class Meta:
        model = Alarm
        # The hooks write through the ORM themselves; nothing to save again after them.
        skip_postgeneration_save = True

    _derived = (("patient", "submission"), ("session", "submission"), ("clinic", "patient"))

    clinic = None
    patient = None
    session = None
    submission = _in_given_context(SubmissionFactory, red_flag=True)

    @factory.post_generation
    def grouped(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        """The opening submission belongs to the alarm, as `submission_record` makes it."""
        if create:
            Submission.objects.filter(pk=self.submission_id).update(alarm=self)

    @factory.post_generation
    def terms(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            self.terms.add(*extracted)


class LotSignalFactory(factory.django.DjangoModelFactory):
    """A new rate signal: 2 cases in 20 sessions. `sentinel=True` ties it to a report."""

    class Meta:
        model = LotSignal

    class Params:
        sentinel = factory.Trait(
            kind=SignalKind.SENTINEL,
            report=factory.SubFactory(
                ReactionReportFactory,
                session=factory.SubFactory(
                    TreatmentSessionFactory,
                    lot=factory.SelfAttribute("...lot"),
                    clinic=factory.SelfAttribute("...lot.product.clinic"),
                ),
            ),
        )

    lot = factory.SubFactory(ProductLotFactory)
    kind = SignalKind.RATE
    dedupe_key = factory.Sequence(lambda n: f"test-signal:{n}")
    cases = 2
    exposure = 20


# Summary tables (adverse_events.summaries keeps them; these make single rows for tests)


def _monday(days_ago: int = 0) -> date:
    day = timezone.now().date() - timedelta(days=days_ago)
    return day - timedelta(days=day.weekday())


class LotWeekSummaryFactory(factory.django.DjangoModelFactory):
    """One lot-week: 10 sessions, 1 with a reaction, this week."""

    class Meta:
        model = LotWeekSummary

    lot = factory.SubFactory(ProductLotFactory)
    week = factory.LazyFunction(_monday)
    sessions = 10
    cases = 1


class LotTermSummaryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LotTermSummary

    lot = factory.SubFactory(ProductLotFactory)
    term = factory.SubFactory(ReactionTermFactory)
    cases = 1


class ReactionWeekSummaryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReactionWeekSummary

    clinic = factory.SubFactory(ClinicFactory)
    week = factory.LazyFunction(_monday)
    term = factory.SubFactory(ReactionTermFactory)
    reports = 2


class CheckInWeekSummaryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CheckInWeekSummary

    clinic = factory.SubFactory(ClinicFactory)
    week = factory.LazyFunction(_monday)
    step_code = "d1"
    day_after = 1
    sent = 10
    answered = 6


class SummaryFillStateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SummaryFillState
        django_get_or_create = ("name",)

    name = "lots"
    filled_until = factory.LazyFunction(timezone.now)
    last_run_at = factory.LazyFunction(timezone.now)
