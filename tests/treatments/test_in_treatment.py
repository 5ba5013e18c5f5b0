""" "In treatment": the status an appointment takes while its session is being logged. It is
live (holds the practitioner's time on both databases), entered only from booked or arrived
on the appointment's own day, and a series' next step reads the appointments around it."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from patients.models import MessageKind, MessageState, OutboxMessage
from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    SeriesTemplateFactory,
    TreatmentSeriesFactory,
)
from treatments import booking
from treatments.models import (
    LIVE_APPOINTMENT_STATUSES,
    Appointment,
    AppointmentStatus,
    SeriesStatus,
)

pytestmark = pytest.mark.django_db

SEOUL = ZoneInfo("Asia/Seoul")
# Monday 2 February 2026, 09:00 in Seoul.
MONDAY = date(2026, 2, 2)
NOW = datetime(2026, 2, 2, 9, 0, tzinfo=SEOUL)


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=True):
        yield


def seoul(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SEOUL)


def _appointment(clinic, practitioner, starts_at: datetime, **extra) -> Appointment:
    return AppointmentFactory(
        patient=PatientFactory(clinic=clinic),
        practitioner=practitioner,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
        **extra,
    )


def test_in_treatment_is_a_live_status():
    assert AppointmentStatus.IN_TREATMENT in LIVE_APPOINTMENT_STATUSES
    assert AppointmentStatus.IN_TREATMENT.label == "In treatment"


@pytest.mark.parametrize("status", [AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED])
def test_opening_the_session_moves_todays_appointment_to_in_treatment_once(
    clinic_a, practitioner_a, status
):
    appointment = _appointment(clinic_a, practitioner_a, seoul(MONDAY, 11), status=status)
    assert booking.appointment_start_treatment(appointment=appointment) is True
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.IN_TREATMENT
    # Reopening the form changes nothing and is not an error.
    assert booking.appointment_start_treatment(appointment=appointment) is False
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.IN_TREATMENT
    assert appointment.history.filter(status=AppointmentStatus.IN_TREATMENT).exists()


def test_a_booked_appointments_reminder_is_withdrawn_when_treatment_starts(
    clinic_a, practitioner_a
):
    # A reminder still pending (say the sweep was late): the patient is here, never send it.
    later = _appointment(clinic_a, practitioner_a, seoul(MONDAY, 17))
    OutboxMessage.objects.create(
        clinic=clinic_a,
        patient=later.patient,
        kind=MessageKind.APPOINTMENT_REMINDER,
        channel=later.patient.preferred_channel,
        to_address=later.patient.email,
        idempotency_key=f"appt-reminder:{later.pk}",
        due_at=seoul(MONDAY, 16),
    )
    booking.appointment_start_treatment(appointment=later)
    reminder = OutboxMessage.objects.get(idempotency_key=f"appt-reminder:{later.pk}")
    assert reminder.state == MessageState.CANCELLED


@pytest.mark.parametrize(
    "status",
    [AppointmentStatus.COMPLETED, AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW],
)
def test_a_finished_appointment_does_not_go_back_into_treatment(clinic_a, practitioner_a, status):
    appointment = _appointment(clinic_a, practitioner_a, seoul(MONDAY, 11), status=status)
    assert booking.appointment_start_treatment(appointment=appointment) is False
    appointment.refresh_from_db()
    assert appointment.status == status


def test_another_days_appointment_stays_booked(clinic_a, practitioner_a):
    tomorrow = _appointment(clinic_a, practitioner_a, seoul(MONDAY + timedelta(days=1), 11))
    assert booking.appointment_start_treatment(appointment=tomorrow) is False
    tomorrow.refresh_from_db()
    assert tomorrow.status == AppointmentStatus.BOOKED


def test_a_held_appointment_waits_for_its_clearance(clinic_a, practitioner_a):
    held = _appointment(
        clinic_a,
        practitioner_a,
        seoul(MONDAY, 11),
        status=AppointmentStatus.ARRIVED,
        safety_hold=True,
    )
    assert booking.appointment_start_treatment(appointment=held) is False
    booking.appointment_clear_hold(appointment=held, user=practitioner_a, reason="Resolved.")
    assert booking.appointment_start_treatment(appointment=held) is True


def test_booking_over_an_appointment_in_treatment_is_refused(clinic_a, practitioner_a):
    """The booking service's own check (SQLite's guarantee; PostgreSQL's exclusion
    constraint is tested in tests/treatments/test_overlap.py)."""
    _appointment(
        clinic_a,
        practitioner_a,
        seoul(MONDAY, 14),
        status=AppointmentStatus.IN_TREATMENT,
    )
    template = SeriesTemplateFactory(clinic=clinic_a, sessions_planned=1)
    patient = PatientFactory(clinic=clinic_a)
    with pytest.raises(booking.SlotConflict) as caught:
        booking.series_book(
            patient=patient,
            practitioner=practitioner_a,
            template=template,
            starts=[seoul(MONDAY, 14, 30)],
        )
    assert "already has an appointment 14:00-15:00" in caught.value.message
    assert not Appointment.objects.filter(patient=patient).exists()


# --- the next step of a series -------------------------------------------------------------


def _series(clinic, practitioner, statuses: list[str], *, weeks: int = 4):
    template = SeriesTemplateFactory(
        clinic=clinic, sessions_planned=len(statuses), min_interval_weeks=4, max_interval_weeks=6
    )
    series = TreatmentSeriesFactory(
        clinic=clinic, template=template, sessions_planned=len(statuses), interval_weeks=4
    )
    rows = [
        AppointmentFactory(
            patient=series.patient,
            practitioner=practitioner,
            series=series,
            sequence=n + 1,
            starts_at=seoul(MONDAY + timedelta(weeks=weeks * n), 10),
            ends_at=seoul(MONDAY + timedelta(weeks=weeks * n), 11),
            status=status,
        )
        for n, status in enumerate(statuses)
    ]
    return series, rows


def test_the_next_step_is_the_next_booked_session(clinic_a, practitioner_a):
    series, rows = _series(clinic_a, practitioner_a, ["completed", "booked", "booked"])
    step = booking.series_next_steps([series])[series.pk]
    assert (step.sequence, step.sessions_planned, step.appointment) == (2, 3, rows[1])
    assert step.book_from is None


def test_an_unbooked_next_step_is_bookable_from_the_minimum_interval(clinic_a, practitioner_a):
    series, rows = _series(clinic_a, practitioner_a, ["completed", "cancelled"])
    step = booking.series_next_steps([series])[series.pk]
    assert step.appointment is None
    assert (step.sequence, step.sessions_planned) == (2, 2)
    assert step.book_from == MONDAY + timedelta(weeks=4)
    assert step.book_by == MONDAY + timedelta(weeks=6)


def test_an_unbooked_next_step_past_its_window_is_bookable_from_today(clinic_a, practitioner_a):
    with time_machine.travel(seoul(MONDAY + timedelta(weeks=8), 9), tick=True):
        series, _ = _series(clinic_a, practitioner_a, ["completed", "cancelled"])
        step = booking.series_next_steps([series])[series.pk]
        assert step.book_from == MONDAY + timedelta(weeks=8)


def test_a_series_with_every_session_completed_has_no_next_step(clinic_a, practitioner_a):
    series, _ = _series(clinic_a, practitioner_a, ["completed", "completed"])
    assert booking.series_next_steps([series])[series.pk] is None
    cancelled, _ = _series(clinic_a, practitioner_a, ["cancelled", "cancelled"], weeks=5)
    cancelled.status = SeriesStatus.CANCELLED
    cancelled.save()
    assert booking.series_next_steps([cancelled])[cancelled.pk] is None
