"""Booking services: proposals, opening hours, closures, conflicts and the nearest slot,
all-or-nothing, daylight saving, the safety hold, reminders and the iCalendar file."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from clinic.core.exceptions import Conflict, NotAllowed, RuleViolation
from clinic.core.models import Role
from clinic.workflows import appointment_confirm_with_safety_hold, series_book_with_safety_hold
from patients.models import MessageKind, MessageState, OutboxMessage
from tests.factories import (
    AlarmFactory,
    AppointmentFactory,
    ClinicClosureFactory,
    PatientFactory,
    ReactionReportFactory,
    SeriesTemplateFactory,
    StaffFactory,
)
from tests.requirements import require_postgres
from treatments import booking
from treatments.models import Appointment, AppointmentStatus, TreatmentSeries

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
# Monday 2 February 2026; "now" is a month earlier so every proposal lies in the future.
MONDAY = date(2026, 2, 2)
NOW = datetime(2026, 1, 2, 0, 0, tzinfo=ZoneInfo("UTC"))


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def template_a(clinic_a):
    return SeriesTemplateFactory(
        clinic=clinic_a, name="Acne scars", sessions_planned=3, interval_weeks=4
    )


def seoul(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SEOUL)


def test_it_proposes_every_session_at_the_interval_and_the_same_local_hour(
    clinic_a, practitioner_a, template_a
):
    slots = booking.series_propose(
        clinic=clinic_a,
        practitioner=practitioner_a,
        template=template_a,
        first_start=seoul(MONDAY, 10),
    )
    assert [s.starts_at for s in slots] == [
        seoul(MONDAY, 10),
        seoul(MONDAY + timedelta(weeks=4), 10),
        seoul(MONDAY + timedelta(weeks=8), 10),
    ]
    assert all(s.ok for s in slots)
    assert [s.ends_at - s.starts_at for s in slots] == [timedelta(minutes=60)] * 3


def test_a_closure_day_is_refused_with_the_nearest_free_slot(clinic_a, practitioner_a, template_a):
    ClinicClosureFactory(
        clinic=clinic_a,
        starts_on=MONDAY + timedelta(weeks=4),
        ends_on=MONDAY + timedelta(weeks=4),
        reason="Public holiday",
    )
    slots = booking.series_propose(
        clinic=clinic_a,
        practitioner=practitioner_a,
        template=template_a,
        first_start=seoul(MONDAY, 10),
    )
    assert "closed" in slots[1].problem and "Public holiday" in slots[1].problem
    # Closed all Monday: Tuesday 09:00 (23 h later) beats Saturday 13:00 (45 h earlier).
    assert slots[1].nearest == seoul(MONDAY + timedelta(weeks=4, days=1), 9)
    assert slots[0].ok and slots[2].ok


def test_the_nearest_free_slot_keeps_the_series_interval(clinic_a, practitioner_a, template_a):
    """Closed all of week 4's working days: the Saturday before is nearer, but it would put
    session 2 under the series' minimum of 4 weeks, so the Saturday after is offered."""
    ClinicClosureFactory(
        clinic=clinic_a,
        starts_on=MONDAY + timedelta(weeks=4),
        ends_on=MONDAY + timedelta(weeks=4, days=4),
        reason="Refurbishment",
    )
    slots = booking.series_propose(
        clinic=clinic_a,
        practitioner=practitioner_a,
        template=template_a,
        first_start=seoul(MONDAY, 10),
    )
    assert "Refurbishment" in slots[1].problem
    assert slots[1].nearest == seoul(MONDAY + timedelta(weeks=4, days=5), 10)
    # Taking it (and keeping session 3 four weeks after it) leaves no interval warning.
    starts = [seoul(MONDAY, 10), slots[1].nearest, slots[1].nearest + timedelta(weeks=4)]
    checked = booking.slots_check(
        clinic=clinic_a, practitioner=practitioner_a, template=template_a, starts=starts
    )
    assert all(s.ok and not s.warnings for s in checked)


