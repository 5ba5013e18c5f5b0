"""Sample URL arguments for URL patterns that take parameters.

The role-matrix test fails for a URL with parameters that has no builder here. A builder gets
the `MatrixWorld` (clinics and personas) and returns the URL kwargs, building its sample
objects in clinic A: staff of clinic A then expect 200/403, the other clinic 404.

    @url_kwargs("patients:detail")
    def _patient(world):
        return {"uuid": PatientFactory(clinic=world.clinic_a).uuid}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from clinic.core.models import Clinic, User


@dataclass
class MatrixWorld:
    clinic_a: Clinic
    clinic_b: Clinic
    practitioner_a: User
    front_desk_a: User
    safety_lead_a: User
    practitioner_b: User
    manager_a: User | None = None


Builder = Callable[[MatrixWorld], dict[str, Any]]
URL_KWARGS: dict[str, Builder] = {}


def url_kwargs(name: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        URL_KWARGS[name] = builder
        return builder

    return register


# --- admin samples (checked under the `admin:*` row) ----------------------------------------


@url_kwargs("admin:core_clinic_change")
def _admin_clinic(world: MatrixWorld) -> dict[str, Any]:
    return {"object_id": str(world.clinic_a.pk)}


@url_kwargs("admin:app_list")
def _admin_app(world: MatrixWorld) -> dict[str, Any]:
    return {"app_label": "core"}


# --- self-service account pages (issue 21) ------------------------------------------------


@url_kwargs("core:password_reset_confirm")
def _password_reset_link(world: MatrixWorld) -> dict[str, Any]:
    # A real account with a token that is not its own: the page says the link no longer works.
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    return {"uidb64": urlsafe_base64_encode(force_bytes(world.practitioner_a.pk)), "token": "x-y"}


# The admin URLs requested for a `admin:*` row, for every persona and for an admin.
PREFIX_SAMPLES: dict[str, list[str]] = {
    "admin:*": [
        "admin:index",
        "admin:app_list",
        "admin:core_clinic_changelist",
        "admin:core_clinic_change",
        "admin:core_user_changelist",
        "admin:core_membership_changelist",
        "admin:otp_totp_totpdevice_changelist",
    ],
}


# --- clinical pages and products/lots (issue 4) ---------------------------------------------


def _sample_patient(world: MatrixWorld) -> Any:
    from tests.factories import PatientFactory

    return PatientFactory(clinic=world.clinic_a)


def _sample_session(world: MatrixWorld) -> Any:
    from tests.kit.world import logged_session

    return logged_session(world.practitioner_a)


@url_kwargs("clinical:chart")
@url_kwargs("clinical:session_new")
@url_kwargs("clinical:screening")
def _clinical_patient(world: MatrixWorld) -> dict[str, Any]:
    return {"uuid": _sample_patient(world).uuid}


@url_kwargs("clinical:session_new_from_appointment")
def _clinical_appointment(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import AppointmentFactory

    patient = _sample_patient(world)
    return {"uuid": AppointmentFactory(patient=patient, practitioner=world.practitioner_a).uuid}


@url_kwargs("clinical:session")
@url_kwargs("clinical:session_edit")
@url_kwargs("clinical:session_sign")
@url_kwargs("clinical:session_addendum")
@url_kwargs("clinical:session_entered_in_error")
@url_kwargs("clinical:session_clear_hold")
@url_kwargs("clinical:aftercare")
def _clinical_session(world: MatrixWorld) -> dict[str, Any]:
    return {"uuid": _sample_session(world).uuid}


@url_kwargs("treatments:lot_list")
@url_kwargs("treatments:lot_receive")
def _treatments_product(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import ProductFactory

    return {"uuid": ProductFactory(clinic=world.clinic_a).uuid}


@url_kwargs("treatments:lot")
@url_kwargs("treatments:lot_correct")
@url_kwargs("treatments:lot_quarantine")
@url_kwargs("treatments:lot_release")
@url_kwargs("treatments:lot_recall")
def _treatments_lot(world: MatrixWorld) -> dict[str, Any]:
    from tests.kit.world import released_lot

    return {"uuid": released_lot(world.clinic_a).uuid}


@url_kwargs("treatments:recall")
@url_kwargs("treatments:recall_message")
@url_kwargs("treatments:recall_csv")
def _treatments_recall(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import RecallNoticeFactory

    return {"uuid": RecallNoticeFactory(recall__lot__product__clinic=world.clinic_a).recall.uuid}


# --- front desk: patients, booking, calendar (issue 5) -------------------------------------


@url_kwargs("patients:detail")
@url_kwargs("patients:edit")
@url_kwargs("patients:screening_edit")
def _patient_detail(world: MatrixWorld) -> dict[str, Any]:
    return {"uuid": _sample_patient(world).uuid}


@url_kwargs("treatments:patient_archive")
@url_kwargs("treatments:patient_unarchive")
def _archive_patient(world: MatrixWorld) -> dict[str, Any]:
    return {"uuid": _sample_patient(world).uuid}


@url_kwargs("patients:call_done")
def _call_task(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import CallTaskFactory

    return {"uuid": CallTaskFactory(clinic=world.clinic_a).uuid}


@url_kwargs("treatments:book")
@url_kwargs("treatments:patient_appointments")
def _booking_patient(world: MatrixWorld) -> dict[str, Any]:
    return {"patient": _sample_patient(world).uuid}


@url_kwargs("treatments:template_edit")
def _series_template(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import SeriesTemplateFactory

    return {"uuid": SeriesTemplateFactory(clinic=world.clinic_a).uuid}


@url_kwargs("treatments:appointment")
@url_kwargs("treatments:appointment_reschedule")
@url_kwargs("treatments:appointment_status")
@url_kwargs("treatments:appointment_clear_hold")
def _booking_appointment(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import AppointmentFactory

    patient = _sample_patient(world)
    return {"uuid": AppointmentFactory(patient=patient, practitioner=world.practitioner_a).uuid}


@url_kwargs("treatments:series_ics")
def _booking_series(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import TreatmentSeriesFactory

    return {"uuid": TreatmentSeriesFactory(clinic=world.clinic_a).uuid}


# --- the patient's report form and staff photos (issue 8) -----------------------------------


@url_kwargs("report:entry")
def _report_entry(world: MatrixWorld) -> dict[str, Any]:
    from patients.links import link_token
    from tests.kit.world import default_plan, logged_session

    default_plan(world.clinic_a)
    return {"token": link_token(logged_session(world.practitioner_a).report_link)}


@url_kwargs("photos:show")
def _report_photo(world: MatrixWorld) -> dict[str, Any]:
    import io
    import uuid

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from adverse_events.models import ReactionTerm
    from adverse_events.photos import photo_prepare
    from adverse_events.services import ReactionInput, submission_record
    from tests.kit.world import logged_session

    session = logged_session(world.practitioner_a)
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 80, 80)).save(jpeg, format="JPEG")
    onset = world.clinic_a.local(session.performed_at).date()
    submission = submission_record(
        link=session.report_link,
        submission_id=uuid.uuid4(),
        all_fine=False,
        reactions=[
            ReactionInput(
                term=ReactionTerm.objects.get(code="redness"),
                onset_date=onset,
                ongoing=True,
                patient_severity=1,
                stopped_activities=False,
                sought_care=False,
            )
        ],
        photo=photo_prepare(SimpleUploadedFile("p.jpg", jpeg.getvalue())),
    ).submission
    return {"uuid": submission.photos.get().uuid}


# --- dashboard and triage (issue 9) ---------------------------------------------------------


@url_kwargs("triage:alarm_acknowledge")
def _triage_alarm(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import AlarmFactory

    return {"uuid": AlarmFactory(clinic=world.clinic_a).uuid}


@url_kwargs("triage:report")
@url_kwargs("triage:medwatch")
def _triage_report(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import AssessmentFactory

    return {"uuid": AssessmentFactory(report__clinic=world.clinic_a).report.uuid}


# --- lot safety (issue 11) ------------------------------------------------------------------


@url_kwargs("safety:lot")
def _safety_lot(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import ProductLotFactory

    return {"uuid": ProductLotFactory(product__clinic=world.clinic_a).uuid}


@url_kwargs("safety:signal_review")
def _safety_signal(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import LotSignalFactory

    return {"uuid": LotSignalFactory(lot__product__clinic=world.clinic_a).uuid}


# --- the REST API (issue 10) ----------------------------------------------------------------


def _uuid_of(factory_name: str, **kwargs: Any) -> dict[str, Any]:
    from tests import factories

    return {"uuid": getattr(factories, factory_name)(**kwargs).uuid}


@url_kwargs("api:clinic-detail")
def _api_clinic(world: MatrixWorld) -> dict[str, Any]:
    return {"uuid": world.clinic_a.uuid}


@url_kwargs("api:patient-detail")
def _api_patient(world: MatrixWorld) -> dict[str, Any]:
    return _uuid_of("PatientFactory", clinic=world.clinic_a)


@url_kwargs("api:appointment-detail")
@url_kwargs("api:appointment-reschedule")
@url_kwargs("api:appointment-cancel")
@url_kwargs("api:appointment-arrive")
@url_kwargs("api:appointment-no-show")
@url_kwargs("api:appointment-clear-hold")
def _api_appointment(world: MatrixWorld) -> dict[str, Any]:
    return _uuid_of("AppointmentFactory", clinic=world.clinic_a)


@url_kwargs("api:series-detail")
def _api_series(world: MatrixWorld) -> dict[str, Any]:
    return _uuid_of("TreatmentSeriesFactory", clinic=world.clinic_a)


@url_kwargs("api:product-detail")
def _api_product(world: MatrixWorld) -> dict[str, Any]:
    return _uuid_of("ProductFactory", clinic=world.clinic_a)


@url_kwargs("api:lot-detail")
@url_kwargs("api:lot-correct")
@url_kwargs("api:lot-quarantine")
@url_kwargs("api:lot-release")
@url_kwargs("api:lot-recall")
def _api_lot(world: MatrixWorld) -> dict[str, Any]:
    return _uuid_of("ProductLotFactory", product__clinic=world.clinic_a)


@url_kwargs("api:reaction-term-detail")
def _api_term(world: MatrixWorld) -> dict[str, Any]:
    return _uuid_of("ReactionTermFactory")


@url_kwargs("api:alarm-detail")
@url_kwargs("api:alarm-acknowledge")
def _api_alarm(world: MatrixWorld) -> dict[str, Any]:
    return _uuid_of("AlarmFactory", clinic=world.clinic_a)


@url_kwargs("api:session-detail")
@url_kwargs("api:session-entered-in-error")
def _api_session(world: MatrixWorld) -> dict[str, Any]:
    return {"uuid": _sample_session(world).uuid}


@url_kwargs("api:checkin-detail")
def _api_checkin(world: MatrixWorld) -> dict[str, Any]:
    return _uuid_of("CheckInFactory", session=_sample_session(world))


@url_kwargs("api:reaction-detail")
@url_kwargs("api:reaction-assess")
def _api_reaction(world: MatrixWorld) -> dict[str, Any]:
    return _uuid_of("ReactionReportFactory", session=_sample_session(world))


# --- staff pages (issue 21): a clinic A colleague, managed by `manager_a` --------------------


@url_kwargs("staff:clinic")
@url_kwargs("staff:invite")
def _staff_clinic(world: MatrixWorld) -> dict[str, Any]:
    return {"uuid": world.clinic_a.uuid}


@url_kwargs("staff:member")
@url_kwargs("staff:member_roles")
@url_kwargs("staff:member_deactivate")
@url_kwargs("staff:member_reactivate")
@url_kwargs("staff:member_reset_second_factor")
def _staff_member(world: MatrixWorld) -> dict[str, Any]:
    return {"uuid": world.clinic_a.uuid, "user": world.practitioner_a.uuid}


def _sample_invitation(world: MatrixWorld) -> tuple[Any, str]:
    from clinic.core.models import Role
    from clinic.core.services import invitation_create

    inviter = world.manager_a or world.safety_lead_a
    return invitation_create(
        clinic=world.clinic_a,
        invited_by=inviter,
        first_name="Sample",
        last_name="Invitee",
        email="invitee@clinic.example",
        roles=[Role.PRACTITIONER],
    )


@url_kwargs("staff:invitation_withdraw")
def _staff_invitation(world: MatrixWorld) -> dict[str, Any]:
    invitation, _token = _sample_invitation(world)
    return {"uuid": world.clinic_a.uuid, "invitation": invitation.uuid}


# --- clinic settings (issue 21): clinic A, its plan step and a closure ---------------------


@url_kwargs("settings:basics")
@url_kwargs("settings:hours")
@url_kwargs("settings:checkins")
def _settings_clinic(world: MatrixWorld) -> dict[str, Any]:
    return {"uuid": world.clinic_a.uuid}


@url_kwargs("settings:step")
@url_kwargs("settings:step_remove")
def _settings_step(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import CheckInPlanStepFactory

    step = CheckInPlanStepFactory(
        clinic=world.clinic_a, code="d3", label="Day 3", offset=timedelta(days=3)
    )
    return {"uuid": world.clinic_a.uuid, "step": step.uuid}


@url_kwargs("settings:closure_remove")
def _settings_closure(world: MatrixWorld) -> dict[str, Any]:
    from tests.factories import ClinicClosureFactory

    closure = ClinicClosureFactory(clinic=world.clinic_a)
    return {"uuid": world.clinic_a.uuid, "closure": closure.uuid}


@url_kwargs("staff:join")
def _staff_join(world: MatrixWorld) -> dict[str, Any]:
    _invitation, token = _sample_invitation(world)
    return {"token": token}
