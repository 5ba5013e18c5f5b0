"""The safety hold and the appointment agree, and a session goes only on its appointment's day;
entered in error on the session page (what it stopped, the stock it could return). Page and
API."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from clinic.core.exceptions import RuleViolation
from clinic.workflows import session_log
from patients import outbox
from tests.factories import AppointmentFactory, PatientFactory, TreatmentSessionFactory
from tests.kit.world import default_plan, logged_session, released_lot
from treatments import checkins
from treatments.models import (
    Appointment,
    AppointmentStatus,
    DeliveryMethod,
    SessionStatus,
    TreatmentSession,
)
from treatments.services import lot_correct

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _memory_backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "patients.sms.MemorySMSBackend"


def field_errors(response, name: str) -> str:
    html = response.content.decode()
    match = re.search(rf'<ul class="field-errors" id="id_{name}_errors">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""


def top_errors(response) -> str:
    html = response.content.decode()
    match = re.search(r'<div class="alert alert-error" role="alert">(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""


@pytest.fixture
def patient(clinic_a):
    # A patient with a hard stop, so the session needs a screening override.
    return PatientFactory(clinic=clinic_a, pregnant_or_breastfeeding=True)


@pytest.fixture
def lot(clinic_a):
    default_plan(clinic_a)
    return released_lot(clinic_a, quantity=10, lot_number="EXO-HOLD-1")


def held_today(patient, practitioner, **extra):
    """An arrived appointment starting now, on safety hold."""
    now = timezone.now()
    return AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        status=AppointmentStatus.ARRIVED,
        safety_hold=True,
        **extra,
    )


def page_post(lot, **extra) -> dict:
    return {
        "delivery_method": DeliveryMethod.MICRONEEDLING,
        "needle_depth_mm": "0.75",
        "treated_areas": ["cheeks"],
        "lot": lot.lot_number,
        "units_used": "1",
        "screening_override_reason": "Discussed with the patient; not pregnant now.",
        "aftercare_given": "on",
    } | extra


def api_body(patient, lot, appointment, **extra) -> dict:
    return {
        "patient": str(patient.uuid),
        "lot": str(lot.uuid),
        "appointment": str(appointment.uuid) if appointment else None,
        "delivery_method": "microneedling",
        "needle_depth_mm": "0.50",
        "treated_areas": ["cheeks"],
        "screening_override_reason": "Discussed with the patient.",
        "warnings_acknowledged": True,
    } | extra


def _post(client, url, data):
    return client.post(url, data, content_type="application/json")


def log_url(appointment) -> str:
    return reverse("clinical:session_new_from_appointment", kwargs={"uuid": appointment.uuid})


# --- the hold blocks completion ------------------------------------------------------------


def test_a_screening_override_does_not_complete_a_held_appointment(practitioner_a, patient, lot):
    appointment = held_today(patient, practitioner_a)
    with pytest.raises(RuleViolation) as refused:
        session_log(
            practitioner=practitioner_a,
            patient=patient,
            lot=lot,
            appointment=appointment,
            delivery_method=DeliveryMethod.MICRONEEDLING,
            needle_depth_mm="0.5",
            treated_areas=["cheeks"],
            screening_override_reason="Reviewed.",
        )
    assert (refused.value.field, refused.value.code) == ("appointment", "safety_hold_open")
    appointment.refresh_from_db()
    lot.refresh_from_db()
    assert appointment.status == AppointmentStatus.ARRIVED and appointment.hold_open
    assert lot.quantity_on_hand == 10 and not TreatmentSession.objects.exists()


def test_the_log_page_shows_the_hold_refuses_the_session_and_clears_the_hold_with_a_record(
    practitioner_client, practitioner_a, patient, lot
):
    """GIVEN an appointment on safety hold WHEN the practitioner logs its session with a
    screening override THEN it is refused and the appointment stays open; clearing the hold
    needs a reason and a confirmation, is recorded (who, when, why, history), and then the
    session is logged and the appointment completed."""
    appointment = held_today(patient, practitioner_a)
    url = log_url(appointment)
    page = practitioner_client.get(url).content.decode()
    assert "Needs practitioner clearance" in page and 'name="clear_hold"' in page

    refused = practitioner_client.post(url, page_post(lot))
    assert refused.status_code == 200
    assert "safety hold" in top_errors(refused)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ARRIVED and appointment.hold_open

    unconfirmed = practitioner_client.post(
        url, {"clear_hold": "1", "hold-reason": "Swelling resolved on review."}
    )
    assert "Tick the box" in field_errors(unconfirmed, "hold-confirm")
    appointment.refresh_from_db()
    assert appointment.hold_open

    cleared = practitioner_client.post(
        url,
        {"clear_hold": "1", "hold-reason": "Swelling resolved on review.", "hold-confirm": "on"},
    )
    assert cleared.status_code == 302
    appointment.refresh_from_db()
    assert not appointment.hold_open
    assert appointment.hold_cleared_by == practitioner_a
    assert appointment.hold_clearance_reason == "Swelling resolved on review."
    latest = appointment.history.first()
    assert latest.history_user == practitioner_a
    assert latest.history_change_reason == "Safety hold cleared: Swelling resolved on review."
    assert "Safety hold cleared by" in practitioner_client.get(url).content.decode()

    assert practitioner_client.post(url, page_post(lot)).status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.COMPLETED
    assert appointment.session.screening_override_reason


def test_the_api_refuses_a_session_on_a_held_appointment_until_the_hold_is_cleared(
    practitioner_client, practitioner_a, patient, lot
):
    appointment = held_today(patient, practitioner_a)
    refused = _post(practitioner_client, "/api/v1/sessions/", api_body(patient, lot, appointment))
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "safety_hold_open" and "appointment" in error["fields"]
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ARRIVED and appointment.hold_open

    clear = f"/api/v1/appointments/{appointment.uuid}/clear-hold/"
    assert _post(practitioner_client, clear, {"reason": "Reviewed."}).status_code == 200
    again = _post(practitioner_client, clear, {"reason": "Twice."})
    assert again.status_code == 400 and "reason" in again.json()["error"]["fields"]
    logged = _post(practitioner_client, "/api/v1/sessions/", api_body(patient, lot, appointment))
    assert logged.status_code == 201, logged.json()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.COMPLETED


def test_arrival_keeps_a_hold_open_and_does_not_complete_the_appointment(
    front_desk_client, practitioner_a, patient
):
    appointment = held_today(patient, practitioner_a)
    Appointment.objects.filter(pk=appointment.pk).update(status=AppointmentStatus.BOOKED)
    response = _post(front_desk_client, f"/api/v1/appointments/{appointment.uuid}/arrive/", {})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "arrived" and body["safety_hold"] and body["hold_cleared_at"] is None


def test_the_session_page_offers_to_clear_a_hold_left_open_by_an_older_session(
    practitioner_client, practitioner_a, patient, lot
):
    """GIVEN a session logged before holds blocked completion (its appointment completed,
    the hold still open) THEN its page shows the hold, and clearing it is recorded."""
    appointment = held_today(patient, practitioner_a, clinic=patient.clinic)
    Appointment.objects.filter(pk=appointment.pk).update(status=AppointmentStatus.COMPLETED)
    session = TreatmentSessionFactory(
        patient=patient, practitioner=practitioner_a, lot=lot, appointment=appointment
    )
    url = reverse("clinical:session", kwargs={"uuid": session.uuid})
    assert "Needs practitioner clearance" in practitioner_client.get(url).content.decode()
    clear = reverse("clinical:session_clear_hold", kwargs={"uuid": session.uuid})
    missing = practitioner_client.post(clear, {"hold-confirm": "on"})
    assert missing.status_code == 200 and field_errors(missing, "hold-reason")
    done = practitioner_client.post(
        clear, {"hold-reason": "Reviewed after the fact.", "hold-confirm": "on"}
    )
    assert done.status_code == 302
    appointment.refresh_from_db()
    assert appointment.hold_cleared_by == practitioner_a and not appointment.hold_open


# --- the hold cannot be bypassed by logging the session without its appointment -------------

SEOUL = ZoneInfo("Asia/Seoul")
# 10:00 in Seoul: the held appointment starts at 11:30 the same clinic day.
MORNING = datetime(2026, 3, 2, 10, 0, tzinfo=SEOUL)


def held_at(patient, practitioner, starts_at, status=AppointmentStatus.ARRIVED):
    return AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
        status=status,
        safety_hold=True,
    )


def walk_in(practitioner, patient, lot, **extra):
    return session_log(
        practitioner=practitioner,
        patient=patient,
        lot=lot,
        appointment=None,
        delivery_method=DeliveryMethod.MICRONEEDLING,
        needle_depth_mm="0.5",
        treated_areas=["cheeks"],
        screening_override_reason="Reviewed.",
        **extra,
    )


def test_a_walk_in_session_is_refused_while_todays_appointment_is_on_hold(
    practitioner_a, patient, lot
):
    """GIVEN the patient's arrived appointment today is on safety hold WHEN the practitioner
    logs a session without the appointment, with a screening override THEN it is refused on
    the appointment field, naming the appointment's time (clinic clock); nothing is taken."""
    with time_machine.travel(MORNING, tick=False):
        appointment = held_at(patient, practitioner_a, MORNING + timedelta(minutes=90))
        with pytest.raises(RuleViolation) as refused:
            walk_in(practitioner_a, patient, lot)
    assert (refused.value.field, refused.value.code) == ("appointment", "safety_hold_open")
    assert "today at 11:30" in refused.value.message
    appointment.refresh_from_db()
    lot.refresh_from_db()
    assert appointment.status == AppointmentStatus.ARRIVED and appointment.hold_open
    assert lot.quantity_on_hand == 10 and not TreatmentSession.objects.exists()