def test_no_nearest_slot_is_offered_outside_the_series_window(clinic_a, practitioner_a, template_a):
    """Closed for the whole window (weeks 4 to 6 after session 1): nothing to offer."""
    ClinicClosureFactory(
        clinic=clinic_a,
        starts_on=MONDAY + timedelta(weeks=3),
        ends_on=MONDAY + timedelta(weeks=7),
        reason="Clinic moves",
    )
    slots = booking.series_propose(
        clinic=clinic_a,
        practitioner=practitioner_a,
        template=template_a,
        first_start=seoul(MONDAY, 10),
    )
    assert "Clinic moves" in slots[1].problem
    assert slots[1].nearest is None


def test_times_outside_opening_hours_are_refused(clinic_a, practitioner_a, template_a):
    sunday = MONDAY - timedelta(days=1)
    diary = booking.Diary(clinic=clinic_a, practitioner=practitioner_a, around=[seoul(MONDAY, 8)])
    assert "closed on Sundays" in diary.problem(seoul(sunday, 10), seoul(sunday, 11))
    assert "Outside opening hours (09:00-18:00" in diary.problem(seoul(MONDAY, 8), seoul(MONDAY, 9))
    assert "Outside opening hours" in diary.problem(seoul(MONDAY, 17, 30), seoul(MONDAY, 18, 30))
    assert diary.problem(seoul(MONDAY, 17), seoul(MONDAY, 18)) == ""


def test_a_clash_with_the_practitioners_other_appointment_offers_the_next_free_time(
    clinic_a, practitioner_a, template_a
):
    AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a),
        practitioner=practitioner_a,
        starts_at=seoul(MONDAY + timedelta(weeks=4), 9, 30),
        ends_at=seoul(MONDAY + timedelta(weeks=4), 10, 30),
    )
    slots = booking.series_propose(
        clinic=clinic_a,
        practitioner=practitioner_a,
        template=template_a,
        first_start=seoul(MONDAY, 10),
    )
    assert "already has an appointment 09:30-10:30" in slots[1].problem
    assert slots[1].nearest == seoul(MONDAY + timedelta(weeks=4), 10, 30)


def test_cancelled_and_no_show_appointments_free_the_slot(clinic_a, practitioner_a, template_a):
    for status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW):
        AppointmentFactory(
            patient=PatientFactory(clinic=clinic_a),
            practitioner=practitioner_a,
            starts_at=seoul(MONDAY, 10),
            ends_at=seoul(MONDAY, 11),
            status=status,
        )
    series = booking.series_book(
        patient=PatientFactory(clinic=clinic_a),
        practitioner=practitioner_a,
        template=template_a,
        starts=[seoul(MONDAY + timedelta(weeks=4 * n), 10) for n in range(3)],
    )
    assert series.appointments.count() == 3


def test_a_series_is_booked_all_at_once_or_not_at_all(clinic_a, practitioner_a, template_a):
    """GIVEN the practitioner is busy at the third session's time WHEN the series is booked
    THEN nothing is written and the refusal names the third session."""
    AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a),
        practitioner=practitioner_a,
        starts_at=seoul(MONDAY + timedelta(weeks=8), 10),
        ends_at=seoul(MONDAY + timedelta(weeks=8), 11),
    )
    patient = PatientFactory(clinic=clinic_a)
    with pytest.raises(booking.SlotConflict) as caught:
        booking.series_book(
            patient=patient,
            practitioner=practitioner_a,
            template=template_a,
            starts=[seoul(MONDAY + timedelta(weeks=4 * n), 10) for n in range(3)],
        )
    assert caught.value.field == "start_3"
    assert not TreatmentSeries.objects.filter(patient=patient).exists()
    assert not Appointment.objects.filter(patient=patient).exists()
    assert not OutboxMessage.objects.filter(patient=patient).exists()


