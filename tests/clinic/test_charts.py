"""The charts page: three charts from the summary tables, for clinical roles, of the user's
clinics only; filters that refuse bad input by name; a constant number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from adverse_events.summaries import summaries_refresh
from clinic.charts import OTHER_LABEL, period_of
from tests.factories import (
    CheckInFactory,
    CheckInPlanStepFactory,
    ProductLotFactory,
    ReactionReportFactory,
    ReactionTermFactory,
    TreatmentSessionFactory,
)
from tests.kit.queries import assert_constant_queries
from treatments.models import CheckInState

pytestmark = pytest.mark.django_db
URL = reverse("charts")


def _sessions(clinic, lot, n: int, *, reactions: list[str] = (), days_ago: int = 3) -> list:
    """n sessions with `lot`; the first len(reactions) get one report each, of those terms."""
    performed_at = timezone.now() - timedelta(days=days_ago)
    sessions = []
    for i in range(n):
        session = TreatmentSessionFactory(
            patient__clinic=clinic, lot=lot, performed_at=performed_at
        )
        if i < len(reactions):
            ReactionReportFactory(
                session=session,
                term=ReactionTermFactory(code=reactions[i]),
                onset_date=performed_at.date(),
            )
        sessions.append(session)
    return sessions


def _checkin(session, code: str, state: str) -> None:
    answered = state.startswith("answered")
    CheckInFactory(
        session=session,
        step_code=code,
        state=state,
        sent_at=session.performed_at + timedelta(days=1),
        answered_at=session.performed_at + timedelta(days=1, hours=2) if answered else None,
    )


@pytest.fixture
def world(clinic_a, clinic_b):
    CheckInPlanStepFactory(clinic=clinic_a, code="d1", offset=timedelta(days=1))
    lot = ProductLotFactory(product__clinic=clinic_a, lot_number="LOT-AAA", quantity_on_hand=5)
    sessions = _sessions(clinic_a, lot, 4, reactions=["redness", "swelling"])
    _checkin(sessions[0], "d1", CheckInState.ANSWERED_FINE)
    _checkin(sessions[1], "d1", CheckInState.ANSWERED_REACTIONS)
    _checkin(sessions[2], "d1", CheckInState.MISSED)
    _checkin(sessions[3], "d1", CheckInState.SCHEDULED)  # not sent: not counted
    other = ProductLotFactory(product__clinic=clinic_b, lot_number="LOT-BBB", quantity_on_hand=5)
    _sessions(clinic_b, other, 3, reactions=["fever", "fever", "fever"])
    summaries_refresh()
    return lot


def test_a_practitioner_sees_the_three_charts_with_their_figures(practitioner_client, world):
    response = practitioner_client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    # 1. reactions per week by type: the legend names the types with their totals
    assert "Erythema (1)" in page and "Oedema (1)" in page
    # 2. response by day after: 2 of the 3 check-ins that went out were answered
    assert "Day 1: 67% (2 of 3)." in page
    # 3. the lot: 2 of 4 sessions with a reaction, and its Wilson interval
    assert "2/4 · 50.0% (15.0%–85.0%)" in page
    assert '<td class="num">50.0%</td><td class="num">15.0%–85.0%</td>' in page
    svgs = "".join(part.split("</svg>")[0] for part in page.split("<svg")[1:])
    assert '=""' not in svgs, "every SVG attribute has a value"
    assert "Figures as of" in page
    assert 'style="' not in page, "the strict CSP allows no inline styles"


def test_another_clinics_figures_never_appear(practitioner_client, world, clinic_b):
    page = practitioner_client.get(URL).content.decode()
    assert "LOT-BBB" not in page and "Fever" not in page and clinic_b.name not in page
    response = practitioner_client.get(URL, {"clinic": str(clinic_b.uuid)})
    assert response.status_code == 400
    assert response.context["form"].errors.keys() == {"clinic"}
    assert "LOT-BBB" not in response.content.decode()


def test_the_front_desk_is_refused(front_desk_client, world):
    assert front_desk_client.get(URL).status_code == 403


def test_a_bad_period_is_refused_by_name(practitioner_client, world):
    response = practitioner_client.get(URL, {"period": "forever"})
    assert response.status_code == 400
    assert "period" in response.context["form"].errors


def test_filtering_by_clinic_and_period(safety_lead_client, world, clinic_a):
    response = safety_lead_client.get(URL, {"clinic": str(clinic_a.uuid), "period": "52w"})
    assert response.status_code == 200
    assert response.context["charts"].period.code == "52w"
    assert len(response.context["charts"].reactions.table) == 52
    assert "LOT-AAA" in response.content.decode()


def test_a_lot_outside_the_period_is_left_out(practitioner_client, clinic_a):
    old = ProductLotFactory(product__clinic=clinic_a, lot_number="LOT-OLD", quantity_on_hand=5)
    _sessions(clinic_a, old, 2, days_ago=200)
    summaries_refresh()
    assert "LOT-OLD" not in practitioner_client.get(URL).content.decode()
    assert "LOT-OLD" in practitioner_client.get(URL, {"period": "52w"}).content.decode()


def test_rare_types_are_grouped_as_other(practitioner_client, clinic_a):
    lot = ProductLotFactory(product__clinic=clinic_a, quantity_on_hand=5)
    terms = ["redness", "swelling", "bruising", "headache", "fever", "fatigue", "itching"]
    _sessions(clinic_a, lot, len(terms), reactions=terms)
    summaries_refresh()
    chart = practitioner_client.get(URL).context["charts"].reactions
    assert [s.label for s in chart.series][-1] == OTHER_LABEL
    assert len(chart.series) == 6
    assert sum(s.total for s in chart.series) == len(terms)


def test_the_period_ends_with_this_week() -> None:
    period = period_of("12w")
    assert len(period.weeks) == 12
    assert period.last_week <= timezone.now().date() < period.last_week + timedelta(days=7)


def test_the_page_costs_the_same_queries_at_any_size(practitioner_client, clinic_a):
    terms = ["redness", "swelling", "bruising", "headache", "fever", "fatigue"]

    def grow(n: int) -> None:
        for i in range(n):
            lot = ProductLotFactory(product__clinic=clinic_a, quantity_on_hand=5)
            sessions = _sessions(clinic_a, lot, 2, reactions=[terms[i % len(terms)]], days_ago=i)
            _checkin(sessions[0], f"d{i + 1}", CheckInState.ANSWERED_FINE)
        summaries_refresh()

    # session, user, device, roles, clinics, three charts, the fill states, session save (3)
    assert_constant_queries(practitioner_client, URL, grow, expected=12)
