"""In a real browser (Debian's chromium): two-factor login, enrolment, accessibility, CSP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.core.models import Role
from tests.factories import MembershipFactory, UserFactory
from tests.kit.auth import PASSWORD, playwright_login
from tests.kit.browser import artifact_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_practitioner_logs_in_with_password_and_code_and_sees_the_dashboard(
    page, practitioner_a, clinic_a
):
    playwright_login(page, page.base_url, practitioner_a)
    assert page.url.endswith(reverse("dashboard"))
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert "Seoul" in page.inner_text("main")
    page.screenshot(path=str(artifact_path("dashboard-after-login.png")), full_page=True)
    assert page.console_errors == []


def test_the_login_page_has_no_accessibility_violations(page):
    from axe_playwright_python.sync_playwright import Axe

    page.goto(page.base_url + reverse("core:login"))
    page.screenshot(path=str(artifact_path("login.png")), full_page=True)
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    assert page.console_errors == []  # a CSP violation is a console error


def test_the_login_page_shows_the_error_without_a_layout_break(page, practitioner_a):
    page.goto(page.base_url + reverse("core:login"))
    page.get_by_label("Username").fill("practitioner_a")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Six-digit code").fill("000000")
    page.get_by_role("button", name="Log in").click()
    alert = page.get_by_role("alert")
    assert "do not match" in alert.inner_text()
    page.screenshot(path=str(artifact_path("login-error.png")), full_page=True)


def test_enrolment_renders_the_qr_code_under_the_csp(page, clinic_a):
    """GIVEN a practitioner without an authenticator app WHEN they log in with the password
    THEN the enrolment page shows a visible QR code and the CSP blocked nothing."""
    user = UserFactory(username="newcomer")
    MembershipFactory(user=user, clinic=clinic_a, role=Role.PRACTITIONER)
    page.goto(page.base_url + reverse("core:login"))
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: reverse("core:enrollment") in url)
    qr = page.locator("svg.qr")
    box = qr.bounding_box()
    assert box and box["width"] > 150 and box["height"] > 150
    page.screenshot(path=str(artifact_path("enrollment.png")), full_page=True)
    assert page.console_errors == []


def test_the_dashboard_works_on_a_phone_sized_screen(page, practitioner_a):
    page.set_viewport_size({"width": 375, "height": 740})
    playwright_login(page, page.base_url, practitioner_a)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, "the page scrolls sideways on a phone"
    page.screenshot(path=str(artifact_path("dashboard-phone.png")), full_page=True)
