"""The profile page and the error pages, in a real browser, with axe-core.

GIVEN a practitioner logged in with both factors
WHEN  they click their name in the header, change the name colleagues see and save
THEN  the header shows the new name, the confirmation is announced without an axe violation,
      and a page that does not exist answers in the site's layout with a way back.
"""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path


def _no_axe_violations(page: Any) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def _no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_practitioner_renames_themselves_on_their_profile(page, live_server, practitioner_a):
    playwright_login(page, live_server.url, practitioner_a)
    page.locator("a.whoami").click()
    page.get_by_role("heading", name="Your profile").wait_for()

    page.get_by_label("Given name").fill("Min-ji")
    page.get_by_label("Family name").fill("Kim")
    page.get_by_role("button", name="Save").click()

    page.get_by_role("status").get_by_text("Your profile is saved.").wait_for()
    assert page.locator("a.whoami").inner_text() == "Min-ji Kim"
    page.screenshot(path=artifact_path("profile_saved.png"), full_page=True)
    # The confirmation after a save is announced (role=status) without an axe violation.
    _no_axe_violations(page)

    page.get_by_role("link", name="Your API tokens").click()
    page.get_by_role("heading", name="API tokens").wait_for()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_missing_page_keeps_the_layout_and_leads_back(page, live_server, practitioner_a):
    playwright_login(page, live_server.url, practitioner_a)
    page.set_viewport_size({"width": 390, "height": 844})
    response = page.goto(f"{live_server.url}/patients/00000000-0000-0000-0000-000000000000/chart/")
    assert response is not None and response.status == 404
    page.get_by_role("heading", name="This page does not exist, or is not yours to see").wait_for()
    page.screenshot(path=artifact_path("error_404_phone.png"), full_page=True)
    _no_sideways_scroll(page)
    _no_axe_violations(page)

    page.get_by_role("link", name="Back to the dashboard").click()
    page.wait_for_url(f"{live_server.url}/dashboard/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_signing_out_says_so(page, live_server, practitioner_a):
    playwright_login(page, live_server.url, practitioner_a)
    page.get_by_role("button", name="Log out").click()
    page.get_by_text("You are signed out.").wait_for()
    page.get_by_role("heading", name="Staff login").wait_for()