def test_only_a_practitioner_of_the_clinic_can_be_booked(
    clinic_a, front_desk_a, practitioner_b, template_a
):
    patient = PatientFactory(clinic=clinic_a)
    starts = [seoul(MONDAY + timedelta(weeks=4 * n), 10) for n in range(3)]
    for who in (front_desk_a, practitioner_b):
        with pytest.raises(NotAllowed):
            booking.series_book(
                patient=patient, practitioner=who, template=template_a, starts=starts
            )


def test_sessions_out_of_order_are_refused(clinic_a, practitioner_a, template_a):
    slots = booking.slots_check(
        clinic=clinic_a,
        practitioner=practitioner_a,
        template=template_a,
        starts=[seoul(MONDAY, 10), seoul(MONDAY, 9) - timedelta(days=7), seoul(MONDAY, 12)],
    )
    assert slots[1].problem == "Session 2 must come after session 1."


def test_a_series_crossing_the_march_clock_change_keeps_its_local_hour(clinic_b, practitioner_b):
    template = SeriesTemplateFactory(clinic=clinic_b, sessions_planned=3, interval_weeks=4)
    # Tue 17 Feb 2026 10:00 EST; clocks go forward on Sun 8 Mar 2026.
    first = datetime(2026, 2, 17, 10, 0, tzinfo=NEW_YORK)
    series = booking.series_book(
        patient=PatientFactory(clinic=clinic_b),
        practitioner=practitioner_b,
        template=template,
        starts=[
            s.starts_at
            for s in booking.series_propose(
                clinic=clinic_b, practitioner=practitioner_b, template=template, first_start=first
            )
        ],
    )
    appointments = list(series.appointments.order_by("sequence"))
    assert [a.starts_at.astimezone(NEW_YORK).hour for a in appointments] == [10, 10, 10]
    # The UTC instant moves by an hour: 15:00 UTC in February, 14:00 UTC in March.
    assert [a.starts_at.astimezone(ZoneInfo("UTC")).hour for a in appointments] == [15, 14, 14]


def test_a_series_crossing_the_november_clock_change_keeps_its_local_hour(clinic_b, practitioner_b):
    template = SeriesTemplateFactory(clinic=clinic_b, sessions_planned=2, interval_weeks=4)
    first = datetime(2026, 10, 20, 9, 0, tzinfo=NEW_YORK)  # clocks go back Sun 1 Nov 2026
    slots = booking.series_propose(
        clinic=clinic_b, practitioner=practitioner_b, template=template, first_start=first
    )
    assert [s.starts_at.astimezone(NEW_YORK).hour for s in slots] == [9, 9]
    assert [s.starts_at.astimezone(ZoneInfo("UTC")).hour for s in slots] == [13, 14]


def test_a_time_skipped_by_the_clock_change_is_refused(db):
    from tests.factories import ClinicFactory

    clinic = ClinicFactory(name="NY skip", time_zone="America/New_York")
    with pytest.raises(RuleViolation, match="does not exist"):
        clinic.at_local(date(2026, 3, 8), time(2, 30))


# --- the safety hold --------------------------------------------------------------------------


def test_a_patient_with_an_unresolved_reaction_gets_the_first_session_on_hold(
    clinic_a, practitioner_a, template_a
):
    patient = PatientFactory(clinic=clinic_a)
    ReactionReportFactory(patient=patient, ongoing=True)
    series = series_book_with_safety_hold(
        patient=patient,
        practitioner=practitioner_a,
        template=template_a,
        starts=[seoul(MONDAY + timedelta(weeks=4 * n), 10) for n in range(3)],
    )
    holds = list(series.appointments.order_by("sequence").values_list("safety_hold", flat=True))
    assert holds == [True, False, False]


