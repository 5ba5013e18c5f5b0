"""Issue 21: several roles per clinic, the manager role and the staff lifecycle (invitations,
roles, deactivation, second-factor reset), each change audited."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.password_validation import validate_password
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from clinic.core.logredact import redact
from clinic.core.models import (
    Invitation,
    Membership,
    Role,
    StaffAction,
    StaffAuditEvent,
    User,
)
from clinic.core.services import invitation_create, staff_create
from tests.factories import PatientFactory
from tests.kit.auth import PASSWORD, login_staff
from tests.kit.queries import assert_constant_queries

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Velvet-Compass-Orchard-93"


def _invite(client, clinic, **overrides):
    data = {
        "first_name": "Jiwoo",
        "last_name": "Han",
        "email": "jiwoo@clinic.example",
        "username": "",
        "roles": [Role.PRACTITIONER],
    } | overrides
    return client.post(reverse("staff:invite", args=[clinic.uuid]), data)


def _link_from_mail() -> str:
    body = mail.outbox[-1].body
    return re.search(r"https?://\S+/staff/join/\S+/", body).group(0)


def _path(link: str) -> str:
    return link.split("testserver", 1)[-1]


def _member_url(name, clinic, user) -> str:
    return reverse(f"staff:{name}", args=[clinic.uuid, user.uuid])


# --- several roles per clinic --------------------------------------------------------------


def test_a_user_with_two_roles_at_one_clinic_sees_the_union(client_as, clinic_a):
    """GIVEN a practitioner who also works the front desk at clinic A
    WHEN they open a clinical chart and the front desk's call list
    THEN both open, and the navigation shows both roles' links."""
    both = staff_create(
        username="both_a",
        password=PASSWORD,
        clinic_roles=[(clinic_a, Role.PRACTITIONER), (clinic_a, Role.FRONT_DESK)],
    )
    assert Membership.objects.filter(user=both, clinic=clinic_a).count() == 2
    patient = PatientFactory(clinic=clinic_a)
    client = client_as(both)
    assert client.get(reverse("clinical:chart", args=[patient.uuid])).status_code == 200
    assert client.get(reverse("patients:calls")).status_code == 200
    page = client.get(reverse("dashboard")).content.decode()
    assert reverse("charts") in page and reverse("patients:calls") in page


def test_the_same_role_twice_at_one_clinic_is_refused(practitioner_a, clinic_a):
    with pytest.raises(ValidationError, match="already has this role"):
        Membership(user=practitioner_a, clinic=clinic_a, role=Role.PRACTITIONER).full_clean()


# --- the manager sees staff, never patients -------------------------------------------------


def test_a_manager_alone_sees_no_patient_pages_nor_the_api(client_as, manager_a, clinic_a):
    patient = PatientFactory(clinic=clinic_a, first_name="Soyeon", last_name="Baek")
    client = client_as(manager_a)
    for url in (
        reverse("patients:search"),
        reverse("patients:detail", args=[patient.uuid]),
        reverse("treatments:calendar"),
        reverse("patients:calls"),
        reverse("clinical:chart", args=[patient.uuid]),
        reverse("charts"),
        reverse("api:patient-list"),
    ):
        assert client.get(url).status_code == 403, url
    dashboard = client.get(reverse("dashboard"))
    assert dashboard.status_code == 200
    html = dashboard.content.decode()
    assert "Baek" not in html
    assert reverse("staff:clinic", args=[clinic_a.uuid]) in html  # the staff panel
    assert reverse("patients:search") not in html  # no Patients link in the navigation


def test_a_manager_who_is_also_a_practitioner_sees_patients_and_staff(client_as, clinic_a):
    both = staff_create(
        username="boss_a",
        password=PASSWORD,
        clinic_roles=[(clinic_a, Role.MANAGER), (clinic_a, Role.PRACTITIONER)],
    )
    patient = PatientFactory(clinic=clinic_a)
    client = client_as(both)
    assert client.get(reverse("clinical:chart", args=[patient.uuid])).status_code == 200
    assert client.get(reverse("staff:clinic", args=[clinic_a.uuid])).status_code == 200


def test_another_clinics_manager_gets_404_for_this_clinics_staff(
    client_as, clinic_a, clinic_b, practitioner_a
):
    manager_b = staff_create(
        username="manager_b", password=PASSWORD, clinic_roles=[(clinic_b, Role.MANAGER)]
    )
    client = client_as(manager_b)
    assert client.get(reverse("staff:clinic", args=[clinic_a.uuid])).status_code == 404
    assert client.get(_member_url("member", clinic_a, practitioner_a)).status_code == 404
    # and a colleague of clinic B is not reachable under clinic B's list either
    assert client.get(_member_url("member", clinic_b, practitioner_a)).status_code == 404