def test_a_walk_in_goes_ahead_once_the_hold_is_cleared_or_when_the_hold_is_another_day(
    practitioner_a, patient, lot
):
    from treatments.booking import appointment_clear_hold

    with time_machine.travel(MORNING, tick=False):
        tomorrow = held_at(patient, practitioner_a, MORNING + timedelta(days=1))
        first = walk_in(practitioner_a, patient, lot)
        today = held_at(patient, practitioner_a, MORNING + timedelta(hours=3))
        with pytest.raises(RuleViolation):
            walk_in(practitioner_a, patient, lot)
        appointment_clear_hold(appointment=today, user=practitioner_a, reason="Reviewed.")
        second = walk_in(practitioner_a, patient, lot)
    assert first.pk and second.pk and first.pk != second.pk
    tomorrow.refresh_from_db()
    assert tomorrow.hold_open and tomorrow.status == AppointmentStatus.ARRIVED


def test_a_cancelled_held_appointment_today_does_not_block_a_walk_in(practitioner_a, patient, lot):
    with time_machine.travel(MORNING, tick=False):
        held_at(patient, practitioner_a, MORNING, status=AppointmentStatus.CANCELLED)
        assert walk_in(practitioner_a, patient, lot).pk


def test_the_walk_in_page_links_to_the_held_appointment_and_refuses_the_session(
    practitioner_client, practitioner_a, patient, lot
):
    with time_machine.travel(MORNING, tick=False):
        appointment = held_at(patient, practitioner_a, MORNING + timedelta(minutes=90))
        url = reverse("clinical:session_new", kwargs={"uuid": patient.uuid})
        page = practitioner_client.get(url).content.decode()
        assert "Needs practitioner clearance" in page
        assert f'href="{log_url(appointment)}"' in page
        refused = practitioner_client.post(url, page_post(lot))
        # The linked page is where the hold is cleared.
        linked = practitioner_client.get(log_url(appointment)).content.decode()
    assert refused.status_code == 200
    assert "today at 11:30 is on safety hold" in top_errors(refused)
    assert not TreatmentSession.objects.exists()
    assert 'name="clear_hold"' in linked


