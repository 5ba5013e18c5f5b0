"""Getting back into an account, in a real browser (issue 21).

- A forgotten password is reset through the emailed link (read from `mail.outbox`: the live
  server runs in this process, with pytest-django's in-memory mail backend).
- A newcomer saves the recovery codes shown after enrolment; with the phone lost, one code
  logs them in, and the same code is refused on a second try.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from clinic.core.models import Role
from clinic.core.otp import totp_token
from tests.factories import MembershipFactory, UserFactory
from tests.kit.auth import PASSWORD, playwright_login, totp_code
from tests.kit.browser import artifact_path

NEW_PASSWORD = "Copper-Meadow-Silent-River-77"
SHOTS = "/tmp/shots-selfserve"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


def _shot(page: Any, name: str) -> None:
    import os

    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}", full_page=True)
    page.screenshot(path=artifact_path(name), full_page=True)


def _log_in(page: Any, username: str, password: str, code: str) -> None:
    page.goto(f"{page.base_url}{reverse('core:login')}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Six-digit code").fill(code)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_forgotten_password_is_reset_through_the_emailed_link(page, practitioner_a):
    """GIVEN a practitioner who forgot their password
    WHEN  they ask for a link on the login page, open the email's link and set a new password
    THEN  they log in with the new password and their authenticator code; the link is spent."""
    page.goto(f"{page.base_url}{reverse('core:login')}")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    _shot(page, "password_reset_form.png")
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    page.get_by_label("Email").fill(practitioner_a.email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/accounts/password/reset/\S+/\S+/", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    page.goto(link.group(0))
    expect(page.get_by_role("heading", name="Set a new password")).to_be_visible()
    # The two labels start alike ("New password", "New password confirmation").
    page.locator("#id_new_password1").fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_role("heading", name="Your new password is saved")).to_be_visible()

    page.get_by_role("link", name="Log in").click()
    _log_in(page, practitioner_a.username, NEW_PASSWORD, totp_code(practitioner_a))
    page.wait_for_url(lambda url: reverse("core:login") not in url)
    expect(page.locator("a.whoami")).to_have_text(practitioner_a.display_name)

    page.goto(link.group(0))
    expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()
    assert page.console_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_lost_authenticator_is_passed_with_a_recovery_code_once(page, clinic_a):
    """GIVEN a newcomer who enrols their authenticator and saves the recovery codes shown
    WHEN  their phone is lost and they log in with one of the codes, then try it again
    THEN  the first login opens the dashboard and says how many codes are left; the second is
          refused with the usual login error."""
    newcomer = UserFactory(username="newcomer", first_name="Ji-woo", last_name="Park")
    MembershipFactory(user=newcomer, clinic=clinic_a, role=Role.PRACTITIONER)

    _log_in(page, "newcomer", PASSWORD, "")
    page.wait_for_url(lambda url: reverse("core:enrollment") in url)
    device = TOTPDevice.objects.get(user=newcomer, confirmed=False)
    page.get_by_label("Six-digit code").fill(totp_token(device))
    page.get_by_role("button", name="Confirm and continue").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    _shot(page, "recovery_codes.png")
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    page.get_by_role("link", name="I have saved these codes").click()
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()

    # The phone is lost: a recovery code in place of the six-digit code.
    _log_in(page, "newcomer", PASSWORD, codes[3])
    page.wait_for_url(lambda url: reverse("core:login") not in url)
    expect(page.get_by_role("status")).to_contain_text("9 codes are left")
    _shot(page, "recovery_code_login.png")
    expect(
        page.get_by_role("link", name="If your phone is lost, set up your authenticator app")
    ).to_have_attribute("href", reverse("core:reenroll"))
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible()

    _log_in(page, "newcomer", PASSWORD, codes[3])
    expect(page.get_by_role("alert")).to_contain_text(
        "That username, password and code do not match"
    )
    assert reverse("core:login") in page.url


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_new_phone_is_set_up_from_the_profile(page, practitioner_a):
    """GIVEN a practitioner with a new phone
    WHEN  they choose "Set up a new authenticator app" on their profile, prove it is them,
          scan the new QR code and type its code
    THEN  the profile says the new app is set up, and only the new device remains."""
    from clinic.core.otp import confirmed_totp_device

    old = confirmed_totp_device(practitioner_a)
    playwright_login(page, page.base_url, practitioner_a)
    page.locator("a.whoami").click()
    expect(page.get_by_role("heading", name="Account security")).to_be_visible()
    _shot(page, "profile_security.png")

    page.get_by_role("link", name="Change your password").click()
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    _shot(page, "password_change.png")
    page.get_by_role("link", name="Cancel").click()

    page.get_by_role("link", name="Set up a new authenticator app").click()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(totp_code(practitioner_a))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Scan the new QR code")).to_be_visible()
    _shot(page, "reenroll_qr.png")
    new = TOTPDevice.objects.get(user=practitioner_a, confirmed=False)
    page.get_by_label("Six-digit code").fill(totp_token(new))
    page.get_by_role("button", name="Confirm the new app").click()
    expect(page.get_by_role("status")).to_contain_text("Your new authenticator app is set up")
    expect(page.get_by_text("Authenticator app replaced")).to_be_visible()
    _shot(page, "profile_after_new_phone.png")
    assert list(TOTPDevice.objects.filter(user=practitioner_a)) == [new]
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()
    assert page.console_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_user_of_two_clinics_switches_clinic_in_the_header(page, clinic_a, clinic_b):
    from clinic.core.services import staff_create

    roaming = staff_create(
        username="roaming",
        password=PASSWORD,
        first_name="Ha-eun",
        last_name="Choi",
        clinic_roles=[(clinic_a, Role.PRACTITIONER), (clinic_b, Role.PRACTITIONER)],
    )
    playwright_login(page, page.base_url, roaming)
    expect(page.get_by_label("Clinic", exact=True)).to_have_value(str(clinic_b.uuid))
    page.get_by_label("Clinic", exact=True).select_option(label="Seoul")
    page.get_by_role("button", name="Switch").click()
    expect(page.locator(".notice")).to_contain_text("Showing Seoul")
    expect(page.get_by_label("Clinic", exact=True)).to_have_value(str(clinic_a.uuid))
    _shot(page, "clinic_switch.png")
    page.get_by_role("link", name="Calendar").click()
    expect(page.get_by_role("heading", name=re.compile("Seoul"))).to_be_visible()
