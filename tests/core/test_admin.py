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


# --- issue 21: superusers only, nothing deleted, signed records read-only -------------------


def test_staff_who_are_not_superusers_are_refused_by_the_admin(client, client_as, clinic_a):
    from clinic.core.services import staff_create

    staff_only = staff_create(
        username="staffer", password=PASSWORD, clinic_roles=[(clinic_a, "front_desk")]
    )
    User.objects.filter(pk=staff_only.pk).update(is_staff=True)
    staff_only.refresh_from_db()
    # The login form refuses them with the same message as a wrong password...
    assert _admin_login(client, staff_only, totp_code(staff_only)).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302
    # ...and a verified session of theirs does not get in either.
    verified = client_as(staff_only)
    for name in ("admin:index", "admin:patients_patient_changelist"):
        response = verified.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("admin:login"))


def test_no_registered_model_admin_can_delete(rf, superuser_a):
    request = rf.get("/admin/")
    request.user = superuser_a
    deletable = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_delete_permission(request)
        or model_admin.has_delete_permission(request, model())
    ]
    assert deletable == []
    assert "delete_selected" not in dict(admin.site.actions)


def test_audit_and_access_log_rows_addenda_and_assessments_are_read_only(rf, superuser_a):
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    from adverse_events.models import Assessment
    from clinic.core.models import Invitation, StaffAuditEvent
    from patients.models import PatientAccess
    from treatments.models import SessionAddendum

    request = rf.get("/admin/")
    request.user = superuser_a
    for model in (
        Assessment,
        SessionAddendum,
        PatientAccess,
        StaffAuditEvent,
        Invitation,
        AccessAttempt,
        AccessLog,
        AccessFailureLog,
    ):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request, model()), model
        assert model_admin.has_view_permission(request, model()), model


def test_a_signed_session_is_read_only_in_the_admin(client_as, superuser_a, practitioner_a):
    from tests.kit.world import logged_session
    from treatments.models import SessionStatus, TreatmentSession

    session = logged_session(practitioner_a, notes="Original notes")
    url = reverse("admin:treatments_treatmentsession_change", args=[session.pk])
    client = client_as(superuser_a)
    open_page = client.get(url).content.decode()
    assert 'name="_save"' in open_page  # an open session may still be corrected

    TreatmentSession.objects.filter(pk=session.pk).update(
        status=SessionStatus.SIGNED, signed_by=practitioner_a, signed_at=session.performed_at
    )
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = client.post(url, {"notes": "Rewritten", "status": SessionStatus.OPEN})
    assert response.status_code == 403
    session.refresh_from_db()
    assert session.status == SessionStatus.SIGNED and session.notes == "Original notes"
    delete = client.get(reverse("admin:treatments_treatmentsession_delete", args=[session.pk]))
    assert delete.status_code == 403
