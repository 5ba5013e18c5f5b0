"""The charts page in a real browser: the clinical roles reach it from the menu and see three
charts with their tables; the front desk has no menu entry and is refused; no CSP errors.

The screenshot the user guide shows goes to docs/img/charts.png.
"""

from __future__ import annotations

import random
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from adverse_events.summaries import summaries_refresh
from clinic.core.models import CheckInPlanStep
from tests.factories import (
    CheckInFactory,
    ProductFactory,
    ProductLotFactory,
    ReactionReportFactory,
    ReactionTermFactory,
    TreatmentSessionFactory,
)
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path
from treatments.models import CheckInState

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
TERMS = ["redness", "swelling", "bruising", "itching", "headache", "fever", "fatigue"]
STATES = [
    CheckInState.ANSWERED_FINE,
    CheckInState.ANSWERED_FINE,
    CheckInState.ANSWERED_REACTIONS,
    CheckInState.MISSED,
    CheckInState.SENT,
]


def _shot(page, name: str, *, for_docs: bool = False) -> None:
    path = artifact_path(f"{name}.png")
    page.screenshot(path=path, full_page=True)
    if for_docs:
        DOCS_IMG.mkdir(exist_ok=True)
        shutil.copy(path, DOCS_IMG / f"{name}.png")


def _world(clinic) -> None:
    """Twelve weeks at the Seoul clinic: two products, five lots (one worse than the rest),
    reactions of seven types, check-ins at day 1, 3, 7 and 14, answered less as time passes."""
    rng = random.Random(9)
    for code, label, offset in CheckInPlanStep.DEFAULT_PLAN[:4]:
        CheckInPlanStep.objects.get_or_create(
            clinic=clinic, code=code, defaults={"label": label, "offset": offset}
        )
    products = [
        ProductFactory(clinic=clinic, name="ASCE+ SRLV"),
        ProductFactory(clinic=clinic, name="Exo Serum"),
    ]
    lots = [
        ProductLotFactory(product=products[i % 2], lot_number=f"EX-24{i:02d}", quantity_on_hand=1)
        for i in range(5)
    ]
    now = timezone.now()
    for i in range(90):
        lot = lots[i % 5]
        performed_at = now - timedelta(days=rng.randint(15, 80), hours=rng.randint(0, 8))
        session = TreatmentSessionFactory(
            patient__clinic=clinic, lot=lot, performed_at=performed_at
        )
        odds = 0.55 if lot.lot_number == "EX-2403" else 0.2
        if rng.random() < odds:
            for code in rng.sample(TERMS[: rng.choice([3, 7])], rng.choice([1, 1, 2])):
                ReactionReportFactory(
                    session=session,
                    term=ReactionTermFactory(code=code),
                    onset_date=(performed_at + timedelta(days=rng.randint(0, 2))).date(),
                )
        for n, (code, _, offset) in enumerate(CheckInPlanStep.DEFAULT_PLAN[:4]):
            state = rng.choice(STATES[: 5 - (n > 1)] + [CheckInState.MISSED] * n)
            answered = state.startswith("answered")
            CheckInFactory(
                session=session,
                step_code=code,
                due_at=performed_at + offset,
                state=state,
                sent_at=performed_at + offset,
                answered_at=performed_at + offset + timedelta(hours=3) if answered else None,
            )
    summaries_refresh()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_practitioner_opens_the_charts_from_the_menu(page, clinic_a, practitioner_a):
    """GIVEN twelve weeks of sessions, reactions and check-ins
    WHEN the practitioner opens Charts from the menu and picks a longer period
    THEN the three charts and their tables show, with the time of the figures."""
    _world(clinic_a)
    base = page.base_url
    playwright_login(page, base, practitioner_a)
    page.goto(base + reverse("dashboard"))
    page.get_by_role("link", name="Charts", exact=True).click()
    page.get_by_role("heading", name="Reactions per week by type").wait_for()
    assert page.get_by_role("heading", name="Check-in response rate by day after the session")
    assert page.get_by_role("heading", name="Reaction rate per lot, with its 95% interval")
    assert page.get_by_text("Figures as of").is_visible()
    assert page.get_by_role("img", name="Reactions per week by type").is_visible()
    assert page.get_by_role("img", name="Reaction rate per lot with its 95% confidence interval")
    assert page.get_by_role("row", name="Day 14").is_visible()
    assert page.get_by_role("link", name="EX-2403").is_visible()
    _shot(page, "charts", for_docs=True)

    page.get_by_label("Period", exact=True).select_option("26w")
    page.get_by_role("button", name="Show charts").click()
    page.locator(".chart-scope", has_text="Last 26 weeks").wait_for()
    assert page.locator("svg[role=img]").count() == 3
    weeks = page.get_by_role("table", name="Reactions per week by type: the figures")
    assert weeks.locator("tbody tr").count() == 26
    assert page.console_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_front_desk_has_no_charts(page, clinic_a, front_desk_a):
    _world(clinic_a)
    base = page.base_url
    playwright_login(page, base, front_desk_a)
    page.goto(base + reverse("dashboard"))
    page.get_by_role("heading", name="Today's appointments").wait_for()
    assert page.get_by_role("link", name="Charts", exact=True).count() == 0
    response = page.goto(base + reverse("charts"))
    assert response.status == 403
    assert "EX-2403" not in page.content()
    page.console_errors.clear()  # the 403 above is the expected answer
