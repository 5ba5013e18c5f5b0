"""The front desk in a real browser: register, book a series through a conflict, reschedule."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from tests.factories import AppointmentFactory, PatientFactory, SeriesTemplateFactory
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path
from treatments.models import Appointment

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_front_desk_registers_books_through_a_conflict_and_reschedules(
    page, clinic_a, front_desk_a, practitioner_a
):
    """GIVEN a 3-session template and the practitioner busy at the second proposed time
    WHEN the front desk registers a patient, books the series, takes the nearest free slot
    and moves the third session THEN three appointments exist at the chosen local times."""
    SeriesTemplateFactory(clinic=clinic_a, name="Acne scars: 3 sessions, 4 weeks apart")
    today = datetime.now(SEOUL).date()
    monday = today + timedelta(days=7 - today.weekday() + 7)  # a Monday 8-14 days ahead
    second = monday + timedelta(weeks=4)
    AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a, first_name="Busy", last_name="Patient"),
        practitioner=practitioner_a,
        starts_at=datetime.combine(second, datetime.min.time(), tzinfo=SEOUL).replace(hour=10),
        ends_at=datetime.combine(second, datetime.min.time(), tzinfo=SEOUL).replace(hour=11),
    )
    base = page.base_url
    playwright_login(page, base, front_desk_a)

    page.goto(base + reverse("patients:register"))
    page.get_by_label("First name").fill("Ji-woo")
    page.get_by_label("Last name").fill("Han")
    page.get_by_label("Date of birth").fill("1988-07-21")
    page.get_by_label("Email").fill("jiwoo@example.com")
    page.get_by_label("Mobile phone").fill("+82 10 2222 3333")
    page.get_by_label("The patient agrees").check()
    page.get_by_role("button", name="Register patient").click()
    page.get_by_role("heading", name="Ji-woo Han").wait_for()

    page.get_by_role("link", name="Book a series").click()
    page.get_by_label("Series").select_option(label="Acne scars: 3 sessions, 4 weeks apart")
    page.get_by_label("Practitioner").select_option(str(practitioner_a.pk))
    page.get_by_label("First session: date").fill(monday.isoformat())
    page.get_by_label("First session: time").fill("10:00")
    page.get_by_role("button", name="Propose dates").click()
    page.get_by_text("already has an appointment 10:00-11:00").wait_for()
    page.screenshot(path=artifact_path("front_desk_booking_conflict.png"), full_page=True)

    page.get_by_role("button", name="for session 2").click()
    page.get_by_role("button", name="Book all 3 sessions").click()
    page.get_by_text("Booked 3 sessions").wait_for()
    page.screenshot(path=artifact_path("front_desk_booked.png"), full_page=True)

    patient_appts = Appointment.objects.filter(patient__last_name="Han").order_by("sequence")
    assert [a.starts_at.astimezone(SEOUL).strftime("%H:%M") for a in patient_appts] == [
        "10:00",
        "11:00",
        "10:00",
    ]
    third = patient_appts[2]

    page.goto(base + reverse("treatments:appointment", kwargs={"uuid": third.uuid}))
    new_day = third.starts_at.astimezone(SEOUL).date() + timedelta(days=1)
    page.get_by_label("New date and time").fill(f"{new_day.isoformat()}T14:30")
    page.get_by_role("button", name="Move appointment").click()
    page.get_by_text("Appointment moved.").wait_for()
    third.refresh_from_db()
    assert third.starts_at.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M") == f"{new_day} 14:30"

    page.goto(
        base
        + reverse("treatments:calendar")
        + f"?view=week&date={second.isoformat()}&clinic={clinic_a.uuid}"
    )
    page.get_by_text("Ji-woo Han").wait_for()
    page.screenshot(path=artifact_path("front_desk_calendar_week.png"), full_page=True)
    page.goto(base + reverse("treatments:calendar") + f"?view=day&date={new_day.isoformat()}")
    page.get_by_text("14:30–15:30").wait_for()
    page.screenshot(path=artifact_path("front_desk_calendar_day.png"), full_page=True)
    assert page.console_errors == []
