"""One-time form tokens (clinic/core/formtokens.py): every staff create form makes its record
once. A second POST of the same form makes nothing and lands on the first one's record with
"This form was already submitted"; side effects (stock, aftercare, check-ins) happen once;
a refused form keeps its token; the API's Idempotency-Key reaches the same services."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clinic.core.exceptions import Conflict, RuleViolation
from clinic.core.models import CheckInPlanStep, FormToken, IdempotencyRecord
from patients.models import MessageKind, OutboxMessage, Patient
from tests.factories import (
    AppointmentFactory,
    FormTokenFactory,
    PatientFactory,
    ProductFactory,
    SeriesTemplateFactory,
)
from tests.kit.world import default_plan, logged_session, released_lot
from treatments.models import (
    CheckIn,
    DeliveryMethod,
    ProductLot,
    SessionAddendum,
    TreatmentSeries,
    TreatmentSession,
)

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'name="form_token" value="([0-9a-f-]{36})"')
NOTE = "This form was already submitted; here"


@pytest.fixture(autouse=True)
def _a_monday_in_january():
    # The booking form books Monday 2 February 2026 10:00 in Seoul: keep it in the future.
    with time_machine.travel(datetime(2026, 1, 2, 1, 0, tzinfo=ZoneInfo("UTC")), tick=True):
        yield


def token_of(response) -> str:
    """The one-time token the page's create form carries."""
    found = TOKEN.findall(response.content.decode())
    assert len(found) == 1, "the form carries exactly one form token"
    return found[0]


def session_form(lot: ProductLot, **overrides: Any) -> dict:
    return {
        "delivery_method": DeliveryMethod.MICRONEEDLING,
        "needle_depth_mm": "0.75",
        "treated_areas": ["cheeks"],
        "lot": lot.lot_number,
        "units_used": "1",
        "aftercare_given": "on",
    } | overrides


@dataclass
class World:
    clinic: Any
    practitioner: Any
    patient: Any
    lot: Any
    product: Any
    template: Any
    session: Any
    clients: dict[str, Client]


@pytest.fixture
def world(
    clinic_a, practitioner_a, front_desk_a, safety_lead_a, client_as: Callable[[Any], Client]
) -> World:
    default_plan(clinic_a)
    patient = PatientFactory(clinic=clinic_a, first_name="Mina", last_name="Park")
    lot = released_lot(clinic_a, quantity=10, lot_number="EXO-2026-01")
    return World(
        clinic=clinic_a,
        practitioner=practitioner_a,
        patient=patient,
        lot=lot,
        product=ProductFactory(clinic=clinic_a),
        template=SeriesTemplateFactory(clinic=clinic_a, name="Acne scars", sessions_planned=3),
        session=logged_session(practitioner_a, patient=PatientFactory(clinic=clinic_a)),
        clients={
            "practitioner": client_as(practitioner_a),
            "front desk": client_as(front_desk_a),
            "safety lead": client_as(safety_lead_a),
        },
    )


@dataclass(frozen=True)
class CreateForm:
    """A staff create form: who fills it, where, with what, what it makes, where that lives."""

    name: str
    who: str
    url: Callable[[World], str]
    data: Callable[[World], dict]
    made: Callable[[World], Any]  # the queryset of what the form makes
    home: Callable[[World, Any], str]  # the page of what it made


