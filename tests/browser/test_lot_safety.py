"""The safety lead's lot pages in a real browser: from the dashboard's open signal to the
lot's safety page (chart, cases, signals), a dismissal refused without a reason and then
recorded, and the list of lots by signal strength.

Screenshots: docs/img/lot-safety.png (the list) and docs/img/lot-safety-lot.png (a lot).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from adverse_events.models import LotSignal, ReactionTerm, SignalStatus
from adverse_events.signals import signals_compute
from adverse_events.vocabulary import load_terms
from tests.factories import (
    AssessmentFactory,
    LotTermSummaryFactory,
    LotWeekSummaryFactory,
    PatientFactory,
    ProductFactory,
    ProductLotFactory,
    TreatmentSessionFactory,
    _monday,
)
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _shot(page, name: str) -> None:
    path = artifact_path(f"{name}.png")
    page.screenshot(path=path, full_page=True)
    DOCS_IMG.mkdir(exist_ok=True)
    shutil.copy(path, DOCS_IMG / f"{name}.png")


def _world(clinic, practitioner):
    """Exo Serum with four quiet lots (about 2% of sessions with a reaction) and lot
    EXO-2611 climbing to 10% over eight weeks, with real reports on it (one an infection)."""
    load_terms(ReactionTerm)  # transactional tests flush the shipped vocabulary between tests
    redness = ReactionTerm.objects.get(code="redness")
    swelling = ReactionTerm.objects.get(code="swelling")
    product = ProductFactory(clinic=clinic, name="Exo Serum", manufacturer="ExoLab")
    hot = ProductLotFactory(product=product, lot_number="EXO-2611")
    hot_weeks = [(12, 0), (14, 1), (15, 1), (13, 2), (16, 2), (15, 3), (14, 2), (11, 3)]
    for i, (n, k) in enumerate(hot_weeks):
        LotWeekSummaryFactory(lot=hot, week=_monday(7 * (7 - i)), sessions=n, cases=k)
    LotTermSummaryFactory(lot=hot, term=redness, cases=10)
    LotTermSummaryFactory(lot=hot, term=swelling, cases=6)
    for j in range(4):
        lot = ProductLotFactory(product=product, lot_number=f"EXO-25{j}0")
        for i in range(8):
            LotWeekSummaryFactory(
                lot=lot, week=_monday(7 * (7 - i)), sessions=15, cases=1 if i % 3 == 0 else 0
            )
        LotTermSummaryFactory(lot=lot, term=redness, cases=3)
    ProductLotFactory(product=product, lot_number="EXO-2612")  # received, not used yet
    infection = ReactionTerm.objects.filter(sentinel=True).order_by("display_order").first()
    for term, name in [(redness, "Min-ji"), (swelling, "Seo-yeon"), (infection, "Ha-eun")]:
        session = TreatmentSessionFactory(
            clinic=clinic,
            lot=hot,
            practitioner=practitioner,
            patient=PatientFactory(clinic=clinic, first_name=name, last_name="Park"),
        )
        AssessmentFactory(report__session=session, report__term=term)
    signals_compute()
    return hot


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_safety_lead_reviews_a_lot_signal_from_the_dashboard(
    page, clinic_a, practitioner_a, safety_lead_a
):
    """GIVEN lot EXO-2611 standing out among Exo Serum's lots WHEN the safety lead follows
    the dashboard's signal to the lot's page, tries to dismiss its rate signal without a
    reason, then marks it under review with a note THEN the chart, the cases and both
    signals show, the error names the reason field, and the review is recorded."""
    hot = _world(clinic_a, practitioner_a)
    base = page.base_url
    playwright_login(page, base, safety_lead_a)
    page.goto(base + reverse("dashboard"))
    page.get_by_role("heading", name="Lots with open safety signals").wait_for()
    page.get_by_role("link", name="Exo Serum lot EXO-2611").first.click()
    page.get_by_role("heading", name="Exo Serum · lot EXO-2611").wait_for()
    assert page.get_by_role("img", name="Cumulative reaction rate of lot EXO-2611").is_visible()
    assert page.get_by_text("Rate signal").first.is_visible()
    assert page.get_by_text("Sentinel event").first.is_visible()
    assert page.get_by_role("link", name="Lot page: quarantine, release, recall").is_visible()
    assert page.locator("#h-cases + * , #h-cases ~ div table tbody tr").count() >= 3

    rate = LotSignal.objects.get(lot=hot, kind="rate", term=None)
    form = page.locator(f"#signal-{rate.uuid} form")
    form.get_by_label("Move to").select_option("dismissed")
    form.get_by_role("button", name="Save review").click()
    page.get_by_text("Say why the signal is dismissed.").wait_for()
    rate.refresh_from_db()
    assert rate.status == SignalStatus.NEW

    form = page.locator(f"#signal-{rate.uuid} form")
    form.get_by_label("Move to").select_option("under_review")
    form.get_by_label("Reason or action taken").fill("Checking storage logs for this lot.")
    form.get_by_role("button", name="Save review").click()
    page.get_by_text("Signal marked under review.").wait_for()
    rate.refresh_from_db()
    assert rate.status == SignalStatus.UNDER_REVIEW and rate.reviewed_by == safety_lead_a
    assert page.get_by_text("Checking storage logs for this lot.").is_visible()
    _shot(page, "lot-safety-lot")

    page.get_by_role("link", name="All lots by signal strength").first.click()
    page.get_by_role("heading", name="Lot safety", exact=True).wait_for()
    first_row = page.locator("table.safety-table tbody tr").first
    assert "EXO-2611" in first_row.inner_text()
    assert "No sessions with this lot yet." in page.content()
    _shot(page, "lot-safety")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_practitioner_reads_the_lot_page_without_review_actions(page, clinic_a, practitioner_a):
    hot = _world(clinic_a, practitioner_a)
    base = page.base_url
    playwright_login(page, base, practitioner_a)
    page.goto(base + reverse("safety:lot", args=[hot.uuid]))
    page.get_by_role("heading", name="Exo Serum · lot EXO-2611").wait_for()
    assert page.get_by_text("Rate signal").first.is_visible()
    assert page.get_by_role("button", name="Save review").count() == 0
