"""Booking pages: proposals with conflicts and the nearest slot, booking, the calendar in each
clinic's local time, the appointment page and its actions, templates, the .ics download."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    ReactionReportFactory,
    SeriesTemplateFactory,
)
from tests.kit.queries import assert_constant_queries
from treatments.models import Appointment, AppointmentStatus, SeriesTemplate, TreatmentSeries

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY = date(2026, 2, 2)


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(datetime(2026, 1, 2, tzinfo=ZoneInfo("UTC")), tick=True):
        yield


@pytest.fixture
def template_a(clinic_a):
    return SeriesTemplateFactory(clinic=clinic_a, name="Acne scars", sessions_planned=3)


def _step_one(template, practitioner, day=MONDAY, at="10:00"):
    return {
        "template": template.pk,
        "practitioner": practitioner.pk,
        "first_date": day.isoformat(),
        "first_time": at,
    }


def _signature(template, practitioner, day=MONDAY, at="10:00"):
    return f"{template.pk}|{practitioner.pk}|{day.isoformat()}|{at}"


def test_booking_proposes_dates_then_books_the_whole_series(
    front_desk_client, clinic_a, practitioner_a, template_a
):
    patient = PatientFactory(clinic=clinic_a)
    url = reverse("treatments:book", kwargs={"patient": patient.uuid})
    response = front_desk_client.post(
        url, _step_one(template_a, practitioner_a) | {"action": "propose"}
    )
    body = response.content.decode()
    assert 'value="2026-02-02T10:00"' in body and 'value="2026-03-30T10:00"' in body
    assert body.count(">Free<") == 3
    data = _step_one(template_a, practitioner_a) | {
        "proposed_for": _signature(template_a, practitioner_a),
        "start_1": "2026-02-02T10:00",
        "start_2": "2026-03-02T10:00",
        "start_3": "2026-03-30T10:00",
        "action": "book",
    }
    response = front_desk_client.post(url, data)
    assert response.status_code == 302
    series = TreatmentSeries.objects.get(patient=patient)
    starts = [a.starts_at.astimezone(SEOUL) for a in series.appointments.order_by("sequence")]
    assert [s.strftime("%Y-%m-%d %H:%M") for s in starts] == [
        "2026-02-02 10:00",
        "2026-03-02 10:00",
        "2026-03-30 10:00",
    ]


def test_a_conflict_is_shown_next_to_its_session_with_the_nearest_slot_to_take(
    front_desk_client, clinic_a, practitioner_a, template_a
):
    """GIVEN the practitioner is busy on the second date WHEN the front desk asks for proposals
    THEN the clash sits next to session 2 with a button for the nearest free slot, which
    takes it; nothing is booked until then."""
    AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a),
        practitioner=practitioner_a,
        starts_at=datetime(2026, 3, 2, 10, tzinfo=SEOUL),
        ends_at=datetime(2026, 3, 2, 11, tzinfo=SEOUL),
    )
    patient = PatientFactory(clinic=clinic_a)
    url = reverse("treatments:book", kwargs={"patient": patient.uuid})
    body = front_desk_client.post(url, _step_one(template_a, practitioner_a)).content.decode()
    assert 'id="id_start_2_errors"' in body and "already has an appointment 10:00-11:00" in body
    assert 'aria-describedby="id_start_2_errors"' in body
    assert 'name="use_slot" value="2|2026-03-02T11:00"' in body
    data = _step_one(template_a, practitioner_a) | {
        "proposed_for": _signature(template_a, practitioner_a),
        "start_1": "2026-02-02T10:00",
        "start_2": "2026-03-02T10:00",
        "start_3": "2026-03-30T10:00",
    }
    # Booking as is: refused, nothing written.
    response = front_desk_client.post(url, data | {"action": "book"})
    assert response.status_code == 200
    assert not TreatmentSeries.objects.filter(patient=patient).exists()
    # Taking the nearest slot: all clear, then booked.
    body = front_desk_client.post(url, data | {"use_slot": "2|2026-03-02T11:00"}).content.decode()
    assert 'value="2026-03-02T11:00"' in body and body.count(">Free<") == 3
    response = front_desk_client.post(url, data | {"start_2": "2026-03-02T11:00", "action": "book"})
    assert response.status_code == 302
    assert Appointment.objects.filter(patient=patient).count() == 3


def test_bad_booking_input_is_shown_next_to_the_fields(
    front_desk_client, clinic_a, practitioner_a, template_a
):
    patient = PatientFactory(clinic=clinic_a)
    url = reverse("treatments:book", kwargs={"patient": patient.uuid})
    response = front_desk_client.post(
        url, {"template": "", "practitioner": "999", "first_date": "soon", "first_time": "10"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    for name in ("template", "practitioner", "first_date", "first_time"):
        assert f'id="id_{name}_errors"' in body
    data = _step_one(template_a, practitioner_a) | {
        "proposed_for": _signature(template_a, practitioner_a),
        "start_1": "garbage",
        "start_2": "2026-03-02T10:00",
        "start_3": "",
        "action": "book",
    }
    body = front_desk_client.post(url, data).content.decode()
    assert 'id="id_start_1_errors"' in body and 'id="id_start_3_errors"' in body
    assert 'value="garbage"' in body
    assert not TreatmentSeries.objects.exists()


def test_the_front_desk_sees_only_that_a_session_needs_clearance(
    front_desk_client, practitioner_client, clinic_a, practitioner_a, template_a
):
    patient = PatientFactory(clinic=clinic_a)
    report = ReactionReportFactory(patient=patient, ongoing=True)
    url = reverse("treatments:book", kwargs={"patient": patient.uuid})
    data = _step_one(template_a, practitioner_a) | {
        "proposed_for": _signature(template_a, practitioner_a),
        "start_1": "2026-02-02T10:00",
        "start_2": "2026-03-02T10:00",
        "start_3": "2026-03-30T10:00",
        "action": "book",
    }
    response = front_desk_client.post(url, data, follow=True)
    body = response.content.decode()
    assert "needs practitioner clearance" in body
    assert report.term.name not in body and report.term.patient_label not in body
    first = Appointment.objects.get(patient=patient, sequence=1)
    page = front_desk_client.get(reverse("treatments:appointment", kwargs={"uuid": first.uuid}))
    assert "Needs practitioner clearance" in page.content.decode()
    assert "Clear the safety hold" not in page.content.decode()
    clear = reverse("treatments:appointment_clear_hold", kwargs={"uuid": first.uuid})
    assert front_desk_client.post(clear, {"reason": "x"}).status_code == 403
    response = practitioner_client.post(clear, {"reason": ""})
    assert response.status_code == 400 and 'id="id_reason_errors"' in response.content.decode()
    unconfirmed = practitioner_client.post(clear, {"reason": "Reviewed, resolved"})
    assert unconfirmed.status_code == 400
    assert 'id="id_confirm_errors"' in unconfirmed.content.decode()
    confirmed = {"reason": "Reviewed, resolved", "confirm": "on"}
    assert practitioner_client.post(clear, confirmed).status_code == 302
    first.refresh_from_db()
    assert not first.hold_open


def test_each_clinic_sees_its_own_local_time(
    front_desk_client, outsider_client, clinic_a, clinic_b, practitioner_a, practitioner_b
):
    # The same instant, 01:00 UTC on Tue 3 Feb 2026, is 10:00 in Seoul ...
    seoul_appt = AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a, last_name="Seoulpatient"),
        practitioner=practitioner_a,
        starts_at=datetime(2026, 2, 3, 1, tzinfo=ZoneInfo("UTC")),
        ends_at=datetime(2026, 2, 3, 2, tzinfo=ZoneInfo("UTC")),
    )
    # ... and 14:00 UTC is 09:00 in New York.
    AppointmentFactory(
        patient=PatientFactory(clinic=clinic_b, last_name="Nypatient"),
        practitioner=practitioner_b,
        starts_at=datetime(2026, 2, 3, 14, tzinfo=ZoneInfo("UTC")),
        ends_at=datetime(2026, 2, 3, 15, tzinfo=ZoneInfo("UTC")),
    )
    query = {"view": "day", "date": "2026-02-03"}
    seoul_page = front_desk_client.get(reverse("treatments:calendar"), query).content.decode()
    assert "10:00–11:00" in seoul_page and "Seoulpatient" in seoul_page
    assert "Nypatient" not in seoul_page
    ny_page = outsider_client.get(reverse("treatments:calendar"), query).content.decode()
    assert "09:00–10:00" in ny_page and "Nypatient" in ny_page and "Seoulpatient" not in ny_page
    detail = front_desk_client.get(
        reverse("treatments:appointment", kwargs={"uuid": seoul_appt.uuid})
    )
    assert "Tue 3 Feb 2026, 10:00" in detail.content.decode()


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        # Clocks jump from 00:00 to 01:00: midnight itself does not exist on these days.
        ("Africa/Cairo", date(2026, 4, 24)),
        ("America/Santiago", date(2026, 9, 6)),
        ("America/Havana", date(2026, 3, 8)),
    ],
)
@pytest.mark.parametrize("view", ["day", "week"])
def test_the_calendar_shows_a_day_whose_midnight_is_skipped(
    front_desk_client, clinic_a, practitioner_a, zone, day, view
):
    """GIVEN a clinic in a zone whose clocks skip midnight WHEN the front desk opens that day
    (or its week) THEN the calendar shows it with its appointment, not a server error."""
    type(clinic_a).objects.filter(pk=clinic_a.pk).update(time_zone=zone)
    starts = datetime(day.year, day.month, day.day, 10, tzinfo=ZoneInfo(zone))
    AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a, last_name="Skipday"),
        practitioner=practitioner_a,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
    )
    response = front_desk_client.get(
        reverse("treatments:calendar"), {"view": view, "date": day.isoformat()}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Skipday" in page and "10:00–11:00" in page


def test_the_week_calendar_costs_the_same_queries_at_any_size(
    front_desk_client, clinic_a, practitioner_a
):
    def grow(n):
        for _ in range(n):
            AppointmentFactory(
                patient=PatientFactory(clinic=clinic_a),
                starts_at=datetime(2026, 2, 3, 10, tzinfo=SEOUL),
                ends_at=datetime(2026, 2, 3, 11, tzinfo=SEOUL),
            )

    assert_constant_queries(
        front_desk_client,
        reverse("treatments:calendar") + "?view=week&date=2026-02-03",
        grow,
        expected=12,  # 11 + the closures of the week (the opening hours under each day)
    )


def test_the_patients_appointments_cost_the_same_queries_at_any_size(
    front_desk_client, clinic_a, practitioner_a
):
    patient = PatientFactory(clinic=clinic_a)

    def grow(n):
        for _ in range(n):
            AppointmentFactory(patient=patient, practitioner=practitioner_a)

    assert_constant_queries(
        front_desk_client,
        reverse("treatments:patient_appointments", kwargs={"patient": patient.uuid}),
        grow,
        expected=10,
    )


def test_bad_calendar_filters_are_shown_next_to_the_fields(front_desk_client, clinic_a):
    response = front_desk_client.get(
        reverse("treatments:calendar"), {"date": "tomorrow", "view": "year"}
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_date_errors"' in body and 'id="id_view_errors"' in body


def test_rescheduling_from_the_page_warns_and_refuses_with_errors_at_the_field(
    front_desk_client, clinic_a, practitioner_a, template_a
):
    from treatments import booking

    series = booking.series_book(
        patient=PatientFactory(clinic=clinic_a),
        practitioner=practitioner_a,
        template=template_a,
        starts=[
            datetime.combine(MONDAY + timedelta(weeks=4 * n), time(10), tzinfo=SEOUL)
            for n in range(3)
        ],
    )
    second = series.appointments.get(sequence=2)
    url = reverse("treatments:appointment_reschedule", kwargs={"uuid": second.uuid})
    response = front_desk_client.post(url, {"starts_at": "2026-01-20T10:00"})
    assert response.status_code == 400
    assert 'id="id_starts_at_errors"' in response.content.decode()
    assert "must come after session 1" in response.content.decode()
    response = front_desk_client.post(url, {"starts_at": "2026-02-23T10:00"}, follow=True)
    body = response.content.decode()
    assert "Appointment moved." in body and "only 3 weeks after session 1" in body


def test_cancel_arrive_and_no_show_from_the_page(front_desk_client, clinic_a, practitioner_a):
    a, b = (
        AppointmentFactory(patient=PatientFactory(clinic=clinic_a), practitioner=practitioner_a)
        for _ in range(2)
    )
    status = lambda x: reverse("treatments:appointment_status", kwargs={"uuid": x.uuid})  # noqa: E731
    front_desk_client.post(status(a), {"action": "arrived"})
    front_desk_client.post(status(b), {"action": "cancel", "confirm": "yes"})
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status) == (AppointmentStatus.ARRIVED, AppointmentStatus.CANCELLED)
    response = front_desk_client.post(
        status(b), {"action": "no_show", "confirm": "yes"}, follow=True
    )
    assert "cannot be marked no-show" in response.content.decode()


@pytest.mark.parametrize(
    ("action", "wording", "button"),
    [
        ("cancel", "will be cancelled and the patient's reminder withdrawn", "Yes, cancel"),
        ("no_show", "will be recorded as a no-show", "Yes, mark no-show"),
    ],
)
def test_cancel_and_no_show_ask_first_and_say_what_will_happen(
    front_desk_client, clinic_a, practitioner_a, action, wording, button
):
    patient = PatientFactory(clinic=clinic_a, first_name="Min-ji", last_name="Kim")
    appointment = AppointmentFactory(
        patient=patient,
        practitioner=practitioner_a,
        starts_at=datetime(2026, 12, 8, 14, 0, tzinfo=SEOUL),
        ends_at=datetime(2026, 12, 8, 15, 0, tzinfo=SEOUL),
    )
    url = reverse("treatments:appointment_status", kwargs={"uuid": appointment.uuid})
    response = front_desk_client.post(url, {"action": action})
    assert response.status_code == 200
    html = response.content.decode().replace("&#x27;", "'")
    assert "The appointment on Tue 8 Dec, 14:00 with Min-ji Kim" in html
    assert wording in html and button in html
    assert 'name="confirm" value="yes"' in html and "Keep the appointment" in html
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED

    front_desk_client.post(url, {"action": action, "confirm": "yes"})
    appointment.refresh_from_db()
    assert appointment.status == (
        AppointmentStatus.CANCELLED if action == "cancel" else AppointmentStatus.NO_SHOW
    )


def test_arrived_stays_one_click(front_desk_client, clinic_a, practitioner_a):
    appointment = AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a), practitioner=practitioner_a
    )
    url = reverse("treatments:appointment_status", kwargs={"uuid": appointment.uuid})
    front_desk_client.post(url, {"action": "arrived"}, headers={"HX-Request": "true"})
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ARRIVED


def test_the_series_calendar_file_downloads_for_staff(
    front_desk_client, clinic_a, practitioner_a, template_a
):
    from treatments import booking

    series = booking.series_book(
        patient=PatientFactory(clinic=clinic_a),
        practitioner=practitioner_a,
        template=template_a,
        starts=[
            datetime.combine(MONDAY + timedelta(weeks=4 * n), time(10), tzinfo=SEOUL)
            for n in range(3)
        ],
    )
    response = front_desk_client.get(reverse("treatments:series_ics", kwargs={"uuid": series.uuid}))
    assert response["Content-Type"].startswith("text/calendar")
    assert "attachment" in response["Content-Disposition"]
    assert b"DTSTART;TZID=Asia/Seoul:20260202T100000" in response.content


def test_the_safety_lead_creates_and_edits_a_template_with_errors_at_the_field(
    safety_lead_client, clinic_a
):
    url = reverse("treatments:template_new")
    data = {
        "clinic": clinic_a.pk,
        "name": "Rejuvenation",
        "indication": "Rejuvenation",
        "sessions_planned": "4",
        "interval_weeks": "4",
        "min_interval_weeks": "4",
        "max_interval_weeks": "6",
        "maintenance_interval_months": "30",
        "session_minutes": "60",
        "active": "on",
    }
    response = safety_lead_client.post(url, data)
    assert response.status_code == 200
    assert "Maintenance comes 1 to 24 months after a course." in response.content.decode()
    response = safety_lead_client.post(url, data | {"maintenance_interval_months": "9"})
    assert response.status_code == 302
    template = SeriesTemplate.objects.get(name="Rejuvenation")
    edit = reverse("treatments:template_edit", kwargs={"uuid": template.uuid})
    assert (
        safety_lead_client.post(edit, data | {"maintenance_interval_months": "12"}).status_code
        == 302
    )
    template.refresh_from_db()
    assert template.maintenance_interval_months == 12


def test_the_template_list_costs_the_same_queries_at_any_size(safety_lead_client, clinic_a):
    assert_constant_queries(
        safety_lead_client,
        reverse("treatments:template_list"),
        lambda n: [SeriesTemplateFactory(clinic=clinic_a) for _ in range(n)],
        expected=8,
    )


def test_the_calendar_shows_each_days_opening_hours_and_closures(front_desk_client, clinic_a):
    from tests.factories import ClinicClosureFactory

    clinic_a.opening_hours = {"1": ["09:00", "18:00"], "3": ["12:00", "20:00"]}
    clinic_a.save()
    ClinicClosureFactory(
        clinic=clinic_a, starts_on=date(2026, 2, 5), ends_on=date(2026, 2, 5), reason="Seollal"
    )
    page = front_desk_client.get(
        reverse("treatments:calendar"), {"view": "week", "date": "2026-02-02"}
    )
    hours = [
        p.split(">", 1)[1].split("<", 1)[0]
        for p in page.content.decode().split('<p class="hint calendar-hours"')[1:]
    ]
    assert hours == [
        "Open 09:00-18:00",  # Monday
        "Closed",
        "Open 12:00-20:00",  # Wednesday
        "Closed (Seollal)",  # Thursday, a closure
        "Closed",
        "Closed",
        "Closed",
    ]
