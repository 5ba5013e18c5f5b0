"""The active clinic (issue 21): a user of several clinics picks one in the header; the
dashboard and the calendar show it. Only a clinic with an active membership can be picked."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.core.models import Membership, Role
from clinic.core.services import staff_create
from tests.factories import CallTaskFactory
from tests.kit.auth import PASSWORD

pytestmark = pytest.mark.django_db

SWITCH = reverse("core:active_clinic")
DASHBOARD = reverse("dashboard")
CALENDAR = reverse("treatments:calendar")


@pytest.fixture
def roaming_desk(clinic_a, clinic_b):
    """Front desk at both clinics (New York sorts before Seoul: it is the first by name)."""
    return staff_create(
        username="roaming_desk",
        password=PASSWORD,
        clinic_roles=[(clinic_a, Role.FRONT_DESK), (clinic_b, Role.FRONT_DESK)],
    )


def _picker(html: str) -> str:
    start = html.find('class="clinic-switch"')
    return html[start : html.find("</form>", start)] if start >= 0 else ""


def test_a_user_of_one_clinic_sees_no_clinic_picker(front_desk_client):
    assert _picker(front_desk_client.get(DASHBOARD).content.decode()) == ""


def test_the_header_offers_the_users_clinics_and_the_dashboard_shows_the_picked_one(
    client_as, roaming_desk, clinic_a, clinic_b
):
    """GIVEN a front-desk member of Seoul and New York, with a call to make at each
    WHEN  they open the dashboard, then pick Seoul in the header
    THEN  it shows New York's call first (the first clinic by name), then only Seoul's."""
    seoul_call = CallTaskFactory(clinic=clinic_a)
    york_call = CallTaskFactory(clinic=clinic_b)
    client = client_as(roaming_desk)

    first = client.get(DASHBOARD)
    picker = _picker(first.content.decode())
    assert "Seoul" in picker and "New York" in picker
    assert [c.pk for c in first.context["calls"].rows] == [york_call.pk]
    assert first.context["roles"].time_zone == "America/New_York"

    switched = client.post(SWITCH, {"clinic": str(clinic_a.uuid), "next": DASHBOARD})
    assert switched.status_code == 302
    assert switched["Location"] == DASHBOARD
    second = client.get(DASHBOARD)
    assert [c.pk for c in second.context["calls"].rows] == [seoul_call.pk]
    assert second.context["roles"].time_zone == "Asia/Seoul"
    assert f'value="{clinic_a.uuid}" selected' in second.content.decode()
    assert "Showing <strong>Seoul</strong>" in second.content.decode()


def test_the_calendar_opens_on_the_active_clinic_unless_another_is_asked_for(
    client_as, roaming_desk, clinic_a, clinic_b
):
    client = client_as(roaming_desk)
    assert client.get(CALENDAR).context["clinic"] == clinic_b
    client.post(SWITCH, {"clinic": str(clinic_a.uuid)})
    assert client.get(CALENDAR).context["clinic"] == clinic_a
    asked = client.get(CALENDAR, {"clinic": str(clinic_b.uuid)})
    assert asked.context["clinic"] == clinic_b


def test_a_clinic_without_a_membership_cannot_be_picked(client_as, front_desk_a, clinic_b):
    client = client_as(front_desk_a)
    response = client.post(SWITCH, {"clinic": str(clinic_b.uuid), "next": DASHBOARD}, follow=True)
    assert response.status_code == 200
    assert "Choose one of your clinics" in response.content.decode()
    assert "active_clinic" not in client.session
    assert client.get(CALENDAR).context["clinic"].name == "Seoul"


def test_a_clinic_left_since_it_was_picked_is_no_longer_shown(
    client_as, roaming_desk, clinic_a, clinic_b
):
    client = client_as(roaming_desk)
    client.post(SWITCH, {"clinic": str(clinic_a.uuid)})
    Membership.objects.filter(user=roaming_desk, clinic=clinic_a).update(active=False)
    assert client.get(CALENDAR).context["clinic"] == clinic_b


def test_the_picker_returns_only_to_a_page_of_this_site(client_as, roaming_desk, clinic_a):
    response = client_as(roaming_desk).post(
        SWITCH, {"clinic": str(clinic_a.uuid), "next": "https://evil.example/"}
    )
    assert response["Location"] == DASHBOARD


def test_picking_a_clinic_needs_a_post(client_as, roaming_desk):
    assert client_as(roaming_desk).get(SWITCH).status_code == 405


def test_the_reactions_list_opens_on_the_active_clinic_with_all_my_clinics_a_choice_away(
    client_as, clinic_a, clinic_b
):
    from tests.factories import ReactionReportFactory

    roaming = staff_create(
        username="roaming_clinician",
        password=PASSWORD,
        clinic_roles=[(clinic_a, Role.PRACTITIONER), (clinic_b, Role.PRACTITIONER)],
    )
    in_seoul = ReactionReportFactory(clinic=clinic_a)
    in_york = ReactionReportFactory(clinic=clinic_b)
    client = client_as(roaming)
    url = reverse("triage:reactions")

    client.post(SWITCH, {"clinic": str(clinic_a.uuid)})
    default = client.get(url)
    assert [r.pk for r in default.context["rows"]] == [in_seoul.pk]
    assert f'<option value="{clinic_a.uuid}" selected>' in default.content.decode()
    assert "All my clinics" in default.content.decode()
    # "Export these as CSV" exports what the list shows.
    assert f"export.csv?clinic={clinic_a.uuid}" in default.content.decode()

    everything = client.get(url, {"clinic": ""})
    assert {r.pk for r in everything.context["rows"]} == {in_seoul.pk, in_york.pk}
