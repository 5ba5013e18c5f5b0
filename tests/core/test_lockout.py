"""Lockout after repeated failures (django-axes), for wrong passwords and wrong codes alike."""

from __future__ import annotations

import time

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

from tests.kit.auth import login_staff, totp_code

pytestmark = pytest.mark.django_db


def _wrong(user) -> str:
    return f"{(int(totp_code(user)) + 1) % 1_000_000:06d}"


def _is_lockout_page(response) -> bool:
    return response.status_code == 429 and "core/lockout.html" in [
        t.name for t in response.templates
    ]


def test_wrong_codes_lock_the_account_after_the_failure_limit(client, practitioner_a):
    """GIVEN the right password WHEN the code is wrong AXES_FAILURE_LIMIT times THEN locked."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login_staff(client, practitioner_a, code=_wrong(practitioner_a)).status_code == 200
    assert _is_lockout_page(login_staff(client, practitioner_a, code=_wrong(practitioner_a)))
    # Now even both right factors are refused until the cool-off ends.
    assert _is_lockout_page(login_staff(client, practitioner_a))
    assert "_auth_user_id" not in client.session


def test_missing_codes_count_as_failures_too(client, practitioner_a):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = login_staff(client, practitioner_a, code="")
    assert _is_lockout_page(response)


def test_wrong_passwords_lock_the_account_with_the_lockout_page(client, practitioner_a):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = login_staff(client, practitioner_a, password="Wrong-Password-12345")
    assert _is_lockout_page(response)
    html = response.content.decode()
    assert "Login temporarily locked" in html
    assert 'id="main"' in html  # the site's own page, with its landmarks
    assert "safety lead" in html


def test_the_lock_is_per_account_so_a_colleague_still_logs_in(client, practitioner_a, front_desk_a):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login_staff(client, practitioner_a, code=_wrong(practitioner_a))
    response = login_staff(client, front_desk_a)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")


def test_a_successful_login_clears_earlier_failures(client, practitioner_a):
    with time_machine.travel(time.time(), tick=True) as traveller:
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            login_staff(client, practitioner_a, code=_wrong(practitioner_a))
        traveller.shift(60)  # past django-otp's back-off after four wrong codes
        assert login_staff(client, practitioner_a).status_code == 302
        client.post(reverse("core:logout"))
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            response = login_staff(client, practitioner_a, code=_wrong(practitioner_a))
            assert response.status_code == 200


def test_a_right_code_during_the_devices_back_off_is_refused_but_not_counted(
    client, practitioner_a
):
    """GIVEN four wrong codes (django-otp now refuses codes for 8 s)
    WHEN the right code comes at once THEN it is refused with "wait", not as a fifth failure
    AND after the back-off the right code logs in."""
    with time_machine.travel(time.time(), tick=True) as traveller:
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            login_staff(client, practitioner_a, code=_wrong(practitioner_a))
        response = login_staff(client, practitioner_a)
        assert response.status_code == 200  # not 429
        assert "Wait for the next code" in response.content.decode()
        traveller.shift(60)
        assert login_staff(client, practitioner_a).status_code == 302
