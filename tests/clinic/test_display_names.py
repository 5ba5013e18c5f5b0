"""People appear by name (issue 20, "People"): every staff page, the CSV exports and the staff
pickers show a staff member's display name, never the username they log in with; a
practitioner picker offers only the practitioners of the clinic in question."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from adverse_events.models import SignalStatus
from clinic.core.models import BOOKABLE_ROLES, Membership, Role, User
from clinic.core.selectors import staff_with_role
from clinic.core.services import staff_create
from patients.models import Patient
from patients.services import patient_update
from tests.factories import (
    AppointmentFactory,
    AssessmentFactory,
    LotSignalFactory,
    MembershipFactory,
    PatientFactory,
    ReactionReportFactory,
    SessionAddendumFactory,
    TreatmentSessionFactory,
    UserFactory,
)
from tests.kit.auth import PASSWORD
from tests.kit.role_matrix import parse_matrix
from tests.kit.url_samples import URL_KWARGS, MatrixWorld
from treatments.models import ProductLot, TreatmentSession

# Demo-like staff: a username that is not their name, as at a real clinic.
DEMO_NAMES = {
    "practitioner": ("seoul.practitioner", "Ji-woo", "Kim"),
    "front desk": ("seoul.frontdesk", "Seo-yeon", "Lee"),
    "safety lead": ("seoul.safety", "Hyun-woo", "Choi"),
    "manager": ("seoul.manager", "Ye-jin", "Jung"),
    "other clinic": ("ny.practitioner", "Olivia", "Brown"),
}

# Where a username is the point: the profile's "You log in as <strong>…</strong>" and the
# manager's staff pages (a colleague's login, under their name). Each pattern removes that
# one slot; a username anywhere else on these pages still fails.
LOGIN_NAME_SLOTS = {
    "core:profile": [r"<strong>{u}</strong>"],
    "staff:list": [r'<br><span class="hint">{u}</span>'],
    "staff:clinic": [r'<br><span class="hint">{u}</span>'],
    "staff:member": [r"<dd>{u}</dd>"],
}

# Pages that are not staff pages showing people: the API (its own contract), the admin
# (superusers only), probes and metrics.
NOT_SCANNED = ("api:", "api-", "admin:", "healthz", "metrics", "core:healthz")


def _rename(user: User, username: str, first: str, last: str) -> User:
    User.objects.filter(pk=user.pk).update(username=username, first_name=first, last_name=last)
    user.refresh_from_db()
    return user


@pytest.fixture
def named(
    clinic_a: Any,
    clinic_b: Any,
    personas: dict[str, Any],
    superuser_a: Any,
) -> dict[str, Any]:
    """The personas renamed like the demo's staff, a second Seoul practitioner and a second
    New York one, and records that show each of them: sessions, a signed session with an
    addendum, reactions assessed by the safety lead, a reviewed lot signal, appointments."""
    for column, (username, first, last) in DEMO_NAMES.items():
        _rename(personas[column], username, first, last)
    second = staff_create(
        username="seoul.practitioner2",
        password=PASSWORD,
        clinic_roles=[(clinic_a, Role.PRACTITIONER)],
        first_name="Min-jun",
        last_name="Park",
    )
    ny_second = staff_create(
        username="ny.practitioner2",
        password=PASSWORD,
        clinic_roles=[(clinic_b, Role.PRACTITIONER)],
        first_name="Ethan",
        last_name="Miller",
    )
    _rename(superuser_a, "admin", "Ada", "Admin")
    safety = personas["safety lead"]
    for who, clinic in ((second, clinic_a), (ny_second, clinic_b)):
        patient = PatientFactory(clinic=clinic)
        session = TreatmentSessionFactory(
            patient=patient, practitioner=who, signed=True, lot__product__clinic=clinic
        )
        SessionAddendumFactory(session=session, author=who)
        report = ReactionReportFactory(session=session)
        AssessmentFactory(report=report, reviewed=True, assessed_by=who)
        AppointmentFactory(patient=patient, practitioner=who)
        LotSignalFactory(
            lot=session.lot,
            status=SignalStatus.DISMISSED,
            reviewed_by=safety,
            reviewed_at=timezone.now(),
            status_reason="checked",
        )
    return {"second": second, "ny_second": ny_second, "admin": superuser_a, **personas}


def _people_on_samples(named: dict[str, Any]) -> None:
    """Put people on the rows a sample builder just made, so their pages show someone: a
    reviewed signal on every lot, an addendum by the second practitioner on every session,
    a history entry by the front desk on every patient."""
    second, safety = named["second"], named["safety lead"]
    for lot in ProductLot.objects.filter(signals__isnull=True):
        LotSignalFactory(
            lot=lot,
            status=SignalStatus.UNDER_REVIEW,
            reviewed_by=safety,
            reviewed_at=timezone.now(),
        )
    for session in TreatmentSession.objects.filter(addenda__isnull=True):
        SessionAddendumFactory(session=session, author=second)
    for patient in Patient.objects.all():
        member = Membership.objects.filter(clinic=patient.clinic, role=Role.FRONT_DESK).first()
        if member is not None:
            patient_update(
                patient=patient, user=member.user, changes={"email": f"p{patient.pk}@mail.example"}
            )


def _usernames_shown(html: str, url_name: str) -> list[str]:
    found = []
    for user in User.objects.all():
        if user.display_name == user.get_username():
            continue  # no name on file: the username is the display name
        text = html
        for slot in LOGIN_NAME_SLOTS.get(url_name, []):
            text = re.sub(slot.format(u=re.escape(user.get_username())), "", text, count=1)
        # A whole username, not a part of an email address or of a longer word.
        word = rf"(?<![\w.@-]){re.escape(user.get_username())}(?![\w@-]|\.\w)"
        if re.search(word, text):
            found.append(user.get_username())
    return found


def _body(response: Any) -> str:
    if not response["Content-Type"].startswith(("text/", "application/json")):
        return ""  # a photo
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


GET_ROWS = [
    r
    for r in parse_matrix()
    if r.method == "GET"
    and not r.is_prefix
    and not r.name.startswith(NOT_SCANNED)
    and "200" in r.expected.values()
]


@pytest.mark.parametrize("row", GET_ROWS, ids=[r.name for r in GET_ROWS])
def test_no_page_shows_a_username_where_a_display_name_exists(
    row: Any, named: dict[str, Any], client_as: Any
):
    """GIVEN staff whose usernames differ from their names, and records that show them
    WHEN each role that may open the page opens it
    THEN no username appears, but in the profile's "You log in as" and the staff pages'
    login slot."""
    world = MatrixWorld(
        named["practitioner"].memberships.first().clinic,
        named["other clinic"].memberships.first().clinic,
        named["practitioner"],
        named["front desk"],
        named["safety lead"],
        named["other clinic"],
        named["manager"],
    )
    builder = URL_KWARGS.get(row.name)
    url = reverse(row.name, kwargs=builder(world) if builder else None)
    _people_on_samples(named)
    for column, cell in row.expected.items():
        if cell != "200":
            continue
        user = named[column]
        response = client_as(user).get(url)
        assert response.status_code == 200, f"{row.name} as {column}"
        shown = _usernames_shown(_body(response), row.name)
        assert not shown, f"{row.name} as {column} shows usernames {shown} instead of names"


def test_the_scan_catches_a_username_on_a_page(named: dict[str, Any]):
    html = "<td>seoul.practitioner2</td><td>Min-jun Park</td>"
    assert _usernames_shown(html, "triage:reactions") == ["seoul.practitioner2"]
    # ... but not the name, an email address, or the profile's login line.
    assert _usernames_shown("Min-jun Park seoul.practitioner2@clinic.example", "x") == []
    profile = "You log in as <strong>seoul.practitioner</strong>."
    assert _usernames_shown(profile, "core:profile") == []
    assert _usernames_shown(profile, "dashboard") == ["seoul.practitioner"]


# --- the CSV --------------------------------------------------------------------------------


def test_the_reactions_csv_names_the_practitioner(named: dict[str, Any], client_as: Any):
    response = client_as(named["safety lead"]).get(reverse("triage:reactions_csv"))
    body = _body(response)
    assert "Min-jun Park" in body
    assert "seoul.practitioner2" not in body


# --- the pickers ----------------------------------------------------------------------------


def _options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no <select name={name}>"
    return [
        re.sub(r"\s+", " ", text).strip()
        for value, text in re.findall(r'<option value="([^"]*)"[^>]*>(.*?)</option>', select[1])
        if value
    ]


def test_the_reactions_practitioner_filter_lists_only_practitioners(
    named: dict[str, Any], client_as: Any
):
    html = client_as(named["safety lead"]).get(reverse("triage:reactions")).content.decode()
    # Clinic A's practitioners by name; not the admin, the safety lead, the front desk, the
    # manager, nor New York's practitioners (not the safety lead's clinic).
    assert sorted(_options(html, "practitioner")) == ["Ji-woo Kim", "Min-jun Park"]


def test_the_booking_form_offers_only_practitioners_of_the_patients_clinic(
    named: dict[str, Any], client_as: Any
):
    patient = PatientFactory(clinic=named["front desk"].memberships.first().clinic)
    url = reverse("treatments:book", kwargs={"patient": patient.uuid})
    html = client_as(named["front desk"]).get(url).content.decode()
    assert sorted(_options(html, "practitioner")) == ["Ji-woo Kim", "Min-jun Park"]


def test_the_calendar_filter_offers_only_practitioners(named: dict[str, Any], client_as: Any):
    html = client_as(named["front desk"]).get(reverse("treatments:calendar")).content.decode()
    assert sorted(_options(html, "practitioner")) == ["Ji-woo Kim", "Min-jun Park"]


def test_staff_with_role_keeps_only_active_holders_of_the_role(
    named: dict[str, Any], clinic_a: Any, clinic_b: Any
):
    former = UserFactory(first_name="Former", last_name="Colleague")
    MembershipFactory(user=former, clinic=clinic_a, role=Role.PRACTITIONER, active=False)
    left = UserFactory(first_name="Left", last_name="Clinic", is_active=False)
    MembershipFactory(user=left, clinic=clinic_a, role=Role.PRACTITIONER)
    both = UserFactory(first_name="Also", last_name="Lead")
    MembershipFactory(user=both, clinic=clinic_a, role=Role.PRACTITIONER)
    MembershipFactory(user=both, clinic=clinic_a, role=Role.SAFETY_LEAD)

    seoul = staff_with_role(clinics=clinic_a, roles=BOOKABLE_ROLES)
    assert [u.display_name for u in seoul] == ["Ji-woo Kim", "Also Lead", "Min-jun Park"]
    both_clinics = staff_with_role(clinics=[clinic_a.pk, clinic_b.pk], roles=BOOKABLE_ROLES)
    assert {u.get_username() for u in both_clinics} == {
        "seoul.practitioner",
        "seoul.practitioner2",
        both.username,
        "ny.practitioner",
        "ny.practitioner2",
    }
    assert "admin" not in {u.get_username() for u in both_clinics}


# --- templates added later ------------------------------------------------------------------

# The templates where the login name is the point (`form.username` is a login field).
USERNAME_TEMPLATES = {"profile.html", "staff_member.html", "staff_list.html"}
_USERNAME_IN_TEMPLATE = re.compile(r"get_full_name|get_username|(?<!form)\.username\b")


def test_templates_show_people_by_display_name():
    """A page added later shows `{{ person.display_name }}` (or `{{ person }}`), never its
    own mix of get_full_name and username."""
    from tests.kit.templates_scan import template_files

    offenders = [
        f"{path.name}:{source[: m.start()].count(chr(10)) + 1}: {m.group(0)}"
        for path in template_files()
        if path.name not in USERNAME_TEMPLATES
        for source in [path.read_text()]
        for m in _USERNAME_IN_TEMPLATE.finditer(source)
    ]
    assert not offenders, "Show people by display_name: " + ", ".join(offenders)
