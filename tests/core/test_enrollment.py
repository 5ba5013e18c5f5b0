"""First login without an authenticator app: enrol one before any staff page opens."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.core.models import Role
from clinic.core.otp import totp_token
from tests.factories import MembershipFactory, UserFactory
from tests.kit.auth import PASSWORD, login_staff
from tests.kit.templates_scan import inline_violations

pytestmark = pytest.mark.django_db

ENROLL = reverse("core:enrollment")


@pytest.fixture
def newcomer(clinic_a):
    """A practitioner whose account was made without a device (e.g. in the admin)."""
    user = UserFactory(username="newcomer")
    MembershipFactory(user=user, clinic=clinic_a, role=Role.PRACTITIONER)
    return user


def _pending(user) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user, confirmed=False)


def test_after_the_password_a_user_without_a_device_is_sent_to_enrolment(client, newcomer):
    response = login_staff(client, newcomer, code="")
    assert response.status_code == 302
    assert response["Location"].startswith(ENROLL)
    assert DEVICE_ID_SESSION_KEY not in client.session


def test_an_unenrolled_user_reaches_no_staff_page(client, newcomer):
    login_staff(client, newcomer, code="")
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(ENROLL)
    admin = client.get(reverse("admin:index"))
    assert admin.status_code == 302
    assert admin["Location"].startswith(reverse("admin:login"))


def test_the_enrolment_page_shows_an_svg_qr_code_and_the_secret_without_inline_styles(
    client, newcomer
):
    login_staff(client, newcomer, code="")
    response = client.get(ENROLL)
    assert response.status_code == 200
    html = response.content.decode()
    svg = re.search(r"<svg\b.*?</svg>", html, re.S)
    assert svg, "no inline SVG QR code"
    assert "<path" in svg.group(0)
    assert inline_violations(svg.group(0)) == []
    secret = response.context["secret"].replace(" ", "")
    assert len(secret) == 32  # 20 bytes in base32
    assert "style=" not in html


def test_enrolment_keeps_the_same_secret_across_reloads(client, newcomer):
    login_staff(client, newcomer, code="")
    first = client.get(ENROLL).context["secret"]
    second = client.get(ENROLL).context["secret"]
    assert first == second
    assert TOTPDevice.objects.filter(user=newcomer).count() == 1


def test_a_valid_code_confirms_the_device_and_verifies_the_session(client, newcomer):
    login_staff(client, newcomer, code="")
    client.get(ENROLL)
    device = _pending(newcomer)
    response = client.post(f"{ENROLL}?next=/dashboard/", {"otp_token": totp_token(device)})
    # The answer is the page of new recovery codes, which continues to where the user was going.
    assert response.status_code == 200
    assert len(response.context["codes"]) == 10
    assert 'href="/dashboard/"' in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.get(reverse("dashboard")).status_code == 200


def test_a_wrong_code_does_not_confirm_the_device(client, newcomer):
    login_staff(client, newcomer, code="")
    client.get(ENROLL)
    device = _pending(newcomer)
    wrong = f"{(int(totp_token(device)) + 1) % 1_000_000:06d}"
    response = client.post(ENROLL, {"otp_token": wrong})
    assert response.status_code == 200
    assert response.context["form"].errors["otp_token"]
    assert 'aria-invalid="true"' in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert client.get(reverse("dashboard"))["Location"].startswith(ENROLL)


def test_after_enrolment_the_next_login_needs_the_code(client, newcomer):
    login_staff(client, newcomer, code="")
    client.get(ENROLL)
    client.post(ENROLL, {"otp_token": totp_token(_pending(newcomer))})
    client.post(reverse("core:logout"))
    response = client.post(
        reverse("core:login"), {"username": "newcomer", "password": PASSWORD, "otp_token": ""}
    )
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_user_who_has_a_device_cannot_enrol_another_with_the_password_alone(
    client, practitioner_a
):
    client.force_login(practitioner_a)  # password passed, code not
    response = client.get(ENROLL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("core:login"))
    assert TOTPDevice.objects.filter(user=practitioner_a).count() == 1
    dashboard = client.get(reverse("dashboard"))
    assert dashboard["Location"].startswith(reverse("core:login"))


def test_enrolment_needs_a_logged_in_user(client):
    response = client.get(ENROLL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("core:login"))