def test_a_patient_without_reactions_is_booked_without_a_hold(clinic_a, practitioner_a, template_a):
    series = series_book_with_safety_hold(
        patient=PatientFactory(clinic=clinic_a),
        practitioner=practitioner_a,
        template=template_a,
        starts=[seoul(MONDAY + timedelta(weeks=4 * n), 10) for n in range(3)],
    )
    assert not series.appointments.filter(safety_hold=True).exists()


def test_confirming_arrival_after_a_red_flag_puts_the_session_on_hold(
    clinic_a, practitioner_a, front_desk_a
):
    """GIVEN a session booked without a hold WHEN a red-flag alarm is raised and the patient
    arrives THEN the session needs a practitioner's clearance, which needs a reason."""
    patient = PatientFactory(clinic=clinic_a)
    appointment = AppointmentFactory(
        patient=patient,
        practitioner=practitioner_a,
        starts_at=seoul(MONDAY, 10),
        ends_at=seoul(MONDAY, 11),
    )
    AlarmFactory(patient=patient)
    appointment = appointment_confirm_with_safety_hold(appointment=appointment)
    assert appointment.status == AppointmentStatus.ARRIVED and appointment.hold_open
    with pytest.raises(NotAllowed):
        booking.appointment_clear_hold(appointment=appointment, user=front_desk_a, reason="ok")
    with pytest.raises(RuleViolation) as caught:
        booking.appointment_clear_hold(appointment=appointment, user=practitioner_a, reason=" ")
    assert caught.value.field == "reason"
    cleared = booking.appointment_clear_hold(
        appointment=appointment, user=practitioner_a, reason="Seen; swelling resolved."
    )
    assert not cleared.hold_open and cleared.hold_cleared_by == practitioner_a


# --- reminders --------------------------------------------------------------------------------


def _book(clinic, practitioner, template, patient=None):
    return booking.series_book(
        patient=patient or PatientFactory(clinic=clinic),
        practitioner=practitioner,
        template=template,
        starts=[
            seoul(MONDAY + timedelta(weeks=4 * n), 10) for n in range(template.sessions_planned)
        ],
    )


def test_booking_queues_reminders_24_hours_before_and_maintenance_after_the_course(
    clinic_a, practitioner_a, template_a
):
    series = _book(clinic_a, practitioner_a, template_a)
    appointments = list(series.appointments.order_by("sequence"))
    for appointment in appointments:
        reminder = OutboxMessage.objects.get(idempotency_key=f"appt-reminder:{appointment.pk}")
        assert reminder.kind == MessageKind.APPOINTMENT_REMINDER
        assert reminder.due_at == appointment.starts_at - timedelta(hours=24)
        assert reminder.state == MessageState.PENDING
    maintenance = OutboxMessage.objects.get(idempotency_key=f"maintenance:{series.pk}")
    last_day = MONDAY + timedelta(weeks=8)  # 30 March 2026 -> 30 September 2026 (6 months)
    assert maintenance.due_at == seoul(date(2026, 9, 30), 10)
    assert last_day == date(2026, 3, 30)
    series.refresh_from_db()
    assert series.maintenance_due_on == date(2026, 9, 30)


def test_a_reminder_that_would_fall_in_quiet_hours_waits_for_their_end(clinic_a, practitioner_a):
    """An early appointment (07:30, before the default quiet hours end at 08:00) is reminded
    at 08:00 the day before, not in the night."""
    clinic_a.refresh_from_db()
    assert (clinic_a.quiet_hours_start, clinic_a.quiet_hours_end) == (time(21), time(8))
    appointment = AppointmentFactory(
        clinic=clinic_a,
        patient=PatientFactory(clinic=clinic_a),
        practitioner=practitioner_a,
        starts_at=seoul(MONDAY, 7, 30),
        ends_at=seoul(MONDAY, 8, 30),
    )
    reminder = booking.appointment_reminder_sync(appointment=appointment)
    assert reminder.due_at == seoul(MONDAY - timedelta(days=1), 8)
    # A daytime appointment keeps its 24 hours.
    appointment.starts_at = seoul(MONDAY, 10)
    appointment.ends_at = seoul(MONDAY, 11)
    appointment.save()
    booking.appointment_reminder_sync(appointment=appointment)
    reminder.refresh_from_db()
    assert reminder.due_at == seoul(MONDAY - timedelta(days=1), 10)


