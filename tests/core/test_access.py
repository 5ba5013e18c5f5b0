"""staff_required, the scoped page helper, the scoped API base and IsVerifiedStaff."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from clinic.core.access import scoped
from clinic.core.models import Heartbeat, Membership
from tests.factories import ClinicClosureFactory, StaffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.core.scoped_urls")]


def test_staff_required_sends_an_anonymous_visitor_to_login(client):
    response = client.get(reverse("t-any"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("core:login"))


def test_staff_required_lets_every_verified_member_in(client_as, personas):
    for column in ("practitioner", "front desk", "safety lead", "other clinic"):
        assert client_as(personas[column]).get(reverse("t-any")).status_code == 200, column


def test_staff_required_refuses_a_password_only_session(client, practitioner_a):
    client.force_login(practitioner_a)
    response = client.get(reverse("t-any"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("core:login"))


def test_staff_required_refuses_a_verified_user_without_an_active_membership(
    client_as, practitioner_a
):
    Membership.objects.filter(user=practitioner_a).update(active=False)
    assert client_as(practitioner_a).get(reverse("t-any")).status_code == 403


def test_staff_required_with_roles_refuses_other_roles(client_as, personas):
    assert client_as(personas["safety lead"]).get(reverse("t-lead")).status_code == 200
    for column in ("practitioner", "front desk", "other clinic"):
        assert client_as(personas[column]).get(reverse("t-lead")).status_code == 403, column


def test_visible_or_404_answers_404_for_another_clinics_row(
    client_as, practitioner_a, practitioner_b, clinic_a
):
    closure = ClinicClosureFactory(clinic=clinic_a)
    url = reverse("t-closure", kwargs={"uuid": closure.uuid})
    assert client_as(practitioner_a).get(url).status_code == 200
    assert client_as(practitioner_b).get(url).status_code == 404


def test_the_scoped_viewset_lists_only_the_users_clinics(
    client_as, practitioner_a, practitioner_b, clinic_a, clinic_b
):
    mine = ClinicClosureFactory(clinic=clinic_a)
    ClinicClosureFactory(clinic=clinic_b)
    data = client_as(practitioner_a).get(reverse("t-api-list")).json()
    assert [row["uuid"] for row in data] == [str(mine.uuid)]
    other = reverse("t-api-detail", kwargs={"uuid": mine.uuid})
    assert client_as(practitioner_b).get(other).status_code == 404
    assert client_as(practitioner_a).get(other).status_code == 200


def test_the_scoped_viewset_needs_a_verified_second_factor(client, practitioner_a):
    assert client.get(reverse("t-api-list")).status_code == 403
    client.force_login(practitioner_a)
    assert client.get(reverse("t-api-list")).status_code == 403


def test_required_roles_narrow_a_viewset(client_as, practitioner_a, safety_lead_a, clinic_a):
    ClinicClosureFactory(clinic=clinic_a)
    assert client_as(practitioner_a).get(reverse("t-api-lead")).status_code == 403
    assert len(client_as(safety_lead_a).get(reverse("t-api-lead")).json()) == 1


def test_a_user_with_roles_at_two_clinics_sees_both(client_as, clinic_a, clinic_b):
    user = StaffFactory(membership__clinic=clinic_a)
    Membership.objects.create(user=user, clinic=clinic_b, role="front_desk")
    ClinicClosureFactory(clinic=clinic_a)
    ClinicClosureFactory(clinic=clinic_b)
    assert len(client_as(user).get(reverse("t-api-list")).json()) == 2


def test_scoping_a_model_without_a_scoped_queryset_is_a_configuration_error(practitioner_a):
    with pytest.raises(ImproperlyConfigured):
        scoped(Heartbeat.objects.all(), practitioner_a, None)
