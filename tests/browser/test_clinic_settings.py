"""A clinic manager changes the opening hours and the check-in plan in a real browser, and
the calendar and the next session's check-ins follow (issue 21).

GIVEN the manager of clinic A (Seoul) and the default check-in plan
WHEN  they open Clinic settings from the navigation, set Wednesday to 12:00-20:00 and close
      Saturdays, then change the day-3 check-in to day 2 and add a day-30 step
THEN  the history on the page shows each change with who made it
AND   the front desk's calendar shows the new hours under each day
AND   a session logged afterwards gets the new plan's check-ins, while a session logged
      before keeps its own.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.kit.auth import playwright_login
from tests.kit.world import default_plan, logged_session
from treatments.models import CheckIn

SHOTS = Path(os.environ.get("SETTINGS_SHOTS", "/tmp/shots-settings"))


DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _shot(page: Any, name: str, *, docs_name: str = "") -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)
    if docs_name:  # the user guide's picture of this page
        shutil.copy(SHOTS / name, DOCS_IMG / docs_name)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_manager_changes_hours_and_plan_and_calendar_and_check_ins_follow(
    page, live_server, manager_a, front_desk_a, practitioner_a, clinic_a, _chromium
):
    default_plan(clinic_a)
    before = logged_session(practitioner_a)
    planned_before = sorted(
        CheckIn.objects.filter(session=before).values_list("step_label", "due_at")
    )

    playwright_login(page, live_server.url, manager_a)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clinic settings").click()
    expect(page.get_by_role("heading", name="Settings of Seoul")).to_be_visible()
    expect(page.get_by_label("Emergency number")).to_have_value("119")
    _shot(page, "settings_basics.png")

    # --- opening hours -------------------------------------------------------------------
    page.get_by_role("link", name="Opening hours and closures").click()
    page.get_by_label("Wednesday opens").fill("12:00")
    page.get_by_label("Wednesday closes").fill("20:00")
    page.get_by_label("Saturday opens").fill("")
    page.get_by_label("Saturday closes").fill("")
    page.get_by_role("button", name="Save opening hours").click()
    expect(page.get_by_role("status")).to_contain_text("Opening hours saved")
    history = page.get_by_role("region", name="History of settings changes")
    expect(history).to_contain_text(
        "Opening hours: Wed 09:00-18:00 -> 12:00-20:00, Sat 10:00-14:00 -> closed"
    )
    expect(history).to_contain_text(manager_a.display_name)
    _shot(page, "settings_hours.png")

    # --- the check-in plan ---------------------------------------------------------------
    page.get_by_role("link", name="Check-ins").click()
    expect(page.get_by_role("note")).to_contain_text(
        "Changes apply to sessions logged after you save them."
    )
    plan = page.get_by_role("region", name="Check-in plan")
    plan.get_by_role("row", name="Day 3").get_by_role("link", name="Change").click()
    page.get_by_label("Label").fill("Day 2")
    page.get_by_label("Days after the session").fill("2")
    page.get_by_role("button", name="Save step").click()
    expect(page.get_by_role("status")).to_contain_text("Step saved")
    plan.get_by_label("Label").fill("Day 30")
    plan.get_by_label("Days after the session").fill("30")
    plan.get_by_role("button", name="Add step").click()
    expect(page.get_by_role("status")).to_contain_text("Step added")
    expect(plan.get_by_role("row", name="Day 30")).to_contain_text("30 days")
    expect(page.get_by_role("region", name="History of settings changes")).to_contain_text(
        "Check-in step changed: Day 3 (3 d after the session) -> Day 2 (2 d after the session)"
    )
    _shot(page, "settings_checkins.png", docs_name="clinic_settings_checkins.png")

    # --- the calendar follows ------------------------------------------------------------
    desk_context = _chromium.new_context(viewport={"width": 1280, "height": 900})
    desk = desk_context.new_page()
    playwright_login(desk, live_server.url, front_desk_a)
    today = clinic_a.today()
    monday = today - timedelta(days=today.weekday())
    desk.goto(
        f"{live_server.url}{reverse('treatments:calendar')}?view=week&date={monday.isoformat()}"
    )
    wednesday = desk.get_by_role("region", name=(monday + timedelta(days=2)).strftime("%a %-d %b"))
    expect(wednesday).to_contain_text("Open 12:00-20:00")
    saturday = desk.get_by_role("region", name=(monday + timedelta(days=5)).strftime("%a %-d %b"))
    expect(saturday).to_contain_text("Closed")
    _shot(desk, "settings_calendar.png")
    desk_context.close()

    # --- the next session's check-ins follow; the earlier session keeps its own ----------
    after = logged_session(practitioner_a)
    labels = list(
        CheckIn.objects.filter(session=after)
        .order_by("due_at")
        .values_list("step_label", flat=True)
    )
    assert labels == ["Day 1", "Day 2", "Day 7", "Day 14", "Day 30", "Week 6", "Month 3"]
    assert (
        sorted(CheckIn.objects.filter(session=before).values_list("step_label", "due_at"))
        == planned_before
    )
    assert page.console_errors == []