def test_rescheduling_moves_the_pending_reminder_and_cancelling_cancels_it(
    clinic_a, practitioner_a, template_a
):
    series = _book(clinic_a, practitioner_a, template_a)
    second = series.appointments.get(sequence=2)
    moved, _ = booking.appointment_reschedule(
        appointment=second, starts_at=seoul(MONDAY + timedelta(weeks=4, days=1), 14)
    )
    reminder = OutboxMessage.objects.get(idempotency_key=f"appt-reminder:{second.pk}")
    assert reminder.due_at == moved.starts_at - timedelta(hours=24)
    # Written when it is sent: with the new time, in the clinic's zone.
    rendered = booking.AppointmentReminderRenderer().render(reminder)
    assert "your appointment is on Tuesday 3 March 2026 at 14:00." in rendered.body
    booking.appointment_cancel(appointment=moved)
    reminder.refresh_from_db()
    assert reminder.state == MessageState.CANCELLED


def test_moving_the_last_session_moves_the_maintenance_reminder(
    clinic_a, practitioner_a, template_a
):
    series = _book(clinic_a, practitioner_a, template_a)
    last = series.appointments.get(sequence=3)
    booking.appointment_reschedule(appointment=last, starts_at=seoul(date(2026, 4, 6), 10))
    maintenance = OutboxMessage.objects.get(idempotency_key=f"maintenance:{series.pk}")
    assert maintenance.due_at == seoul(date(2026, 10, 6), 10)


# --- rescheduling -----------------------------------------------------------------------------


def test_rescheduling_keeps_the_series_order(clinic_a, practitioner_a, template_a):
    series = _book(clinic_a, practitioner_a, template_a)
    second = series.appointments.get(sequence=2)
    with pytest.raises(RuleViolation, match="must come after session 1") as caught:
        booking.appointment_reschedule(
            appointment=second, starts_at=seoul(MONDAY - timedelta(days=1), 10)
        )
    assert caught.value.field == "starts_at"
    with pytest.raises(RuleViolation, match="must come before session 3"):
        booking.appointment_reschedule(
            appointment=second, starts_at=seoul(MONDAY + timedelta(weeks=9), 10)
        )


def test_rescheduling_warns_when_an_interval_falls_under_four_weeks(
    clinic_a, practitioner_a, template_a
):
    series = _book(clinic_a, practitioner_a, template_a)
    second = series.appointments.get(sequence=2)
    moved, warnings = booking.appointment_reschedule(
        appointment=second, starts_at=seoul(MONDAY + timedelta(weeks=3), 10)
    )
    assert moved.starts_at == seoul(MONDAY + timedelta(weeks=3), 10)
    assert (
        warnings
        == [
            "Session 2 comes only 3 weeks after session 1; the series asks for at least 4 weeks.",
            "Session 3 comes only 5 weeks after Session 2; the series asks for at least 4 weeks.",
        ][:1]
    )


def test_rescheduling_onto_a_busy_time_is_refused_with_the_nearest_slot(
    clinic_a, practitioner_a, template_a
):
    series = _book(clinic_a, practitioner_a, template_a)
    AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a),
        practitioner=practitioner_a,
        starts_at=seoul(MONDAY + timedelta(weeks=4, days=1), 14),
        ends_at=seoul(MONDAY + timedelta(weeks=4, days=1), 15),
    )
    second = series.appointments.get(sequence=2)
    with pytest.raises(booking.SlotConflict) as caught:
        booking.appointment_reschedule(
            appointment=second, starts_at=seoul(MONDAY + timedelta(weeks=4, days=1), 14, 30)
        )
    assert caught.value.slots[0].nearest == seoul(MONDAY + timedelta(weeks=4, days=1), 15)
    second.refresh_from_db()
    assert second.starts_at == seoul(MONDAY + timedelta(weeks=4), 10)


