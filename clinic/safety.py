"""Reads behind the safety lead's lot pages: the lot safety list and one lot's safety page.

Figures come from `adverse_events.signals.lot_figures` (the summary tables), so the list
costs the same few queries at any number of lots. The chart is server-rendered SVG: no
script, no style attributes (the CSP allows neither), and it prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Count, QuerySet

from adverse_events.models import (
    LotSignal,
    LotWeekSummary,
    ReactionReport,
    ReactionTerm,
    SignalStatus,
)
from adverse_events.signals import Figure, LotFigures, lot_figures, wilson
from clinic.charts import PlotFrame, nice_rate_max
from clinic.core.access import visible
from clinic.core.models import CLINICAL_ROLES, SAFETY_LEAD_ONLY, Membership
from treatments.models import ProductLot

OPEN = (SignalStatus.NEW, SignalStatus.UNDER_REVIEW)
CASES_LIMIT = 100


def pct(value: float | None) -> str:
    """0.0412 -> '4.1%'; None -> '—'."""
    return "—" if value is None else f"{value * 100:.1f}%"


def ratio(value: float | None) -> str:
    return "∞" if value is None else f"{value:.2f}"


@dataclass(frozen=True)
class Shown:
    """A figure as the pages print it."""

    rate: str
    ci: str
    rate_ratio: str
    rr_ci: str
    p_value: str
    others: str


def shown(f: Figure | None) -> Shown | None:
    if f is None or not f.exposure:
        return None
    c = f.comparison
    return Shown(
        rate=pct(f.rate),
        ci=f"{pct(f.ci_low)}–{pct(f.ci_high)}",
        rate_ratio=ratio(c.rate_ratio) if c else "—",
        rr_ci=f"{ratio(c.rr_ci_low)}–{ratio(c.rr_ci_high)}" if c else "",
        p_value=(f"{c.p_value:.4f}" if c.p_value >= 0.0001 else "<0.0001") if c else "—",
        others=(
            f"{f.other_cases} of {f.other_exposure} ({pct(f.other_cases / f.other_exposure)})"
            if f.other_exposure
            else "no other lots"
        ),
    )


def lots_loaded() -> QuerySet[ProductLot]:
    """Lots with their product and clinic; not scoped, so pass it through `visible`."""
    return ProductLot.objects.select_related("product__clinic")


def lots_for_clinicians(*, user: Any) -> QuerySet[ProductLot]:
    return visible(lots_loaded(), user, roles=CLINICAL_ROLES)


@dataclass
class LotRow:
    lot: ProductLot
    figure: Figure | None
    open_signals: int

    @property
    def shown(self) -> Shown | None:
        return shown(self.figure)

    @property
    def sort_key(self) -> tuple[Any, ...]:
        c = self.figure.comparison if self.figure else None
        return (
            -self.open_signals,
            -(c.rr_ci_low if c else -1.0),
            c.p_value if c else 2.0,
            self.lot.product.name,
            self.lot.lot_number,
        )


def lot_safety_rows(*, user: Any) -> list[LotRow]:
    """Every lot the user may see, strongest signal first: lots with open signals, then by
    the lower bound of the rate ratio (any reaction), then by the p-value."""
    lots = list(lots_for_clinicians(user=user))
    figures = lot_figures(product_ids={lot.product_id for lot in lots})
    open_counts = dict(
        visible(LotSignal, user, roles=CLINICAL_ROLES)
        .filter(status__in=OPEN)
        .values_list("lot_id")
        .annotate(n=Count("pk"))
    )
    rows = [
        LotRow(
            lot=lot,
            figure=figures[lot.pk].any if lot.pk in figures else None,
            open_signals=open_counts.get(lot.pk, 0),
        )
        for lot in lots
    ]
    return sorted(rows, key=lambda r: r.sort_key)


# --- one lot ------------------------------------------------------------------------------


@dataclass
class ChartPoint:
    week: date
    sessions: int
    cases: int
    rate: float
    ci_low: float
    ci_high: float
    other_rate: float | None

    @property
    def rate_text(self) -> str:
        return pct(self.rate)

    @property
    def other_text(self) -> str:
        return pct(self.other_rate)


@dataclass
class Chart(PlotFrame):
    """Cumulative rate by week for the lot (with its 95% band) and the other lots pooled."""

    points: list[ChartPoint]
    width: int = 640
    height: int = 260
    left: int = 52
    right: int = 32
    top: int = 16
    bottom: int = 40
    y_max: float = 0.05
    lot_line: str = ""
    band: str = ""
    other_line: str = ""
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)

    def x(self, i: int) -> float:
        span = self.width - self.left - self.right
        n = len(self.points)
        return self.left + (span * i / (n - 1) if n > 1 else span / 2)

    def y(self, rate: float) -> float:
        span = self.height - self.top - self.bottom
        return self.top + span * (1 - min(rate, self.y_max) / self.y_max)


def lot_chart(*, lot: ProductLot) -> Chart:
    weeks = LotWeekSummary.objects.filter(lot__product_id=lot.product_id).values_list(
        "lot_id", "week", "sessions", "cases"
    )
    mine: dict[date, tuple[int, int]] = {}
    others: dict[date, list[int]] = {}
    for lot_id, week, n, k in weeks:
        if lot_id == lot.pk:
            mine[week] = (n, k)
        else:
            acc = others.setdefault(week, [0, 0])
            acc[0] += n
            acc[1] += k
    points: list[ChartPoint] = []
    n = k = on = ok = 0
    for week in sorted(set(mine) | set(others)):
        wn, wk = mine.get(week, (0, 0))
        n, k = n + wn, k + wk
        on, ok = on + others.get(week, [0, 0])[0], ok + others.get(week, [0, 0])[1]
        if n == 0:
            continue  # the chart starts at the lot's first session
        low, high = wilson(k, n)
        points.append(
            ChartPoint(
                week=week,
                sessions=n,
                cases=k,
                rate=k / n,
                ci_low=low or 0.0,
                ci_high=high or 0.0,
                other_rate=ok / on if on else None,
            )
        )
    chart = Chart(points=points)
    if not points:
        return chart
    chart.y_max = nice_rate_max(
        max(max(p.ci_high for p in points), max((p.other_rate or 0) for p in points))
    )
    chart.lot_line = " ".join(
        f"{chart.x(i):.1f},{chart.y(p.rate):.1f}" for i, p in enumerate(points)
    )
    upper = [f"{chart.x(i):.1f},{chart.y(p.ci_high):.1f}" for i, p in enumerate(points)]
    lower = [f"{chart.x(i):.1f},{chart.y(p.ci_low):.1f}" for i, p in enumerate(points)]
    chart.band = " ".join(upper + lower[::-1])
    chart.other_line = " ".join(
        f"{chart.x(i):.1f},{chart.y(p.other_rate):.1f}"
        for i, p in enumerate(points)
        if p.other_rate is not None
    )
    chart.y_ticks = [
        (chart.y(chart.y_max * f), f"{chart.y_max * f * 100:.1f}".removesuffix(".0") + "%")
        for f in (0, 0.25, 0.5, 0.75, 1)
    ]
    step = max(1, len(points) // 6)
    chart.x_ticks = [
        (chart.x(i), points[i].week.strftime("%d %b")) for i in range(0, len(points), step)
    ]
    return chart


@dataclass
class TermRow:
    term: ReactionTerm
    figure: Figure

    @property
    def shown(self) -> Shown | None:
        return shown(self.figure)


@dataclass
class LotSafety:
    lot: ProductLot
    figures: LotFigures | None
    terms: list[TermRow]
    chart: Chart
    signals: list[LotSignal]
    cases: list[ReactionReport]
    cases_total: int
    can_review: bool

    @property
    def shown(self) -> Shown | None:
        return shown(self.figures.any if self.figures else None)


def lot_safety(*, lot: ProductLot, user: Any) -> LotSafety:
    """Everything the lot's safety page shows (a fixed number of queries)."""
    figures = lot_figures(product_ids=[lot.product_id]).get(lot.pk)
    term_rows: list[TermRow] = []
    if figures is not None:
        names = ReactionTerm.objects.in_bulk([f.term_id for f in figures.terms])
        term_rows = sorted(
            (TermRow(term=names[f.term_id], figure=f) for f in figures.terms if f.cases),
            key=lambda r: (-r.figure.cases, r.term.display_order),
        )
    reports = (
        visible(ReactionReport, user, roles=CLINICAL_ROLES)
        .filter(session__lot=lot)
        .select_related("term", "assessment")
        .order_by("-onset_date", "-pk")
    )
    signals = list(
        LotSignal.objects.filter(lot=lot)
        .select_related("term", "report", "reviewed_by")
        .order_by("-created_at")
    )
    can_review = (
        Membership.clinic_ids_for(user, SAFETY_LEAD_ONLY)
        .filter(clinic_id=lot.product.clinic_id)
        .exists()
    )
    return LotSafety(
        lot=lot,
        figures=figures,
        terms=term_rows,
        chart=lot_chart(lot=lot),
        signals=signals,
        cases=list(reports[:CASES_LIMIT]),
        cases_total=reports.count(),
        can_review=can_review,
    )
