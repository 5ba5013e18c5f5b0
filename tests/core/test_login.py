"""Staff login: username + password + the code of the user's authenticator app."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from clinic.core.forms import INVALID_LOGIN
from clinic.core.middleware import SESSION_LOGIN_AT
from clinic.core.otp import confirmed_totp_device, totp_token
from tests.factories import StaffFactory
from tests.kit.auth import PASSWORD, login_staff, totp_code

pytestmark = pytest.mark.django_db

LOGIN = reverse("core:login")


def _errors(response) -> list[str]:
    return [str(e) for e in response.context["form"].non_field_errors()]


def test_the_login_form_asks_for_username_password_and_code_and_no_device_picker(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("username", "password", "otp_token"):
        assert f'name="{name}"' in html
    assert 'name="otp_device"' not in html
    assert 'autocomplete="one-time-code"' in html


def test_it_logs_in_with_the_password_and_a_valid_code_and_verifies_the_session(
    client, practitioner_a
):
    response = login_staff(client, practitioner_a)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    assert (
        client.session[DEVICE_ID_SESSION_KEY] == confirmed_totp_device(practitioner_a).persistent_id
    )
    assert client.get(reverse("dashboard")).status_code == 200


def test_it_refuses_a_wrong_code_with_the_same_message_as_a_wrong_password(client, practitioner_a):
    good = totp_code(practitioner_a)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    wrong_code = login_staff(client, practitioner_a, code=wrong)
    wrong_password = login_staff(client, practitioner_a, password="Not-The-Password-99")
    assert wrong_code.status_code == wrong_password.status_code == 200
    assert _errors(wrong_code) == _errors(wrong_password) == [str(INVALID_LOGIN)]
    assert "_auth_user_id" not in client.session


def test_it_refuses_a_missing_code_from_a_user_who_has_a_device(client, practitioner_a):
    response = login_staff(client, practitioner_a, code="")
    assert response.status_code == 200
    assert _errors(response) == [str(INVALID_LOGIN)]
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("blank", ["username", "password"])
def test_a_blank_username_or_password_is_named_beside_its_field_not_a_server_error(
    client, practitioner_a, blank
):
    """GIVEN a wrong code that emptied the password box WHEN only a new code is typed
    THEN the page says which field is missing (it was a 500)."""
    data = {"username": practitioner_a.username, "password": PASSWORD}
    data[blank] = ""
    response = client.post(LOGIN, {**data, "otp_token": totp_code(practitioner_a)})
    assert response.status_code == 200
    assert response.context["form"].errors[blank] == ["This field is required."]
    assert "_auth_user_id" not in client.session


def test_it_refuses_a_code_that_was_already_used(client, practitioner_a):
    code = totp_code(practitioner_a)
    assert login_staff(client, practitioner_a, code=code).status_code == 302
    client.post(reverse("core:logout"))
    replay = login_staff(client, practitioner_a, code=code)
    assert replay.status_code == 200
    assert "_auth_user_id" not in client.session


def test_it_refuses_the_code_of_another_users_device(client, practitioner_a, front_desk_a):
    response = login_staff(client, practitioner_a, code=totp_code(front_desk_a))
    # Two random secrets share a code one time in a million; the assertion holds otherwise.
    assert response.status_code == 200


def test_it_refuses_a_code_from_ten_minutes_ago(client, practitioner_a):
    device = confirmed_totp_device(practitioner_a)
    old = totp_token(device, at=time.time() - 600)
    assert login_staff(client, practitioner_a, code=old).status_code == 200


def test_an_inactive_user_cannot_log_in_even_with_a_valid_code(client):
    user = StaffFactory(is_active=False)
    assert login_staff(client, user).status_code == 200
    assert "_auth_user_id" not in client.session


def test_it_follows_a_safe_next_and_ignores_an_offsite_one(client, practitioner_a):
    data = {"username": "practitioner_a", "password": PASSWORD}
    ok = client.post(f"{LOGIN}?next=/admin/", {**data, "otp_token": totp_code(practitioner_a)})
    assert ok["Location"] == "/admin/"
    client.post(reverse("core:logout"))
    evil = client.post(
        f"{LOGIN}?next=https://evil.example/", {**data, "otp_token": totp_code(practitioner_a)}
    )
    assert evil["Location"] == reverse("dashboard")


def test_the_login_page_sends_a_verified_user_on_but_shows_the_form_to_a_half_logged_in_one(
    client, practitioner_a
):
    login_staff(client, practitioner_a)
    assert client.get(LOGIN).status_code == 302
    client.post(reverse("core:logout"))
    client.force_login(practitioner_a)  # password only
    assert client.get(LOGIN).status_code == 200


def test_logging_out_ends_the_verified_session(practitioner_client):
    response = practitioner_client.post(reverse("core:logout"))
    assert response.status_code == 302
    assert practitioner_client.get(reverse("dashboard")).status_code == 302


def test_login_starts_the_session_clock(client, practitioner_a):
    before = time.time()
    login_staff(client, practitioner_a)
    assert before <= client.session[SESSION_LOGIN_AT] <= time.time()