FORMS = [
    CreateForm(
        "log a session",
        "practitioner",
        lambda w: reverse("clinical:session_new", kwargs={"uuid": w.patient.uuid}),
        lambda w: session_form(w.lot),
        lambda w: TreatmentSession.objects.filter(patient=w.patient),
        lambda w, s: reverse("clinical:session", kwargs={"uuid": s.uuid}),
    ),
    CreateForm(
        "register a patient",
        "front desk",
        lambda w: reverse("patients:register"),
        lambda w: {
            "clinic": w.clinic.pk,
            "first_name": "Min-ji",
            "last_name": "Kim",
            "date_of_birth": "1990-04-12",
            "phone": "+82 10 1234 5678",
            "preferred_channel": "sms",
            "consent_to_contact": "on",
            "language": "ko",
        },
        # By both names: a factory's random patient may be a Kim too.
        lambda w: Patient.objects.filter(clinic=w.clinic, first_name="Min-ji", last_name="Kim"),
        lambda w, p: reverse("patients:detail", kwargs={"uuid": p.uuid}),
    ),
    CreateForm(
        "book a series",
        "front desk",
        lambda w: reverse("treatments:book", kwargs={"patient": w.patient.uuid}),
        lambda w: {
            "template": w.template.pk,
            "practitioner": w.practitioner.pk,
            "first_date": "2026-02-02",
            "first_time": "10:00",
            "proposed_for": f"{w.template.pk}|{w.practitioner.pk}|2026-02-02|10:00",
            "start_1": "2026-02-02T10:00",
            "start_2": "2026-03-02T10:00",
            "start_3": "2026-03-30T10:00",
            "action": "book",
        },
        lambda w: TreatmentSeries.objects.filter(patient=w.patient),
        lambda w, s: reverse("treatments:patient_appointments", kwargs={"patient": w.patient.uuid}),
    ),
    CreateForm(
        "receive a lot",
        "safety lead",
        lambda w: reverse("treatments:lot_receive", kwargs={"uuid": w.product.uuid}),
        lambda w: {
            "lot_number": "EG-001",
            "expiry_date": "2026-12-31",
            "received_on": "2026-01-02",
            "quantity": "25",
            "supplier": "ExoLab Korea",
        },
        lambda w: ProductLot.objects.filter(product=w.product),
        lambda w, lot: reverse("treatments:lot", kwargs={"uuid": lot.uuid}),
    ),
    CreateForm(
        "add an addendum",
        "practitioner",
        lambda w: reverse("clinical:session", kwargs={"uuid": w.session.uuid}),
        lambda w: {"text": "Patient phoned: mild redness, as expected."},
        lambda w: SessionAddendum.objects.filter(session=w.session),
        lambda w, a: reverse("clinical:session", kwargs={"uuid": w.session.uuid}),
    ),
]


def post_url(form: CreateForm, w: World) -> str:
    if form.name == "add an addendum":
        return reverse("clinical:session_addendum", kwargs={"uuid": w.session.uuid})
    return form.url(w)


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_a_second_post_of_the_same_form_makes_nothing_and_lands_on_the_first_record(
    world: World, form: CreateForm
) -> None:
    """GIVEN a create form as its page shows it (with its one-time token)
    WHEN it is posted twice (a double click with JavaScript slow, a resubmit)
    THEN one record exists and the second POST lands on its page saying so."""
    client = world.clients[form.who]
    token = token_of(client.get(form.url(world)))
    data = form.data(world) | {"form_token": token}

    first = client.post(post_url(form, world), data)
    assert first.status_code == 302, first.content.decode()[:2000]
    second = client.post(post_url(form, world), data, follow=True)

    made = list(form.made(world))
    assert len(made) == 1
    assert second.redirect_chain == [(form.home(world, made[0]), 302)]
    assert NOTE in second.content.decode()


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_each_showing_of_a_form_carries_a_fresh_token(world: World, form: CreateForm) -> None:
    client = world.clients[form.who]
    first, again = (token_of(client.get(form.url(world))) for _ in range(2))
    assert uuid.UUID(first) != uuid.UUID(again)


def test_two_showings_of_the_log_form_make_two_sessions(world: World) -> None:
    """Two separate forms are two sessions: only the same form is refused twice."""
    client = world.clients["practitioner"]
    url = reverse("clinical:session_new", kwargs={"uuid": world.patient.uuid})
    for _ in range(2):
        token = token_of(client.get(url))
        assert client.post(url, session_form(world.lot) | {"form_token": token}).status_code == 302
    assert TreatmentSession.objects.filter(patient=world.patient).count() == 2


def test_a_repeated_session_takes_stock_once_and_follows_the_patient_up_once(world: World) -> None:
    """GIVEN the log-session form WHEN it is posted twice with its token
    THEN one vial is taken, one aftercare message is queued and one set of check-ins planned."""
    client = world.clients["practitioner"]
    url = reverse("clinical:session_new", kwargs={"uuid": world.patient.uuid})
    data = session_form(world.lot) | {"form_token": token_of(client.get(url))}
    first = client.post(url, data)
    second = client.post(url, data)
    session = TreatmentSession.objects.get(patient=world.patient)
    assert first["Location"] == reverse("clinical:aftercare", kwargs={"uuid": session.uuid})
    assert second["Location"] == reverse("clinical:session", kwargs={"uuid": session.uuid})
    world.lot.refresh_from_db()
    assert world.lot.quantity_on_hand == 9
    aftercare = OutboxMessage.objects.filter(patient=world.patient, kind=MessageKind.AFTERCARE)
    assert aftercare.count() == 1
    checkins = CheckIn.objects.filter(session__patient=world.patient)
    assert checkins.count() == len(CheckInPlanStep.DEFAULT_PLAN)