def test_the_api_refuses_a_walk_in_session_while_todays_appointment_is_on_hold(
    practitioner_client, practitioner_a, patient, lot
):
    with time_machine.travel(MORNING, tick=False):
        held_at(patient, practitioner_a, MORNING + timedelta(minutes=90))
        body = {k: v for k, v in api_body(patient, lot, None).items() if k != "appointment"}
        refused = _post(practitioner_client, "/api/v1/sessions/", body)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "safety_hold_open"
    assert "today at 11:30" in error["fields"]["appointment"][0]
    assert not TreatmentSession.objects.exists()


def test_the_other_day_refusal_of_a_held_appointment_does_not_suggest_a_walk_in(
    practitioner_a, patient, lot
):
    with time_machine.travel(MORNING, tick=False):
        held = held_at(patient, practitioner_a, MORNING + timedelta(days=2))
        with pytest.raises(RuleViolation) as refused:
            logged_session(
                practitioner_a,
                patient=patient,
                lot=lot,
                appointment=held,
                screening_override_reason="Reviewed.",
            )
    assert refused.value.code == "appointment_other_day"
    assert "without the appointment" not in refused.value.message
    assert "Clear its safety hold first" in refused.value.message


def test_a_form_token_of_another_patients_session_is_refused(practitioner_a, clinic_a, lot):
    """The same form token sent for a second patient is not 'already submitted' with the first
    patient's session: it is refused, and the second patient gets no session."""
    from clinic.core.exceptions import Conflict

    token = uuid.uuid4()
    first = logged_session(practitioner_a, lot=lot, form_token=token)
    other = PatientFactory(clinic=clinic_a)
    with pytest.raises(Conflict) as refused:
        logged_session(practitioner_a, patient=other, lot=lot, form_token=token)
    assert refused.value.code == "form_token_used"
    assert list(TreatmentSession.objects.all()) == [first]
    again = logged_session(practitioner_a, patient=first.patient, lot=lot, form_token=token)
    assert again == first and again.already_submitted


