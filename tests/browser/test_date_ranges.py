"""Far-off dates in a real browser: the error stands beside the field, the page still works."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from tests.factories import AppointmentFactory, PatientFactory
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_far_off_dates_are_shown_beside_their_field(page, clinic_a, front_desk_a, practitioner_a):
    """GIVEN a booked appointment WHEN the front desk opens the calendar at 31 December 9999
    and then tries to move the appointment there THEN each page answers with the error beside
    the date field, and the appointment stays where it was."""
    start = datetime.now(SEOUL).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(
        days=7
    )
    appointment = AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a, first_name="Ji-woo", last_name="Han"),
        practitioner=practitioner_a,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
    )
    base = page.base_url
    playwright_login(page, base, front_desk_a)

    page.goto(base + reverse("treatments:calendar") + "?view=week&date=9999-12-31")
    page.locator("#id_date_errors").get_by_text("five years either side").wait_for()
    page.screenshot(path=artifact_path("front_desk_calendar_far_date.png"), full_page=True)

    page.goto(base + reverse("treatments:appointment", kwargs={"uuid": appointment.uuid}))
    page.get_by_label("New date and time").fill("9999-12-31T10:00")
    page.get_by_role("button", name="Move appointment").click()
    page.locator("#id_starts_at_errors").get_by_text("two years ahead").wait_for()
    page.screenshot(path=artifact_path("front_desk_reschedule_far_date.png"), full_page=True)
    appointment.refresh_from_db()
    assert appointment.starts_at == start
    # The two refusals are 400s by design (a bad request, shown as a page); nothing else failed.
    expected = ("/calendar/?view=week&date=9999-12-31", f"/appointments/{appointment.uuid}/")
    unexpected = [
        e
        for e in page.console_errors
        if not (e.startswith("HTTP 400 for ") and any(part in e for part in expected))
        and "400 (Bad Request)" not in e
    ]
    assert unexpected == []
