"""Self-service account security (issue 21): password change and reset, recovery codes, a new
authenticator app. Every change leaves a SecurityEvent row."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.core.account import recovery_codes_issue
from clinic.core.forms import INVALID_LOGIN
from clinic.core.models import RecoveryCode, SecurityEvent, SecurityEventKind
from clinic.core.otp import confirmed_totp_device, totp_token
from clinic.core.recovery import normalise_recovery_code
from tests.kit.auth import PASSWORD, login_staff, totp_code

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Copper-Meadow-Silent-River-77"
PROFILE = reverse("core:profile")
DASHBOARD = reverse("dashboard")
LOGIN = reverse("core:login")
RESET = reverse("core:password_reset")


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # The reset form's rate limits count in the cache, which outlives a test.
    cache.clear()
    yield
    cache.clear()


def _kinds(user) -> list[str]:
    return list(SecurityEvent.objects.filter(user=user).values_list("kind", flat=True))


def _errors(response) -> list[str]:
    return [str(e) for e in response.context["form"].non_field_errors()]


# --- password change -------------------------------------------------------------------------


def test_changing_the_password_logs_out_the_other_sessions_and_keeps_this_one(
    client_as, practitioner_a
):
    """GIVEN a practitioner logged in on two computers
    WHEN  they change their password on one
    THEN  that one stays logged in, and the other is sent to the login on its next request."""
    here, elsewhere = client_as(practitioner_a), client_as(practitioner_a)
    assert elsewhere.get(DASHBOARD).status_code == 200

    response = here.post(
        reverse("core:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == PROFILE
    page = here.get(PROFILE)
    assert page.status_code == 200
    assert "You were logged out everywhere else" in page.content.decode()
    assert here.get(DASHBOARD).status_code == 200
    gone = elsewhere.get(DASHBOARD)
    assert gone.status_code == 302
    assert gone["Location"].startswith(LOGIN)
    practitioner_a.refresh_from_db()
    assert practitioner_a.check_password(NEW_PASSWORD)
    assert _kinds(practitioner_a) == [SecurityEventKind.PASSWORD_CHANGED]


def test_a_wrong_current_password_is_refused_beside_its_field(client_as, practitioner_a):
    client = client_as(practitioner_a)
    response = client.post(
        reverse("core:password_change"),
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["old_password"]
    assert 'aria-invalid="true"' in response.content.decode()
    practitioner_a.refresh_from_db()
    assert practitioner_a.check_password(PASSWORD)
    assert _kinds(practitioner_a) == []


def test_a_weak_new_password_is_refused_by_the_validators(client_as, practitioner_a):
    response = client_as(practitioner_a).post(
        reverse("core:password_change"),
        {"old_password": PASSWORD, "new_password1": "password1", "new_password2": "password1"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    practitioner_a.refresh_from_db()
    assert practitioner_a.check_password(PASSWORD)


def test_the_password_pages_need_both_factors(client, practitioner_a):
    client.force_login(practitioner_a)  # password only
    for name in ("core:password_change", "core:recovery_codes", "core:reenroll"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(LOGIN)


# --- password reset by email ---------------------------------------------------------------


def _reset_link(message) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/password/reset/[^\s]+/[^\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_a_reset_answers_the_same_for_a_known_and_an_unknown_address(client, practitioner_a):
    known = client.post(RESET, {"email": practitioner_a.email}, follow=True)
    unknown = Client().post(RESET, {"email": "nobody@clinic.example"}, follow=True)

    assert known.status_code == unknown.status_code == 200
    assert known.redirect_chain == unknown.redirect_chain
    assert known.content == unknown.content
    assert b"If that address belongs to a staff account" in known.content
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [practitioner_a.email]


def test_the_emailed_link_sets_a_new_password_once_and_the_code_is_still_needed(
    client, practitioner_a
):
    client.post(RESET, {"email": practitioner_a.email})
    link = _reset_link(mail.outbox[0])

    form_page = client.get(link, follow=True)
    assert b"Set a new password" in form_page.content
    set_url = form_page.redirect_chain[-1][0]
    # The token leaves the address bar at once (Django swaps it for the session).
    assert link.rstrip("/").rsplit("/", 1)[-1] not in set_url
    done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert done["Location"] == reverse("core:password_reset_complete")
    practitioner_a.refresh_from_db()
    assert practitioner_a.check_password(NEW_PASSWORD)
    assert _kinds(practitioner_a) == [SecurityEventKind.PASSWORD_RESET]

    again = Client().get(link, follow=True)
    assert b"This link no longer works" in again.content

    # The reset logged no one in, and the new password alone does not.
    assert "_auth_user_id" not in client.session
    no_code = Client()
    refused = login_staff(no_code, practitioner_a, password=NEW_PASSWORD, code="")
    assert refused.status_code == 200
    assert _errors(refused) == [str(INVALID_LOGIN)]
    assert login_staff(Client(), practitioner_a, password=NEW_PASSWORD).status_code == 302


def test_a_reset_link_expires_after_one_hour(client, practitioner_a):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.post(RESET, {"email": practitioner_a.email})
        link = _reset_link(mail.outbox[0])
        clock.shift(timedelta(minutes=59))
        assert b"Set a new password" in Client().get(link, follow=True).content
        clock.shift(timedelta(minutes=2))
        late = Client().get(link, follow=True)
    assert b"This link no longer works" in late.content
    practitioner_a.refresh_from_db()
    assert practitioner_a.check_password(PASSWORD)


def test_a_reset_link_stops_working_once_the_password_changes(client_as, practitioner_a):
    Client().post(RESET, {"email": practitioner_a.email})
    link = _reset_link(mail.outbox[0])
    client_as(practitioner_a).post(
        reverse("core:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert b"This link no longer works" in Client().get(link, follow=True).content


def test_the_reset_form_is_rate_limited_per_address_typed(client, practitioner_a, settings):
    settings.PASSWORD_RESET_RATE_LIMITS = {"ip": "100/h", "email": "3/h"}
    for _ in range(3):
        assert client.post(RESET, {"email": practitioner_a.email}).status_code == 302
    limited = client.post(RESET, {"email": practitioner_a.email})
    assert limited.status_code == 429
    assert b"Too many requests" in limited.content
    assert len(mail.outbox) == 3
    # An unknown address is limited exactly alike, so the limit tells nothing either.
    for _ in range(3):
        client.post(RESET, {"email": "nobody@clinic.example"})
    assert client.post(RESET, {"email": "nobody@clinic.example"}).status_code == 429


def test_the_reset_email_is_in_the_staff_members_language(client, practitioner_a):
    practitioner_a.language = "ko"
    practitioner_a.save(update_fields=["language"])
    client.post(RESET, {"email": practitioner_a.email})
    assert "비밀번호" in mail.outbox[0].subject


def test_the_login_page_offers_a_forgotten_password_link(client):
    html = client.get(LOGIN).content.decode()
    assert f'href="{RESET}"' in html
    assert "Forgot your password?" in html


# --- recovery codes --------------------------------------------------------------------------


def test_recovery_codes_are_stored_only_as_hashes(practitioner_a):
    codes = recovery_codes_issue(user=practitioner_a)
    assert len(codes) == len(set(codes)) == 10
    stored = list(RecoveryCode.objects.filter(device__user=practitioner_a))
    assert len(stored) == 10
    everything = " ".join(f"{r.hashed} {r.pk}" for r in stored)
    for code in codes:
        assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{2}", code)
        assert code not in everything
        assert normalise_recovery_code(code) not in everything
    assert _kinds(practitioner_a) == [SecurityEventKind.RECOVERY_CODES_ISSUED]


def test_a_recovery_code_logs_in_once_and_is_refused_the_second_time(client, practitioner_a):
    """GIVEN a practitioner who lost their phone and kept their recovery codes
    WHEN  they log in with one in place of the six-digit code, and later try it again
    THEN  the first login is verified and tells them how many codes are left; the second fails."""
    codes = recovery_codes_issue(user=practitioner_a)

    response = login_staff(client, practitioner_a, code=codes[0].upper().replace("-", " "))
    assert response.status_code == 302
    dashboard = client.get(DASHBOARD)
    assert dashboard.status_code == 200
    assert "9 codes are left" in dashboard.content.decode()
    assert (
        f'<a href="{reverse("core:reenroll")}">If your phone is lost, set up your authenticator'
        in dashboard.content.decode()
    )
    assert SecurityEventKind.RECOVERY_CODE_USED in _kinds(practitioner_a)

    again = login_staff(Client(), practitioner_a, code=codes[0])
    assert again.status_code == 200
    assert _errors(again) == [str(INVALID_LOGIN)]
    assert login_staff(Client(), practitioner_a, code=codes[1]).status_code == 302


def test_a_made_up_recovery_code_is_refused_and_counts_as_a_failed_login(client, practitioner_a):
    from axes.models import AccessAttempt

    recovery_codes_issue(user=practitioner_a)
    response = login_staff(client, practitioner_a, code="abcd-efgh-jk")
    assert response.status_code == 200
    assert _errors(response) == [str(INVALID_LOGIN)]
    assert AccessAttempt.objects.filter(username=practitioner_a.username).exists()


def test_the_admin_login_does_not_take_a_recovery_code(client, superuser_a):
    codes = recovery_codes_issue(user=superuser_a)
    response = client.post(
        reverse("admin:login"),
        {"username": superuser_a.username, "password": PASSWORD, "otp_token": codes[0]},
    )
    assert response.status_code == 200
    assert DEVICE_ID_SESSION_KEY not in client.session


def test_new_recovery_codes_end_the_old_ones(client_as, practitioner_a):
    old = recovery_codes_issue(user=practitioner_a)
    client = client_as(practitioner_a)
    response = client.post(
        reverse("core:recovery_codes"),
        {"password": PASSWORD, "otp_token": totp_code(practitioner_a)},
    )
    assert response.status_code == 200
    new = response.context["codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert "no-store" in response["Cache-Control"]
    assert b"I have saved these codes" in response.content
    assert RecoveryCode.objects.filter(device__user=practitioner_a).count() == 10

    assert login_staff(Client(), practitioner_a, code=old[2]).status_code == 200
    assert login_staff(Client(), practitioner_a, code=new[2]).status_code == 302


def test_new_recovery_codes_need_the_right_password(client_as, practitioner_a):
    old = recovery_codes_issue(user=practitioner_a)
    response = client_as(practitioner_a).post(
        reverse("core:recovery_codes"),
        {"password": "wrong-password", "otp_token": totp_code(practitioner_a)},
    )
    assert response.status_code == 200
    assert "codes" not in response.context
    assert "That password and code do not match" in response.content.decode()
    assert login_staff(Client(), practitioner_a, code=old[0]).status_code == 302


def test_the_profile_says_how_many_recovery_codes_are_left(client_as, practitioner_a):
    codes = recovery_codes_issue(user=practitioner_a)
    login_staff(Client(), practitioner_a, code=codes[0])
    html = client_as(practitioner_a).get(PROFILE).content.decode()
    assert "Account security" in html
    assert "9 codes left" in html
    for name in ("core:password_change", "core:recovery_codes", "core:reenroll"):
        assert f'href="{reverse(name)}"' in html


# --- a new authenticator app -------------------------------------------------------------------


def test_a_new_authenticator_replaces_the_old_one_only_once_confirmed(client_as, practitioner_a):
    """GIVEN a practitioner with a new phone
    WHEN  they prove it is them, scan the new QR code and confirm its code
    THEN  the old app works until the confirmation, and not after it."""
    client = client_as(practitioner_a)
    old = confirmed_totp_device(practitioner_a)
    proved = client.post(
        reverse("core:reenroll"), {"password": PASSWORD, "otp_token": totp_code(practitioner_a)}
    )
    assert proved.status_code == 302
    assert proved["Location"] == reverse("core:reenroll_confirm")
    page = client.get(reverse("core:reenroll_confirm"))
    assert page.status_code == 200
    assert "<svg" in page.content.decode()
    new = TOTPDevice.objects.get(user=practitioner_a, confirmed=False)
    assert confirmed_totp_device(practitioner_a) == old  # not replaced yet

    wrong = f"{(int(totp_token(new)) + 1) % 1_000_000:06d}"
    refused = client.post(reverse("core:reenroll_confirm"), {"otp_token": wrong})
    assert refused.status_code == 200
    assert refused.context["form"].errors["otp_token"]
    assert confirmed_totp_device(practitioner_a) == old

    new.throttle_reset()  # django-otp's back-off after the wrong code (a second, then two)
    done = client.post(reverse("core:reenroll_confirm"), {"otp_token": totp_token(new)})
    assert done.status_code == 302
    assert done["Location"] == PROFILE
    assert list(TOTPDevice.objects.filter(user=practitioner_a)) == [new]
    new.refresh_from_db()
    assert new.confirmed
    assert client.get(PROFILE).status_code == 200  # still verified, with the new device
    assert SecurityEventKind.AUTHENTICATOR_REPLACED in _kinds(practitioner_a)


def test_a_lost_phone_is_replaced_with_a_recovery_code(client, practitioner_a):
    codes = recovery_codes_issue(user=practitioner_a)
    login_staff(client, practitioner_a, code=codes[0])
    proved = client.post(reverse("core:reenroll"), {"password": PASSWORD, "otp_token": codes[1]})
    assert proved.status_code == 302
    assert client.get(reverse("core:reenroll_confirm")).status_code == 200
    assert RecoveryCode.objects.filter(device__user=practitioner_a, used_at=None).count() == 8


def test_the_new_qr_code_needs_proof_first(client_as, practitioner_a):
    response = client_as(practitioner_a).get(reverse("core:reenroll_confirm"))
    assert response.status_code == 302
    assert response["Location"] == reverse("core:reenroll")
    assert TOTPDevice.objects.filter(user=practitioner_a, confirmed=False).count() == 0


def test_proof_needs_the_password_and_a_code(client_as, practitioner_a):
    client = client_as(practitioner_a)
    response = client.post(reverse("core:reenroll"), {"password": PASSWORD, "otp_token": ""})
    assert response.status_code == 200
    assert response.context["form"].errors["otp_token"]
    assert client.get(reverse("core:reenroll_confirm"))["Location"] == reverse("core:reenroll")


def test_a_reset_links_token_is_redacted_from_log_lines(client, practitioner_a):
    from clinic.core.logredact import redact

    client.post(RESET, {"email": practitioner_a.email})
    link = _reset_link(mail.outbox[0])
    uid, token = link.rstrip("/").split("/")[-2:]
    line = redact(f'"GET {link} HTTP/1.1" 302')
    assert token not in line and uid not in line
    assert "/accounts/password/reset/[uid]/[token]/" in line
    assert redact("GET /accounts/password/reset/sent/") == "GET /accounts/password/reset/sent/"


def test_asking_for_the_password_again_is_rate_limited_per_user(
    client_as, practitioner_a, settings
):
    settings.ACCOUNT_REAUTH_RATE = "3/h"
    client = client_as(practitioner_a)
    wrong = {"password": "guess", "otp_token": "123456"}
    for _ in range(3):
        assert client.post(reverse("core:reenroll"), wrong).status_code == 200
    limited = client.post(reverse("core:recovery_codes"), wrong)
    assert limited.status_code == 429
    assert "Too many attempts" in limited.content.decode()
    also = client.post(
        reverse("core:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert also.status_code == 429
    practitioner_a.refresh_from_db()
    assert practitioner_a.check_password(PASSWORD)


def test_the_profile_lists_recent_changes_to_the_login_in_the_clinics_time(
    client_as, practitioner_a
):
    client = client_as(practitioner_a)
    assert "None yet." in client.get(PROFILE).content.decode()
    with time_machine.travel("2026-03-02 01:30:00+00:00", tick=False):
        recovery_codes_issue(user=practitioner_a)
    html = client.get(PROFILE).content.decode()
    assert "Recent changes to your login" in html
    # 01:30 UTC is 10:30 in Seoul, practitioner_a's clinic.
    assert "2 Mar 2026, 10:30</time>: Recovery codes issued" in html