# --- a session only on its appointment's day -----------------------------------------------


def test_a_session_cannot_be_logged_against_a_future_days_appointment(
    practitioner_client, practitioner_a, clinic_a, lot
):
    patient = PatientFactory(clinic=clinic_a)
    tomorrow = timezone.now() + timedelta(days=2)
    appointment = AppointmentFactory(
        patient=patient,
        practitioner=practitioner_a,
        starts_at=tomorrow,
        ends_at=tomorrow + timedelta(hours=1),
    )
    page = practitioner_client.post(log_url(appointment), page_post(lot))
    assert page.status_code == 200
    assert "only on that day" in top_errors(page)

    api = _post(practitioner_client, "/api/v1/sessions/", api_body(patient, lot, appointment))
    assert api.status_code == 400
    assert "only on that day" in api.json()["error"]["fields"]["appointment"][0]
    assert not TreatmentSession.objects.exists()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


def test_the_day_is_the_clinics_own(practitioner_a, clinic_a, lot):
    """An appointment at 09:00 Seoul time is 'today' in Seoul for a session at 08:00 Seoul,
    although UTC calls the session's instant the day before."""
    seoul = ZoneInfo("Asia/Seoul")
    with time_machine.travel(datetime(2026, 3, 10, 8, 0, tzinfo=seoul), tick=False):
        patient = PatientFactory(clinic=clinic_a)
        starts = datetime(2026, 3, 10, 9, 0, tzinfo=seoul)
        appointment = AppointmentFactory(
            patient=patient,
            practitioner=practitioner_a,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
        )
        session = logged_session(
            practitioner_a, patient=patient, lot=released_lot(clinic_a), appointment=appointment
        )
    assert session.appointment == appointment


# --- entered in error on the session page and the API ---------------------------------------


def test_the_session_page_lists_what_entered_in_error_stopped_and_what_had_gone_out(
    practitioner_client, practitioner_a, clinic_a, lot
):
    """GIVEN the aftercare email sent and the day-1 check-in queued
    WHEN the session is marked entered in error (confirmed)
    THEN the page lists the check-in as stopped and the aftercare as already sent, with
    clinic-time stamps."""
    session = logged_session(practitioner_a, lot=lot)
    claim = outbox.outbox_claim_due()
    for message_id in claim.message_ids:
        outbox.outbox_deliver(message_id=message_id, claim_token=claim.token)
    checkins.checkins_dispatch_due(now=session.performed_at + timedelta(days=1, hours=12))
    url = reverse("clinical:session_entered_in_error", kwargs={"uuid": session.uuid})

    unconfirmed = practitioner_client.post(url, {"reason": "Wrong patient."})
    assert "Tick the box" in field_errors(unconfirmed, "understood")
    session.refresh_from_db()
    assert session.status == SessionStatus.OPEN

    preview = practitioner_client.post(url, {"reason": "Wrong patient.", "understood": "on"})
    assert preview.status_code == 200
    html = preview.content.decode()
    assert "Mark this session entered in error?" in html
    assert "1 unsent message to the patient will be stopped." in html
    assert "personal link" in html and "will stop working." in html
    assert "Keep the session" in html
    session.refresh_from_db()
    assert session.status == SessionStatus.OPEN

    response = practitioner_client.post(
        url, {"reason": "Wrong patient.", "understood": "on", "confirm": "yes"}
    )
    assert response.status_code == 302
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("1 unsent message stopped" in m for m in said)
    html = practitioner_client.get(response["Location"]).content.decode()
    stopped = re.search(r'<table class="compact" id="messages-stopped">(.*?)</table>', html, re.S)
    sent = re.search(r'<table class="compact" id="messages-sent">(.*?)</table>', html, re.S)
    assert stopped and "Check-in" in stopped.group(1) and "Aftercare" not in stopped.group(1)
    assert sent and "Aftercare instructions" in sent.group(1)
    aftercare = session.patient.messages.get(kind="aftercare")
    local = clinic_a.local(aftercare.sent_at)
    assert f"{local:%Y-%m-%d %H:%M}" in sent.group(1)


