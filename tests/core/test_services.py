"""staff_create and the demo code printer."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.core.models import Membership, Role, User
from clinic.core.otp import confirmed_totp_device, totp_token
from clinic.core.services import staff_create
from tests.kit.auth import PASSWORD, login_staff

pytestmark = pytest.mark.django_db

KEY = "3132333435363738393031323334353637383930"  # RFC 6238's test secret


def test_staff_create_makes_the_user_their_roles_and_a_confirmed_device(clinic_a, clinic_b):
    user = staff_create(
        username="dr_kim",
        password=PASSWORD,
        clinic_roles=[(clinic_a, Role.PRACTITIONER), (clinic_b, Role.SAFETY_LEAD)],
        totp_key_hex=KEY,
    )
    assert user.check_password(PASSWORD)
    assert not user.is_staff
    assert {(m.clinic, m.role) for m in Membership.objects.filter(user=user)} == {
        (clinic_a, Role.PRACTITIONER),
        (clinic_b, Role.SAFETY_LEAD),
    }
    device = confirmed_totp_device(user)
    assert device.key == KEY
    # RFC 6238 appendix B: at T=59 s the 8-digit SHA-1 code is 94287082; 6 digits: 287082.
    assert totp_token(device, at=59) == "287082"


def test_staff_create_refuses_a_weak_password_and_creates_nothing(clinic_a):
    with pytest.raises(ValidationError):
        staff_create(
            username="weak", password="password", clinic_roles=[(clinic_a, "practitioner")]
        )
    assert not User.objects.filter(username="weak").exists()


def test_staff_create_rolls_back_on_an_unknown_role(clinic_a):
    with pytest.raises(ValidationError):
        staff_create(username="odd", password=PASSWORD, clinic_roles=[(clinic_a, "janitor")])
    assert not User.objects.filter(username="odd").exists()
    assert not TOTPDevice.objects.exists()


def test_staff_create_refuses_a_short_or_non_hex_secret(clinic_a):
    for bad in ("abc", "zz" * 20):
        with pytest.raises(ValidationError):
            staff_create(username="k", password=PASSWORD, clinic_roles=[], totp_key_hex=bad)
    assert not User.objects.filter(username="k").exists()


def test_staff_create_is_keyword_only():
    with pytest.raises(TypeError):
        staff_create("x", PASSWORD, [])  # type: ignore[misc]


def test_a_superuser_from_staff_create_may_use_the_admin(clinic_a):
    user = staff_create(
        username="boss",
        password=PASSWORD,
        clinic_roles=[(clinic_a, "safety_lead")],
        is_superuser=True,
    )
    assert user.is_staff and user.is_superuser


def test_demo_totp_refuses_outside_demo_mode(settings, practitioner_a):
    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="DEMO_MODE"):
        call_command("demo_totp", "practitioner_a")


def test_demo_totp_prints_a_code_that_logs_the_demo_user_in(settings, client, practitioner_a):
    settings.DEMO_MODE = True
    out = io.StringIO()
    call_command("demo_totp", "practitioner_a", stdout=out, stderr=io.StringIO())
    code = out.getvalue().strip()
    assert len(code) == 6 and code.isdigit()
    response = login_staff(client, practitioner_a, code=code)
    assert response.status_code == 302


def test_demo_totp_names_an_unknown_user(settings):
    settings.DEMO_MODE = True
    with pytest.raises(CommandError, match="No user named"):
        call_command("demo_totp", "nobody")


def test_debug_mode_is_no_bypass_for_the_second_factor(settings, client, practitioner_a):
    settings.DEBUG = True
    settings.DEMO_MODE = True
    response = login_staff(client, practitioner_a, code="")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