def test_a_refused_form_keeps_its_token_and_the_corrected_one_counts_once(
    world: World, clinic_a
) -> None:
    """GIVEN a pregnant patient (a screening hard stop)
    WHEN the form is refused, then corrected with a written reason and posted twice
    THEN the refused page kept the token, and the corrected form made one session."""
    patient = PatientFactory(clinic=clinic_a, pregnant_or_breastfeeding=True)
    client = world.clients["practitioner"]
    url = reverse("clinical:session_new", kwargs={"uuid": patient.uuid})
    token = token_of(client.get(url))
    refused = client.post(url, session_form(world.lot) | {"form_token": token})
    assert refused.status_code == 200
    assert "Write a reason to override it" in refused.content.decode()
    assert token_of(refused) == token  # the page keeps the form's token
    assert not FormToken.objects.filter(token=token).exists()  # ... and it is still unused

    corrected = session_form(world.lot) | {
        "form_token": token,
        "screening_override_reason": "Stopped breastfeeding six weeks ago.",
    }
    assert client.post(url, corrected).status_code == 302
    assert client.post(url, corrected).status_code == 302
    assert TreatmentSession.objects.filter(patient=patient).count() == 1


def test_a_damaged_token_is_refused_above_the_form_and_nothing_is_made(world: World) -> None:
    client = world.clients["practitioner"]
    url = reverse("clinical:session_new", kwargs={"uuid": world.patient.uuid})
    response = client.post(url, session_form(world.lot) | {"form_token": "not-a-token"})
    assert response.status_code == 200
    assert "one-time token (form_token) is damaged" in response.content.decode()
    assert not TreatmentSession.objects.filter(patient=world.patient).exists()


def test_a_token_used_for_something_else_is_refused_naming_the_field(
    world: World, clinic_b
) -> None:
    """A token that made a record of another kind, or at another clinic, never hands that
    record out: the form says so, and nothing is made (not a 500)."""
    client = world.clients["practitioner"]
    url = reverse("clinical:session_new", kwargs={"uuid": world.patient.uuid})
    for used in (
        FormTokenFactory(clinic=world.clinic, record_type="patients.patient"),
        FormTokenFactory(clinic=clinic_b, record_type="treatments.treatmentsession"),
    ):
        response = client.post(url, session_form(world.lot) | {"form_token": str(used.token)})
        assert response.status_code == 200
        assert "This form was already used. Reload the page" in response.content.decode()
    assert not TreatmentSession.objects.filter(patient=world.patient).exists()
    world.lot.refresh_from_db()
    assert world.lot.quantity_on_hand == 10


def test_the_log_form_of_an_appointment_posted_twice_lands_on_its_session(world: World) -> None:
    now = timezone.now()  # a session goes only on its appointment's own day
    appointment = AppointmentFactory(
        patient=world.patient,
        practitioner=world.practitioner,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
    )
    client = world.clients["practitioner"]
    url = reverse("clinical:session_new_from_appointment", kwargs={"uuid": appointment.uuid})
    data = session_form(world.lot) | {"form_token": token_of(client.get(url))}
    assert client.post(url, data).status_code == 302
    second = client.post(url, data, follow=True)
    session = TreatmentSession.objects.get(appointment=appointment)
    assert second.redirect_chain == [
        (reverse("clinical:session", kwargs={"uuid": session.uuid}), 302)
    ]
    assert NOTE in second.content.decode()


def test_the_note_is_in_korean_for_a_korean_browser(world: World) -> None:
    client = world.clients["practitioner"]
    url = reverse("clinical:session_new", kwargs={"uuid": world.patient.uuid})
    data = session_form(world.lot) | {"form_token": token_of(client.get(url))}
    client.post(url, data, HTTP_ACCEPT_LANGUAGE="ko")
    again = client.post(url, data, HTTP_ACCEPT_LANGUAGE="ko", follow=True)
    assert "이미 제출된 양식입니다. 이 양식으로 기록된 시술 내역입니다." in again.content.decode()


# --- the services (SQLite and PostgreSQL) ------------------------------------------------------


def test_session_log_twice_with_one_token_returns_the_first_session(world: World) -> None:
    """GIVEN a session logged with a token WHEN the service is called again with it (its
    insert of the token fails on the unique constraint) THEN it returns the first session,
    marked already submitted, and takes no stock and queues nothing."""
    token = uuid.uuid4()
    log = {"patient": world.patient, "lot": world.lot, "form_token": token}
    first = logged_session(world.practitioner, **log)
    assert first.already_submitted is False
    again = logged_session(world.practitioner, **log)
    assert again.pk == first.pk and again.already_submitted is True
    world.lot.refresh_from_db()
    assert world.lot.quantity_on_hand == 9
    aftercare = OutboxMessage.objects.filter(patient=world.patient, kind=MessageKind.AFTERCARE)
    assert aftercare.count() == 1
    assert FormToken.objects.get(token=token).record_id == first.pk


