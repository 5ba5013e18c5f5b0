"""A clinic manager runs the staff lifecycle in a real browser (issue 21).

GIVEN the manager of clinic A, logged in with both factors
WHEN  they invite a practitioner by email, the invitee opens the emailed link, picks a
      username and password, sets up their authenticator app and logs in
AND   the manager then deactivates them (after confirming)
THEN  the invitee's open browser session is refused on its next request: the login page.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from clinic.core.models import Role, User
from clinic.core.otp import totp_token
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path

NEW_PASSWORD = "Velvet-Compass-Orchard-93"


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=artifact_path(name), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_manager_invites_a_practitioner_who_joins_and_is_then_deactivated(
    page, live_server, manager_a, clinic_a, _chromium
):
    # --- the manager invites ---------------------------------------------------------------
    playwright_login(page, live_server.url, manager_a)
    # A manager alone: the staff panel, and no patient pages in the navigation.
    expect(page.get_by_role("heading", name="Staff", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Patients")).to_have_count(0)
    _shot(page, "staff_dashboard_manager.png")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Staff").click()
    expect(page.get_by_role("heading", name="Staff of Seoul")).to_be_visible()
    page.get_by_role("link", name="Invite a colleague").click()
    page.get_by_label("Given name").fill("Jiwoo")
    page.get_by_label("Family name").fill("Han")
    page.get_by_label("Email").fill("jiwoo@clinic.example")
    page.get_by_label("Practitioner").check()
    _shot(page, "staff_invite.png")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invitation sent to jiwoo@clinic.example")
    people = page.get_by_role("region", name="People")
    expect(people.get_by_role("row", name=re.compile("Jiwoo Han"))).to_contain_text("invited")

    # --- the invitee opens the emailed link in their own browser ------------------------------
    link = re.search(r"https?://\S+/staff/join/\S+/", mail.outbox[-1].body).group(0)
    invitee_context = _chromium.new_context(viewport={"width": 1280, "height": 900})
    invitee = invitee_context.new_page()
    try:
        invitee.goto(link)
        expect(invitee.get_by_role("heading", name="Join Seoul")).to_be_visible()
        _shot(invitee, "staff_join.png")
        invitee.get_by_label("Username").fill("jiwoo.han")
        invitee.locator("#id_password1").fill(NEW_PASSWORD)
        invitee.get_by_label("Password again").fill(NEW_PASSWORD)
        invitee.get_by_role("button", name="Create my account").click()

        # Enrolment comes before any page.
        expect(invitee.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
        jiwoo = User.objects.get(username="jiwoo.han")
        device = TOTPDevice.objects.get(user=jiwoo, confirmed=False)
        invitee.get_by_label("Six-digit code").fill(totp_token(device))
        invitee.get_by_role("button", name="Confirm and continue").click()
        # Recovery codes are shown once, straight after enrolment; saving them goes on.
        expect(invitee.get_by_role("heading", name="Your recovery codes")).to_be_visible()
        expect(
            invitee.get_by_role("list", name="Recovery codes").get_by_role("listitem")
        ).to_have_count(10)
        invitee.get_by_role("link", name="I have saved these codes").click()
        expect(invitee.get_by_role("heading", name="Dashboard")).to_be_visible()

        # A fresh login with password and code works.
        invitee.get_by_role("button", name="Log out").click()
        expect(invitee.get_by_text("You are signed out.")).to_be_visible()
        playwright_login(invitee, live_server.url, jiwoo, password=NEW_PASSWORD)
        expect(invitee.get_by_role("heading", name="Dashboard")).to_be_visible()
        assert jiwoo.roles_at(clinic_a) == {Role.PRACTITIONER}

        # --- the manager sees them on the list, then deactivates them ---------------------------
        page.goto(f"{live_server.url}{reverse('staff:clinic', args=[clinic_a.uuid])}")
        people = page.get_by_role("region", name="People")
        row = people.get_by_role("row", name=re.compile("Jiwoo Han"))
        expect(row).to_contain_text("Practitioner")
        expect(row).to_contain_text("set up")
        expect(row).to_contain_text("active")
        _shot(page, "staff_list.png")
        row.get_by_role("link", name="Jiwoo Han").click()
        page.get_by_role("link", name="Deactivate…").click()
        expect(page.get_by_role("heading", name="Deactivate Jiwoo Han?")).to_be_visible()
        _shot(page, "staff_deactivate_confirm.png")
        page.get_by_role("button", name="Yes, deactivate").click()
        expect(page.get_by_role("status")).to_contain_text("Deactivated")
        expect(page.get_by_role("cell", name=re.compile("Deactivated"))).to_be_visible()
        _shot(page, "staff_member_deactivated.png")

        # --- the invitee's open session is refused on its next request ----------------------------
        with invitee.expect_response(lambda r: reverse("dashboard") in r.url):
            invitee.get_by_role("link", name="Dashboard").click()
        expect(invitee.get_by_role("button", name="Log in")).to_be_visible()
        assert reverse("core:login") in invitee.url

        # The invitation link is spent.
        invitee.goto(link)
        expect(invitee.get_by_text("It was already used")).to_be_visible()
        _shot(invitee, "staff_join_used.png")
    finally:
        invitee_context.close()
