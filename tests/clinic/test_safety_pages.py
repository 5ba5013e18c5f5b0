"""The safety lead's lot pages: lots by signal strength (scoped, constant queries), a lot's
figures, chart, cases and signals, and the signal review (safety lead only)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from adverse_events.models import LotSignal, ReactionTerm, SignalStatus
from adverse_events.signals import signals_compute
from tests.factories import (
    AssessmentFactory,
    LotSignalFactory,
    LotTermSummaryFactory,
    LotWeekSummaryFactory,
    ProductFactory,
    ProductLotFactory,
    TreatmentSessionFactory,
)
from tests.kit.queries import assert_constant_queries

pytestmark = pytest.mark.django_db
LIST = reverse("safety:lots")


def lot_with(product, weeks: list[tuple[int, int]]):
    """A lot with one summary row per week: (sessions, cases), oldest first."""
    from tests.factories import _monday

    lot = ProductLotFactory(product=product)
    total = 0
    for i, (n, k) in enumerate(weeks):
        LotWeekSummaryFactory(lot=lot, week=_monday(7 * (len(weeks) - 1 - i)), sessions=n, cases=k)
        total += k
    if total:
        LotTermSummaryFactory(lot=lot, term=ReactionTerm.objects.get(code="redness"), cases=total)
    return lot


@pytest.fixture
def product(clinic_a):
    return ProductFactory(clinic=clinic_a, name="Exo Serum")


@pytest.fixture
def hot_lot(product):
    for _ in range(4):
        lot_with(product, [(50, 1), (50, 1)])
    return lot_with(product, [(30, 1), (40, 3), (30, 4)])


def ids_in_order(html: str, lots) -> list[int]:
    where = {lot.pk: html.index(str(lot.uuid)) for lot in lots}
    return sorted(where, key=where.get)


def test_lots_are_ordered_by_signal_strength_with_their_figures(
    practitioner_client, product, hot_lot
):
    quiet = ProductLotFactory(product=product)  # no sessions yet
    signals_compute()
    response = practitioner_client.get(LIST)
    html = response.content.decode()
    assert response.status_code == 200
    assert ids_in_order(html, [quiet, hot_lot])[0] == hot_lot.pk
    first_row = html.split("<tbody>")[1].split("</tr>")[0]
    assert str(hot_lot.uuid) in first_row
    assert "8.0%" in first_row and "2 open" in first_row  # 8 of 100; any + redness
    assert "8 of 400 (2.0%)" in first_row
    assert "No sessions with this lot yet." in html


def test_the_list_shows_only_the_users_clinics(outsider_client, hot_lot):
    html = outsider_client.get(LIST).content.decode()
    assert str(hot_lot.uuid) not in html


def test_the_front_desk_may_not_open_lot_safety(front_desk_client, hot_lot):
    assert front_desk_client.get(LIST).status_code == 403
    assert front_desk_client.get(reverse("safety:lot", args=[hot_lot.uuid])).status_code == 403


def test_the_list_costs_the_same_at_two_sizes(safety_lead_client, clinic_a):
    def grow(n: int) -> None:
        for _ in range(n):
            product = ProductFactory(clinic=clinic_a)
            lot = lot_with(product, [(20, 2)])
            lot_with(product, [(20, 0)])
            LotSignalFactory(lot=lot)

    assert_constant_queries(safety_lead_client, LIST, grow, expected=11)


def test_a_lots_page_shows_its_rate_chart_cases_and_signals(
    practitioner_client, clinic_a, product, hot_lot
):
    session = TreatmentSessionFactory(lot=hot_lot, clinic=clinic_a)
    assessment = AssessmentFactory(
        report__session=session,
        report__term=ReactionTerm.objects.get(code="redness"),
        serious_hospitalisation=True,
    )
    signals_compute()
    response = practitioner_client.get(reverse("safety:lot", args=[hot_lot.uuid]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "8 of 400 (2.0%)" in html
    assert reverse("treatments:lot", args=[hot_lot.uuid]) in html
    assert reverse("triage:report", args=[assessment.report.uuid]) in html
    assert "Sentinel event" in html and "Rate signal" in html
    # The chart: three cumulative points for the lot, its band, the other lots' dashed line.
    svg = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    lot_line = re.search(r'class="chart-lot" points="([^"]+)"', svg).group(1)
    assert len(lot_line.split()) == 3
    assert 'class="chart-others"' in svg and 'class="chart-band"' in svg
    assert "style=" not in svg
    # The figures behind the chart: cumulative 1/30, 4/70, 8/100.
    assert "3.3%" in html and "5.7%" in html
    # A practitioner reads the signals but has no review form.
    assert "Save review" not in html


def test_another_clinics_lot_is_a_404(outsider_client, hot_lot):
    assert outsider_client.get(reverse("safety:lot", args=[hot_lot.uuid])).status_code == 404


def test_the_safety_lead_reviews_a_signal_and_the_page_says_who(
    safety_lead_client, safety_lead_a, hot_lot
):
    signals_compute()
    signal = LotSignal.objects.get(lot=hot_lot, term=None)
    page = reverse("safety:lot", args=[hot_lot.uuid])
    assert "Save review" in safety_lead_client.get(page).content.decode()
    url = reverse("safety:signal_review", args=[signal.uuid])
    response = safety_lead_client.post(url, {"status": "under_review"})
    assert response.status_code == 302 and response["Location"] == page
    response = safety_lead_client.post(url, {"status": "dismissed", "reason": ""})
    assert response.status_code == 400
    assert "Say why the signal is dismissed." in response.content.decode()
    response = safety_lead_client.post(
        url, {"status": "dismissed", "reason": "Known new-staff effect"}, follow=True
    )
    html = response.content.decode()
    signal.refresh_from_db()
    assert signal.status == SignalStatus.DISMISSED and signal.reviewed_by == safety_lead_a
    assert f"Dismissed by {safety_lead_a.get_username()}" in html
    assert "Known new-staff effect" in html


def test_a_practitioner_cannot_change_a_signal(practitioner_client, hot_lot):
    signal = LotSignalFactory(lot=hot_lot)
    url = reverse("safety:signal_review", args=[signal.uuid])
    assert practitioner_client.post(url, {"status": "actioned"}).status_code == 403
    signal.refresh_from_db()
    assert signal.status == SignalStatus.NEW


def test_an_unknown_status_is_a_clear_400(safety_lead_client, hot_lot):
    signal = LotSignalFactory(lot=hot_lot)
    url = reverse("safety:signal_review", args=[signal.uuid])
    response = safety_lead_client.post(url, {"status": "ignored"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_the_dashboard_links_open_signals_to_the_lot_safety_page(practitioner_client, hot_lot):
    LotSignalFactory(lot=hot_lot)
    html = practitioner_client.get(reverse("dashboard")).content.decode()
    assert reverse("safety:lot", args=[hot_lot.uuid]) in html


def test_a_lot_of_another_product_is_not_compared(practitioner_client, clinic_a, hot_lot):
    lone = lot_with(ProductFactory(clinic=clinic_a), [(10, 5)])
    html = practitioner_client.get(reverse("safety:lot", args=[lone.uuid])).content.decode()
    assert "no other lots" in html


def test_the_navigation_offers_lot_safety_to_clinical_roles_only(
    practitioner_client, front_desk_client
):
    assert f'href="{LIST}"' in practitioner_client.get(reverse("dashboard")).content.decode()
    assert LIST not in front_desk_client.get(reverse("dashboard")).content.decode()


def test_a_lots_page_costs_the_same_with_more_reports_and_signals(
    safety_lead_client, clinic_a, hot_lot
):
    redness = ReactionTerm.objects.get(code="redness")

    def grow(n: int) -> None:
        for _ in range(n):
            session = TreatmentSessionFactory(lot=hot_lot, clinic=clinic_a)
            AssessmentFactory(report__session=session, report__term=redness)
            LotSignalFactory(lot=hot_lot)

    url = reverse("safety:lot", args=[hot_lot.uuid])
    assert_constant_queries(safety_lead_client, url, grow, expected=16)