def test_a_repeat_lands_on_its_session_even_when_the_lot_is_now_empty(
    world: World, clinic_a
) -> None:
    """The token is claimed before the stock check: the last vial's second POST is not told
    'no stock left' but gets the session that took it."""
    last = released_lot(clinic_a, quantity=1, lot_number="LAST-1")
    token = uuid.uuid4()
    first = logged_session(world.practitioner, patient=world.patient, lot=last, form_token=token)
    again = logged_session(world.practitioner, patient=world.patient, lot=last, form_token=token)
    assert again.pk == first.pk
    with pytest.raises(Conflict, match="only 0 vial"):
        logged_session(world.practitioner, patient=world.patient, lot=last)


def test_a_refused_session_leaves_its_token_unused(world: World, clinic_a) -> None:
    patient = PatientFactory(clinic=clinic_a, pregnant_or_breastfeeding=True)
    token = uuid.uuid4()
    with pytest.raises(RuleViolation):
        logged_session(world.practitioner, patient=patient, lot=world.lot, form_token=token)
    assert not FormToken.objects.filter(token=token).exists()
    session = logged_session(
        world.practitioner,
        patient=patient,
        lot=world.lot,
        form_token=token,
        screening_override_reason="Cleared by her obstetrician.",
    )
    assert session.already_submitted is False


def test_a_token_used_by_another_clinic_is_a_conflict_on_the_field(world: World, clinic_b):
    used = FormTokenFactory(clinic=clinic_b, record_type="treatments.treatmentsession")
    with pytest.raises(Conflict) as caught:
        logged_session(world.practitioner, patient=world.patient, form_token=used.token)
    assert caught.value.field == "form_token"


# --- the API: Idempotency-Key reaches the same services ----------------------------------------


def _api_cases(w: World) -> list[tuple[str, str, dict, Callable[[], Any]]]:
    return [
        (
            "practitioner",
            "/api/v1/sessions/",
            {
                "patient": str(w.patient.uuid),
                "lot": str(w.lot.uuid),
                "delivery_method": "microneedling",
                "needle_depth_mm": "0.50",
                "treated_areas": ["cheeks"],
                "warnings_acknowledged": True,
            },
            lambda: TreatmentSession.objects.filter(patient=w.patient),
        ),
        (
            "front desk",
            "/api/v1/patients/",
            {
                "first_name": "Min-ji",
                "last_name": "Kim",
                "date_of_birth": "1990-04-12",
                "phone": "+82 10 1234 5678",
                "preferred_channel": "sms",
                "consent_to_contact": True,
                "language": "ko",
            },
            lambda: Patient.objects.filter(first_name="Min-ji", last_name="Kim"),
        ),
        (
            "safety lead",
            "/api/v1/lots/",
            {
                "product": str(w.product.uuid),
                "lot_number": "EX-2026-001",
                "expiry_date": "2026-12-31",
                "received_on": "2026-01-02",
                "quantity": 30,
            },
            lambda: ProductLot.objects.filter(product=w.product),
        ),
        (
            "front desk",
            "/api/v1/series/",
            {
                "patient": str(w.patient.uuid),
                "practitioner": str(w.practitioner.uuid),
                "template": str(w.template.uuid),
                "starts": [
                    "2026-02-02T10:00:00+09:00",
                    "2026-03-02T10:00:00+09:00",
                    "2026-03-30T10:00:00+09:00",
                ],
            },
            lambda: TreatmentSeries.objects.filter(patient=w.patient),
        ),
    ]


@pytest.mark.parametrize("case", range(4), ids=["sessions", "patients", "lots", "series"])
def test_an_idempotency_key_makes_one_record_even_before_its_answer_is_stored(
    world: World, case: int
) -> None:
    """GIVEN a create sent with an Idempotency-Key
    WHEN the same request arrives again before the first answer was stored (as when two
    arrive together; here the stored answer is removed) THEN the service itself returns the
    first record: one record, the same id, marked replayed."""
    who, url, body, made = _api_cases(world)[case]
    client = world.clients[who]
    first = client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201, first.json()
    IdempotencyRecord.objects.all().delete()
    again = client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201, again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert made().count() == 1


# Two at the same instant, from two connections, on SQLite and PostgreSQL, for every form
# and the API: tests/core/test_formtoken_races.py.