def test_the_staff_list_shows_name_roles_last_login_second_factor_and_status(
    client_as, manager_a, clinic_a, practitioner_a, front_desk_a
):
    practitioner_a.last_login = timezone.now().replace(
        year=2026, month=3, day=2, hour=1, minute=30, second=0, microsecond=0
    )
    practitioner_a.first_name, practitioner_a.last_name = "Seohyun", "Park"
    practitioner_a.save()
    TOTPDevice.objects.filter(user=front_desk_a).delete()
    User.objects.filter(pk=front_desk_a.pk).update(is_active=False)
    html = client_as(manager_a).get(reverse("staff:clinic", args=[clinic_a.uuid])).content.decode()
    assert "Seohyun Park" in html
    assert "Practitioner" in html and "Front desk" in html
    assert "2 Mar 2026 10:30" in html  # 01:30 UTC is 10:30 in Seoul
    assert "not set up" in html and "deactivated" in html and "active" in html


def test_the_staff_list_costs_the_same_queries_for_more_people(client_as, manager_a, clinic_a):
    counter = iter(range(1000))

    def grow(n: int) -> None:
        for _ in range(n):
            i = next(counter)
            staff_create(
                username=f"colleague{i}",
                password=PASSWORD,
                clinic_roles=[(clinic_a, Role.PRACTITIONER), (clinic_a, Role.FRONT_DESK)],
                first_name=f"Colleague {i:03d}",
            )

    assert_constant_queries(
        client_as(manager_a), reverse("staff:clinic", args=[clinic_a.uuid]), grow, expected=13
    )


def test_the_staff_list_pages_by_name(client_as, manager_a, clinic_a, settings):
    from clinic.core import selectors

    for i in range(5):
        staff_create(
            username=f"p{i}",
            password=PASSWORD,
            clinic_roles=[(clinic_a, Role.PRACTITIONER)],
            first_name=f"Name{i}",
        )
    first = selectors.staff_page(clinic=clinic_a, size=3)
    assert first.next_after
    second = selectors.staff_page(clinic=clinic_a, after=first.next_after, size=3)
    names = [u.display_name for u in first.rows + second.rows]
    assert len(names) == 6 and len(set(names)) == 6
    assert second.next_after is None


# --- invitations -------------------------------------------------------------------------


def test_an_invitation_is_emailed_and_only_its_hash_is_stored(client_as, manager_a, clinic_a):
    response = _invite(client_as(manager_a), clinic_a)
    assert response.status_code == 302
    link = _link_from_mail()
    token = link.rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get()
    assert mail.outbox[-1].to == ["jiwoo@clinic.example"]
    assert token not in invitation.token_hash and len(invitation.token_hash) == 64
    assert invitation.expires_at - timezone.now() > timedelta(hours=71)
    event = StaffAuditEvent.objects.get(action=StaffAction.INVITED)
    assert event.actor == manager_a and event.subject_name == "Jiwoo Han"


def test_an_invitation_without_a_role_is_refused_naming_the_field(client_as, manager_a, clinic_a):
    response = _invite(client_as(manager_a), clinic_a, roles=[], email="not-an-email")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Choose at least one role" in html and "valid email" in html
    assert not Invitation.objects.exists() and not mail.outbox