def test_entered_in_error_after_a_downward_lot_correction_is_no_error_on_the_page(
    practitioner_client, practitioner_a, lot
):
    session = logged_session(practitioner_a, lot=lot, units_used=3)
    lot_correct(lot=lot, reason="Delivery note said 8", quantity_received=8)
    response = practitioner_client.post(
        reverse("clinical:session_entered_in_error", kwargs={"uuid": session.uuid}),
        {"reason": "Never happened.", "understood": "on", "confirm": "yes"},
    )
    assert response.status_code == 302
    said = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "1 of 3 vial(s) went back" in said and "2 could not be returned" in said
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 8
    session.refresh_from_db()
    assert session.status == SessionStatus.ENTERED_IN_ERROR


def test_entered_in_error_after_a_downward_lot_correction_through_the_api(
    practitioner_client, practitioner_a, lot
):
    session = logged_session(practitioner_a, lot=lot, units_used=3)
    lot_correct(lot=lot, reason="Delivery note said 8", quantity_received=8)
    url = f"/api/v1/sessions/{session.uuid}/entered-in-error/"
    response = _post(practitioner_client, url, {"reason": "Never happened."})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["units_returned"], body["units_not_returned"]) == (1, 2)
    assert body["messages_stopped"] == 1 and body["session"]["status"] == "entered_in_error"
    twice = _post(practitioner_client, url, {"reason": "Again."})
    assert twice.status_code == 400 and "reason" in twice.json()["error"]["fields"]
    empty = _post(practitioner_client, url, {})
    assert empty.status_code == 400 and "reason" in empty.json()["error"]["fields"]


# --- lot corrections that would break the stock ---------------------------------------------


def test_lowering_the_received_quantity_below_the_stock_is_refused_on_that_field(
    safety_lead_client, lot
):
    url = reverse("treatments:lot_correct", kwargs={"uuid": lot.uuid})
    data = {
        "lot_number": lot.lot_number,
        "expiry_date": lot.expiry_date.isoformat(),
        "received_on": lot.received_on.isoformat(),
        "quantity_received": "6",
        "quantity_on_hand": "10",
        "initial-quantity_on_hand": "10",
        "supplier": lot.supplier,
        "certificate_ref": lot.certificate_ref,
        "reason": "Delivery note",
    }
    page = safety_lead_client.post(url, data)
    assert page.status_code == 200
    assert "cannot be less" in field_errors(page, "quantity_received")
    api = _post(
        safety_lead_client,
        f"/api/v1/lots/{lot.uuid}/correct/",
        {"reason": "Delivery note", "quantity_received": 6},
    )
    assert api.status_code == 400 and "quantity_received" in api.json()["error"]["fields"]
    below = _post(
        safety_lead_client,
        f"/api/v1/lots/{lot.uuid}/correct/",
        {"reason": "Count", "quantity_on_hand": -1},
    )
    assert below.status_code == 400 and "quantity_on_hand" in below.json()["error"]["fields"]
    lot.refresh_from_db()
    assert (lot.quantity_received, lot.quantity_on_hand) == (10, 10)


def test_stock_returned_while_the_correction_form_was_open_is_checked_beside_the_field(
    safety_lead_client, lot
):
    """GIVEN the correction form shown with 9 on hand WHEN a unit has come back since (10 on
    hand) and the received quantity is lowered to 9 THEN it is refused beside the received
    quantity (checked on the locked row), never a 500."""
    url = reverse("treatments:lot_correct", kwargs={"uuid": lot.uuid})
    data = {
        "lot_number": lot.lot_number,
        "expiry_date": lot.expiry_date.isoformat(),
        "received_on": lot.received_on.isoformat(),
        "quantity_received": "9",
        "quantity_on_hand": "9",
        "initial-quantity_on_hand": "9",  # the page showed 9; a return since put one back
        "supplier": lot.supplier,
        "certificate_ref": lot.certificate_ref,
        "reason": "Delivery note",
    }
    page = safety_lead_client.post(url, data)
    assert page.status_code == 200
    assert "more than 9" in field_errors(page, "quantity_received")
