"""Archiving a patient: future appointments cancelled with notice (in the patient's language),
check-ins, reminders and calls stopped, booking and sessions refused; unarchiving restores the
record but not what was cancelled."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from clinic.core.exceptions import NotAllowed, RuleViolation
from patients import outbox
from patients.models import (
    CallReason,
    CallState,
    Language,
    MessageKind,
    MessageState,
    OutboxMessage,
    Patient,
)
from patients.sms import MemorySMSBackend
from tests.factories import CallTaskFactory, PatientFactory, SeriesTemplateFactory
from tests.kit.world import default_plan, logged_session
from treatments import archive, booking
from treatments.archive import ARCHIVED_NOTE, patient_archive, patient_unarchive
from treatments.models import (
    Appointment,
    AppointmentStatus,
    CheckIn,
    CheckInState,
    SeriesStatus,
    TreatmentSeries,
)

pytestmark = pytest.mark.django_db

SEOUL = ZoneInfo("Asia/Seoul")
# Monday 2 March 2026, 10:00 in Seoul (outside quiet hours); the series starts a week later.
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=SEOUL)
FIRST = date(2026, 3, 9)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _memory_backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "patients.sms.MemorySMSBackend"
    MemorySMSBackend.outbox = []


def _book_three(patient, practitioner) -> list[Appointment]:
    template = SeriesTemplateFactory(clinic=patient.clinic, sessions_planned=3, interval_weeks=4)
    starts = [
        datetime.combine(FIRST + timedelta(weeks=4 * i), time(10), tzinfo=SEOUL) for i in range(3)
    ]
    series = booking.series_book(
        patient=patient, practitioner=practitioner, template=template, starts=starts
    )
    return list(series.appointments.order_by("sequence"))


@pytest.fixture
def booked(clinic_a, practitioner_a):
    """A Korean-speaking patient with a session a day ago (check-ins pending), three future
    appointments (reminders and a maintenance reminder queued) and an open call."""
    default_plan(clinic_a)
    patient = PatientFactory(clinic=clinic_a, language=Language.KO, first_name="민지")
    logged_session(practitioner_a, patient=patient)
    appointments = _book_three(patient, practitioner_a)
    call = CallTaskFactory(clinic=clinic_a, patient=patient, reason=CallReason.UNANSWERED_CHECKIN)
    return patient, appointments, call


def test_archiving_cancels_future_appointments_and_tells_the_patient_in_their_language(
    booked, front_desk_a
):
    patient, appointments, _ = booked
    effects = patient_archive(patient=patient, by=front_desk_a, reason="Moved to Busan")

    assert len(effects.appointments) == 3
    statuses = set(Appointment.objects.filter(patient=patient).values_list("status", flat=True))
    assert statuses == {AppointmentStatus.CANCELLED}
    notice = OutboxMessage.objects.get(patient=patient, kind=MessageKind.APPOINTMENTS_CANCELLED)
    assert notice == effects.notice and notice.state == MessageState.PENDING
    rendered = outbox.renderer_for(notice.kind).render(notice)
    # Korean, with each appointment's time on the clinic's wall clock and the clinic's number.
    assert "민지님" in rendered.body and "예약 3건이 취소되었습니다" in rendered.body
    assert "2026년 3월 9일 (월) 오전 10:00" in rendered.body
    assert "2026년 5월 4일 (월) 오전 10:00" in rendered.body
    assert patient.clinic.phone in rendered.body
    assert "예약 취소" in rendered.subject


def test_archiving_stops_check_ins_reminders_and_calls(booked, practitioner_a):
    patient, _, call = booked
    pending_kinds = set(
        OutboxMessage.objects.filter(patient=patient, state=MessageState.PENDING).values_list(
            "kind", flat=True
        )
    )
    assert {MessageKind.APPOINTMENT_REMINDER, MessageKind.MAINTENANCE} <= pending_kinds
    assert CheckIn.objects.filter(session__patient=patient, state=CheckInState.SCHEDULED).exists()

    effects = patient_archive(patient=patient, by=practitioner_a, reason="Asked to stop")

    assert effects.checkins > 0 and effects.calls == 1 and effects.series == 1
    assert not TreatmentSeries.objects.filter(patient=patient, status=SeriesStatus.ACTIVE).exists()
    open_checkins = CheckIn.objects.filter(session__patient=patient).exclude(
        state=CheckInState.CANCELLED
    )
    assert not open_checkins.exists()
    still_pending = OutboxMessage.objects.filter(patient=patient, state=MessageState.PENDING)
    # Only the cancellation notice is left to send.
    assert list(still_pending.values_list("kind", flat=True)) == [
        MessageKind.APPOINTMENTS_CANCELLED
    ]
    call.refresh_from_db()
    assert (call.state, call.outcome) == (CallState.CANCELLED, ARCHIVED_NOTE)


def test_a_recall_call_stays_open(booked, front_desk_a):
    patient, _, _ = booked
    recall_call = CallTaskFactory(clinic=patient.clinic, patient=patient, reason=CallReason.RECALL)
    patient_archive(patient=patient, by=front_desk_a, reason="Moved away")
    recall_call.refresh_from_db()
    assert recall_call.state == CallState.OPEN


def test_a_reminder_queued_in_the_instant_before_is_withdrawn_at_delivery(booked, front_desk_a):
    patient, _, _ = booked
    patient_archive(patient=patient, by=front_desk_a, reason="Moved away")
    late = OutboxMessage.objects.create(
        clinic=patient.clinic,
        patient=patient,
        kind=MessageKind.CHECKIN,
        channel="email",
        to_address=patient.email,
        idempotency_key="checkin:late",
        due_at=NOW,
    )
    with pytest.raises(outbox.DeliveryWithdrawn):
        archive.withdraw_if_patient_archived(late)


def test_the_archive_is_kept_with_who_when_and_why_in_history(booked, front_desk_a):
    patient, _, _ = booked
    patient_archive(patient=patient, by=front_desk_a, reason="  Moved to Busan ")
    patient.refresh_from_db()
    assert patient.archived_at is not None and patient.archived_by == front_desk_a
    assert patient.archived_reason == "Moved to Busan"
    last = patient.history.first()
    assert last.history_user == front_desk_a and last.archived_reason == "Moved to Busan"


def test_a_reason_is_required_and_the_safety_lead_may_not_archive(
    booked, safety_lead_a, front_desk_a
):
    patient, _, _ = booked
    with pytest.raises(RuleViolation) as refused:
        patient_archive(patient=patient, by=front_desk_a, reason="   ")
    assert refused.value.field == "reason"
    with pytest.raises(NotAllowed):
        patient_archive(patient=patient, by=safety_lead_a, reason="Moved")
    assert Patient.objects.get(pk=patient.pk).archived_at is None
    assert not Appointment.objects.filter(patient=patient, status="cancelled").exists()


def test_booking_and_logging_a_session_are_refused_for_an_archived_patient(
    booked, front_desk_a, practitioner_a
):
    patient, _, _ = booked
    patient_archive(patient=patient, by=front_desk_a, reason="Moved away")
    patient.refresh_from_db()
    with pytest.raises(RuleViolation, match="This patient is archived"):
        _book_three(patient, practitioner_a)
    with pytest.raises(RuleViolation, match="This patient is archived"):
        logged_session(practitioner_a, patient=patient)


def test_unarchive_restores_the_record_not_the_appointments(booked, front_desk_a):
    patient, _, _ = booked
    patient_archive(patient=patient, by=front_desk_a, reason="Duplicate? checking")
    patient_unarchive(patient=patient, by=front_desk_a)
    patient.refresh_from_db()
    assert (patient.archived_at, patient.archived_by, patient.archived_reason) == (None, None, "")
    assert not Appointment.objects.filter(patient=patient, status=AppointmentStatus.BOOKED).exists()
    assert not OutboxMessage.objects.filter(
        patient=patient,
        state=MessageState.PENDING,
        kind__in=[MessageKind.APPOINTMENT_REMINDER, MessageKind.MAINTENANCE],
    ).exists()
    assert patient.history.first().history_change_reason == "Unarchived"


def test_the_archive_page_asks_first_naming_what_will_be_cancelled(booked, client_as, front_desk_a):
    patient, _, _ = booked
    client = client_as(front_desk_a)
    url = reverse("treatments:patient_archive", kwargs={"uuid": patient.uuid})
    body = client.get(url).content.decode()
    assert "3 future appointments will be cancelled and the patient told" in body
    assert not Patient.objects.get(pk=patient.pk).archived_at

    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 400
    assert "Say why the patient is archived." in refused.content.decode()

    done = client.post(url, {"reason": "Moved to Busan"}, follow=True)
    page = done.content.decode()
    assert "3 future appointments were cancelled and the patient told" in page
    assert "Moved to Busan" in page and "Archived" in page
    assert "Book a series" not in page


def test_the_chart_shows_the_banner_and_refuses_a_new_session(booked, client_as, practitioner_a):
    patient, _, _ = booked
    patient_archive(patient=patient, by=practitioner_a, reason="Asked to stop")
    client = client_as(practitioner_a)
    chart = client.get(reverse("clinical:chart", kwargs={"uuid": patient.uuid}))
    assert "Archived</strong> on 2 Mar 2026" in chart.content.decode()
    assert "Asked to stop" in chart.content.decode()
    response = client.get(
        reverse("clinical:session_new", kwargs={"uuid": patient.uuid}), follow=True
    )
    assert "This patient is archived" in response.content.decode()
    booking_page = client.get(
        reverse("treatments:book", kwargs={"patient": patient.uuid}), follow=True
    )
    assert "This patient is archived" in booking_page.content.decode()


def test_an_appointment_left_from_earlier_today_cannot_be_moved_after_the_archive(
    booked, front_desk_a, practitioner_a, clock
):
    patient, appointments, _ = booked
    clock.move_to(datetime(2026, 3, 9, 11, 0, tzinfo=SEOUL))  # the first one began at 10:00
    patient_archive(patient=patient, by=front_desk_a, reason="Moved away")
    first = Appointment.objects.get(pk=appointments[0].pk)
    assert first.status == AppointmentStatus.BOOKED  # not in the future: left as it was
    with pytest.raises(RuleViolation, match="This patient is archived"):
        booking.appointment_reschedule(
            appointment=first, starts_at=datetime(2026, 3, 10, 10, 0, tzinfo=SEOUL)
        )