def test_the_invitee_joins_once_and_must_set_up_the_authenticator_first(
    client, client_as, manager_a, clinic_a
):
    """GIVEN an emailed invitation WHEN the invitee picks a username and password
    THEN they hold the invited roles, land on enrolment, and the link works no more."""
    _invite(client_as(manager_a), clinic_a, roles=[Role.PRACTITIONER, Role.FRONT_DESK])
    path = _path(_link_from_mail())
    assert client.get(path).status_code == 200
    response = client.post(
        path, {"username": "jiwoo", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("core:enrollment"))
    jiwoo = User.objects.get(username="jiwoo")
    assert jiwoo.display_name == "Jiwoo Han" and jiwoo.email == "jiwoo@clinic.example"
    assert jiwoo.roles_at(clinic_a) == {Role.PRACTITIONER, Role.FRONT_DESK}
    # Every page sends them to set up the authenticator app first.
    dashboard = client.get(reverse("dashboard"))
    assert dashboard.status_code == 302
    assert dashboard["Location"].startswith(reverse("core:enrollment"))
    # Single use
    again = Client_fresh().get(path)
    assert again.status_code == 410
    assert "already used" in again.content.decode()
    assert StaffAuditEvent.objects.filter(action=StaffAction.INVITATION_ACCEPTED).exists()


def Client_fresh():  # noqa: N802 - reads like the class it makes
    from django.test import Client

    return Client()


def test_an_invitation_expires_after_72_hours(client, manager_a, clinic_a):
    _invitation, token = invitation_create(
        clinic=clinic_a,
        invited_by=manager_a,
        first_name="Late",
        email="late@clinic.example",
        roles=[Role.FRONT_DESK],
    )
    path = reverse("staff:join", args=[token])
    with time_machine.travel(timezone.now() + timedelta(hours=71, minutes=59)):
        assert client.get(path).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=72, minutes=1)):
        response = client.get(path)
        assert response.status_code == 410
        assert "expired" in response.content.decode()
        posted = client.post(
            path, {"username": "late", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
        )
        assert posted.status_code == 410
    assert not User.objects.filter(username="late").exists()


def test_an_unknown_or_withdrawn_link_gets_the_invalid_page(client, client_as, manager_a, clinic_a):
    invitation, token = invitation_create(
        clinic=clinic_a, invited_by=manager_a, first_name="X", email="x@clinic.example",
        roles=[Role.FRONT_DESK],
    )  # fmt: skip
    assert client.get(reverse("staff:join", args=["nonsense"])).status_code == 410
    withdraw = reverse("staff:invitation_withdraw", args=[clinic_a.uuid, invitation.uuid])
    assert client_as(manager_a).post(withdraw, {"confirm": "yes"}).status_code == 302
    response = client.get(reverse("staff:join", args=[token]))
    assert response.status_code == 410
    assert "not a valid invitation" in response.content.decode()


def test_the_password_must_pass_the_validators_with_the_larger_common_list(
    client, manager_a, clinic_a
):
    # "websolutions" is 12 characters and on the shipped list, not on Django's own 20,000.
    with pytest.raises(ValidationError, match="too common"):
        validate_password("websolutions")
    _invitation, token = invitation_create(
        clinic=clinic_a, invited_by=manager_a, first_name="Weak", email="w@clinic.example",
        roles=[Role.FRONT_DESK],
    )  # fmt: skip
    response = client.post(
        reverse("staff:join", args=[token]),
        {"username": "weak", "password1": "websolutions", "password2": "websolutions"},
    )
    assert response.status_code == 400
    assert "too common" in response.content.decode()
    mismatch = client.post(
        reverse("staff:join", args=[token]),
        {"username": "weak", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"},
    )
    assert "The two passwords differ" in mismatch.content.decode()
    assert not User.objects.filter(username="weak").exists()


def test_a_username_given_by_the_manager_is_used(client, manager_a, clinic_a):
    _invitation, token = invitation_create(
        clinic=clinic_a, invited_by=manager_a, first_name="Given", email="g@clinic.example",
        roles=[Role.FRONT_DESK], username="given.name",
    )  # fmt: skip
    client.post(
        reverse("staff:join", args=[token]),
        {"username": "other", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert User.objects.filter(username="given.name").exists()
    assert not User.objects.filter(username="other").exists()


def test_the_invitation_token_never_reaches_a_log_line():
    assert redact("GET /staff/join/abcDEF_123-xyz/ HTTP/1.1") == (
        "GET /staff/join/[token]/ HTTP/1.1"
    )


# --- roles, deactivation, second factor ------------------------------------------------------


def test_a_role_change_applies_on_the_users_next_request(
    client_as, manager_a, clinic_a, practitioner_a
):
    patient = PatientFactory(clinic=clinic_a)
    practitioner = client_as(practitioner_a)
    chart = reverse("clinical:chart", args=[patient.uuid])
    assert practitioner.get(chart).status_code == 200
    response = client_as(manager_a).post(
        _member_url("member_roles", clinic_a, practitioner_a), {"roles": [Role.FRONT_DESK]}
    )
    assert response.status_code == 302
    assert practitioner.get(chart).status_code == 403
    assert practitioner.get(reverse("patients:calls")).status_code == 200
    actions = set(StaffAuditEvent.objects.values_list("action", "detail"))
    assert actions == {
        (StaffAction.ROLE_ADDED, "Front desk"),
        (StaffAction.ROLE_REMOVED, "Practitioner"),
    }


def test_roles_cannot_be_emptied_and_a_manager_keeps_their_own_manager_role(
    client_as, manager_a, clinic_a, practitioner_a
):
    client = client_as(manager_a)
    empty = client.post(_member_url("member_roles", clinic_a, practitioner_a), {})
    assert empty.status_code == 400
    assert "Choose at least one role" in empty.content.decode()
    own = client.post(_member_url("member_roles", clinic_a, manager_a), {"roles": ["front_desk"]})
    assert own.status_code == 400
    assert "cannot remove your own manager role" in own.content.decode()
    assert manager_a.roles_at(clinic_a) == {Role.MANAGER}


def test_deactivation_asks_first(client_as, manager_a, clinic_a, practitioner_a):
    client = client_as(manager_a)
    url = _member_url("member_deactivate", clinic_a, practitioner_a)
    page = client.get(url)
    assert page.status_code == 200 and "Yes, deactivate" in page.content.decode()
    assert client.post(url, {}).status_code == 400
    practitioner_a.refresh_from_db()
    assert practitioner_a.is_active


def test_deactivation_ends_the_users_session_and_api_token_on_the_next_request(
    client, client_as, manager_a, clinic_a, practitioner_a
):
    """GIVEN a practitioner logged in (both factors) who also holds an API token
    WHEN the manager deactivates them THEN their next page and API call are refused,
    their records stay, and the manager can reactivate them."""
    assert login_staff(client, practitioner_a).status_code == 302
    assert client.get(reverse("patients:calls")).status_code == 200
    _token_row, token = AuthToken.objects.create(practitioner_a)
    api = reverse("api:patient-list")
    assert client_fresh_api(token).get(api).status_code == 200

    manager = client_as(manager_a)
    response = manager.post(
        _member_url("member_deactivate", clinic_a, practitioner_a), {"confirm": "yes"}
    )
    assert response.status_code == 302

    refused = client.get(reverse("patients:calls"))
    assert refused.status_code == 302 and refused["Location"].startswith(reverse("core:login"))
    assert client_fresh_api(token).get(api).status_code == 401
    assert not AuthToken.objects.filter(user=practitioner_a).exists()
    assert Membership.objects.filter(user=practitioner_a).exists()  # records stay
    assert login_staff(Client_fresh(), practitioner_a).status_code == 200  # cannot log in

    manager.post(_member_url("member_reactivate", clinic_a, practitioner_a), {"confirm": "yes"})
    assert login_staff(Client_fresh(), practitioner_a).status_code == 302
    actions = list(
        StaffAuditEvent.objects.filter(subject=practitioner_a).values_list("action", flat=True)
    )
    assert actions == [StaffAction.REACTIVATED, StaffAction.DEACTIVATED]
    listing = manager.get(reverse("staff:clinic", args=[clinic_a.uuid])).content.decode()
    assert "Deactivated" in listing and "Reactivated" in listing


def client_fresh_api(token: str):
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def test_a_manager_cannot_deactivate_themselves(client_as, manager_a, clinic_a):
    response = client_as(manager_a).post(
        _member_url("member_deactivate", clinic_a, manager_a), {"confirm": "yes"}
    )
    assert response.status_code == 400
    manager_a.refresh_from_db()
    assert manager_a.is_active


def test_resetting_the_second_factor_ends_sessions_and_asks_for_enrolment_at_login(
    client, client_as, manager_a, clinic_a, practitioner_a
):
    assert login_staff(client, practitioner_a).status_code == 302
    manager = client_as(manager_a)
    url = _member_url("member_reset_second_factor", clinic_a, practitioner_a)
    assert "Yes, reset the app" in manager.get(url).content.decode()
    assert manager.post(url, {"confirm": "yes"}).status_code == 302
    assert not TOTPDevice.objects.filter(user=practitioner_a).exists()
    refused = client.get(reverse("patients:calls"))
    assert refused["Location"].startswith(reverse("core:login"))
    # Password alone now: the login goes to enrolment.
    again = Client_fresh().post(
        reverse("core:login"),
        {"username": practitioner_a.username, "password": PASSWORD, "otp_token": ""},
    )
    assert again.status_code == 302
    assert again["Location"].startswith(reverse("core:enrollment"))
    assert StaffAuditEvent.objects.filter(action=StaffAction.SECOND_FACTOR_RESET).count() == 1


def test_managing_a_clinic_gives_no_patient_work_there(clinic_a, clinic_b):
    """A front desk of clinic A who manages clinic B registers and books patients only at A:
    a view that names no roles gets the clinics where the user works with patients."""
    from clinic.core.access import visible
    from clinic.core.models import MANAGER_ONLY, Clinic

    both = staff_create(
        username="desk_and_boss",
        password=PASSWORD,
        clinic_roles=[(clinic_a, Role.FRONT_DESK), (clinic_b, Role.MANAGER)],
    )
    assert list(visible(Clinic, both)) == [clinic_a]
    assert list(visible(Clinic, both, roles=MANAGER_ONLY)) == [clinic_b]
    PatientFactory(clinic=clinic_b, last_name="Okafor")
    from patients.models import Patient

    assert not visible(Patient, both).filter(clinic=clinic_b).exists()
