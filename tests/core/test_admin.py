"""The admin: two factors, the core models with search and filters."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse
from django_otp.admin import OTPAdminSite

from clinic.core.models import CheckInPlanStep, Clinic, ClinicClosure, Heartbeat, Membership, User
from tests.factories import (
    CheckInPlanStepFactory,
    ClinicClosureFactory,
    HeartbeatFactory,
    StaffFactory,
    UserFactory,
)
from tests.kit.auth import PASSWORD, totp_code

pytestmark = pytest.mark.django_db

CORE_MODELS = [User, Clinic, ClinicClosure, CheckInPlanStep, Membership, Heartbeat]


def _admin_login(client, user, code):
    return client.post(
        reverse("admin:login"),
        {
            "username": user.username,
            "password": PASSWORD,
            "otp_token": code,
            "next": reverse("admin:index"),
        },
    )


def test_the_admin_site_requires_a_second_factor():
    assert isinstance(admin.site, OTPAdminSite)


@pytest.mark.parametrize("model", CORE_MODELS, ids=lambda m: m.__name__)
def test_every_core_model_is_in_the_admin_with_search(model):
    model_admin = admin.site._registry[model]
    assert model_admin.search_fields


def test_a_superuser_logs_into_the_admin_with_password_and_code(client, superuser_a):
    response = _admin_login(client, superuser_a, totp_code(superuser_a))
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_the_admin_login_refuses_a_wrong_code(client, superuser_a):
    code = f"{(int(totp_code(superuser_a)) + 1) % 1_000_000:06d}"
    assert _admin_login(client, superuser_a, code).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302


def test_the_admin_login_refuses_staff_without_is_staff(client, practitioner_a):
    assert _admin_login(client, practitioner_a, totp_code(practitioner_a)).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302


def test_the_admin_login_refuses_an_admin_without_a_device(client):
    boss = UserFactory(is_staff=True, is_superuser=True)
    response = _admin_login(client, boss, "")
    assert response.status_code == 200
    assert "authenticator" in response.content.decode()


def test_the_admin_changelists_search_and_filter(client_as, superuser_a, clinic_a):
    ClinicClosureFactory(clinic=clinic_a)
    CheckInPlanStepFactory(clinic=clinic_a)
    HeartbeatFactory()
    StaffFactory(membership__clinic=clinic_a)
    client = client_as(superuser_a)
    for model in CORE_MODELS:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert client.get(url, {"q": "a"}).status_code == 200, url
    filtered = client.get(reverse("admin:core_membership_changelist"), {"role": "practitioner"})
    assert filtered.status_code == 200


def test_the_user_admin_shows_memberships_inline(client_as, superuser_a, practitioner_a):
    url = reverse("admin:core_user_change", args=[practitioner_a.pk])
    response = client_as(superuser_a).get(url)
    assert response.status_code == 200
    assert "memberships-TOTAL_FORMS" in response.content.decode()