def test_arrival_and_no_show_follow_the_status_rules(clinic_a, practitioner_a, template_a):
    series = _book(clinic_a, practitioner_a, template_a)
    first = series.appointments.get(sequence=1)
    booking.appointment_mark_no_show(appointment=first)
    with pytest.raises(RuleViolation, match="no-show"):
        booking.appointment_mark_arrived(appointment=first)
    with pytest.raises(RuleViolation):
        booking.appointment_reschedule(appointment=first, starts_at=seoul(MONDAY, 15))


# --- iCalendar --------------------------------------------------------------------------------


def test_the_series_calendar_file_carries_the_clinics_time_zone(clinic_b, practitioner_b):
    from icalendar import Calendar

    template = SeriesTemplateFactory(clinic=clinic_b, sessions_planned=2, interval_weeks=4)
    series = booking.series_book(
        patient=PatientFactory(clinic=clinic_b),
        practitioner=practitioner_b,
        template=template,
        starts=[
            datetime(2026, 2, 17, 10, tzinfo=NEW_YORK),
            datetime(2026, 3, 17, 10, tzinfo=NEW_YORK),
        ],
    )
    raw = booking.series_ics(series=series)
    assert b"DTSTART;TZID=America/New_York:20260217T100000" in raw
    assert b"DTSTART;TZID=America/New_York:20260317T100000" in raw
    cal = Calendar.from_ical(raw)
    assert [c.name for c in cal.walk("VTIMEZONE")] == ["VTIMEZONE"]
    events = cal.walk("VEVENT")
    assert len(events) == 2
    assert series.patient.last_name not in raw.decode()


# --- never double booked ----------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_desks_booking_the_same_slot_at_once_get_one_booking_and_one_refusal(
    clinic_a, practitioner_a
):
    """GIVEN two front desks WHEN both book the practitioner's same hour at the same moment on
    PostgreSQL THEN exactly one series is booked and the other gets a clear Conflict."""
    require_postgres()
    template = SeriesTemplateFactory(clinic=clinic_a, sessions_planned=1)
    patients = [PatientFactory(clinic=clinic_a) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def book(patient):
        barrier.wait()
        try:
            booking.series_book(
                patient=patient,
                practitioner=practitioner_a,
                template=template,
                starts=[seoul(MONDAY, 10)],
            )
            outcomes.append("ok")
        except Conflict as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=(p,)) for p in patients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(outcomes) == 2 and outcomes.count("ok") == 1
    refusal = next(o for o in outcomes if o != "ok")
    assert "moment ago" in refusal or "already has an appointment" in refusal
    assert Appointment.objects.filter(practitioner=practitioner_a).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_an_overlap_even_past_the_check(clinic_a, practitioner_a):
    require_postgres()
    from django.db import IntegrityError

    AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a),
        practitioner=practitioner_a,
        starts_at=seoul(MONDAY, 10),
        ends_at=seoul(MONDAY, 11),
    )
    with pytest.raises(IntegrityError, match=booking.OVERLAP_CONSTRAINT):
        Appointment.objects.create(
            clinic=clinic_a,
            patient=PatientFactory(clinic=clinic_a),
            practitioner=practitioner_a,
            starts_at=seoul(MONDAY, 10, 30),
            ends_at=seoul(MONDAY, 11, 30),
        )


def test_practitioners_of_lists_only_active_practitioners(clinic_a, practitioner_a, front_desk_a):
    other = StaffFactory(
        membership__clinic=clinic_a, membership__role=Role.PRACTITIONER, membership__active=False
    )
    assert list(booking.practitioners_of(clinic_a)) == [practitioner_a]
    assert other not in booking.practitioners_of(clinic_a)
