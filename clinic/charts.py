"""The charts page's data and geometry: three charts drawn as inline SVG on the server.

Every figure comes from the summary tables (adverse_events/summaries.py), one grouped query
per chart, so the page costs the same at a thousand sessions and at a million. The geometry
(bar rectangles, whisker ends, tick positions) is computed here, so templates only place
numbers into SVG presentation attributes: no style="" attributes, no script (strict CSP).
Charts read in black-and-white print: series differ by pattern as well as colour, and every
chart has a table of its figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import Sum
from django.utils import timezone
from statsmodels.stats.proportion import proportion_confint

from adverse_events.models import CheckInWeekSummary, LotWeekSummary, ReactionWeekSummary
from adverse_events.summaries import week_of
from clinic.core.access import visible

PERIODS = {"12w": ("Last 12 weeks", 12), "26w": ("Last 26 weeks", 26), "52w": ("Last year", 52)}
DEFAULT_PERIOD = "12w"
TOP_TERMS = 5
MAX_LOTS = 40

# (pattern id suffix, fill colour, ink colour, kind): colour for screens, pattern for print.
PATTERNS = [
    ("solid", "#1f4e8c", "#1f4e8c", "solid"),
    ("diagonal", "#cfe0f5", "#1f4e8c", "diagonal"),
    ("dots", "#fbe3c4", "#8a4b00", "dots"),
    ("cross", "#d9efd9", "#1e6b34", "cross"),
    ("horizontal", "#f4d3d3", "#8c1f1f", "horizontal"),
    ("vertical", "#e6dcf2", "#4b2c7a", "vertical"),
]
OTHER_LABEL = "All other types"


class PlotFrame:
    """The plot area of an SVG chart inside its margins (for the chart dataclasses)."""

    width: int
    height: int
    right: int
    bottom: int

    @property
    def plot_right(self) -> int:
        return self.width - self.right

    @property
    def baseline(self) -> int:
        return self.height - self.bottom


@dataclass(frozen=True)
class Period:
    code: str
    label: str
    first_week: date
    last_week: date

    @property
    def weeks(self) -> list[date]:
        n = (self.last_week - self.first_week).days // 7 + 1
        return [self.first_week + timedelta(weeks=i) for i in range(n)]


def period_of(code: str, *, today: date | None = None) -> Period:
    label, weeks = PERIODS[code]
    last = week_of(today or timezone.now())
    return Period(code, label, last - timedelta(weeks=weeks - 1), last)


def _nice_ceiling(value: float) -> float:
    """A round axis end at or above `value` (at least 1): 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8,
    10, 12, 15...; close enough that the tallest bar fills most of the chart."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def nice_rate_max(rate: float) -> float:
    """A round axis end for a rate (0-1) at or above `rate`: 1%, 1.2%, 1.5%, 2%... 100%."""
    return min(_nice_ceiling(100 * rate) / 100, 1.0)


# --- 1. reactions per week by type (stacked bars) ---------------------------------------------


@dataclass
class Segment:
    x: float
    y: float
    width: float
    height: float
    pattern: str
    title: str


@dataclass
class Series:
    label: str
    pattern: str
    total: int


@dataclass
class ReactionsChart(PlotFrame):
    width: int = 720
    height: int = 300
    left: int = 44
    right: int = 12
    top: int = 12
    bottom: int = 44
    series: list[Series] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    # Per week: (week, [count per series], total), for the table.
    table: list[tuple[date, list[int], int]] = field(default_factory=list)
    total: int = 0


def reactions_chart(*, user: Any, clinic_ids: list[int], period: Period) -> ReactionsChart:
    rows = (
        visible(ReactionWeekSummary, user)
        .filter(clinic_id__in=clinic_ids, week__gte=period.first_week, week__lte=period.last_week)
        .values("week", "term_id", "term__name")
        .annotate(n=Sum("reports"))
        .order_by()
    )
    counts: dict[tuple[date, int], int] = {}
    totals: dict[int, int] = {}
    names: dict[int, str] = {}
    for r in rows:
        counts[r["week"], r["term_id"]] = r["n"]
        totals[r["term_id"]] = totals.get(r["term_id"], 0) + r["n"]
        names[r["term_id"]] = r["term__name"]
    ranked = sorted(totals, key=lambda t: (-totals[t], names[t]))
    top, rest = ranked[:TOP_TERMS], set(ranked[TOP_TERMS:])
    chart = ReactionsChart()
    chart.series = [Series(names[t], f"rx-{PATTERNS[i][0]}", totals[t]) for i, t in enumerate(top)]
    if rest:
        chart.series.append(
            Series(OTHER_LABEL, f"rx-{PATTERNS[len(top)][0]}", sum(totals[t] for t in rest))
        )
    for week in period.weeks:
        per_series = [counts.get((week, t), 0) for t in top]
        if rest:
            per_series.append(sum(counts.get((week, t), 0) for t in rest))
        chart.table.append((week, per_series, sum(per_series)))
    chart.total = sum(totals.values())
    _lay_out_stacks(chart)
    return chart


def _lay_out_stacks(chart: ReactionsChart) -> None:
    weeks = len(chart.table)
    plot_w = chart.plot_right - chart.left
    plot_h = chart.baseline - chart.top
    top_value = _nice_ceiling(max((total for _, _, total in chart.table), default=0))
    slot = plot_w / max(weeks, 1)
    bar = slot * 0.7
    scale = plot_h / top_value
    every = math.ceil(weeks / 12)
    for i, (week, per_series, _) in enumerate(chart.table):
        x = chart.left + i * slot + (slot - bar) / 2
        y = float(chart.baseline)
        for series, n in zip(chart.series, per_series, strict=True):
            if not n:
                continue
            h = n * scale
            y -= h
            chart.segments.append(
                Segment(x, y, bar, h, series.pattern, f"{series.label}: {n} (week of {week:%d %b})")
            )
        if i % every == 0:
            chart.x_ticks.append((x + bar / 2, f"{week:%d %b}"))
    for value in (0, top_value / 2, top_value):
        if value == int(value):
            chart.y_ticks.append((chart.baseline - value * scale, str(int(value))))


# --- 2. check-in response rate by day after the session (bars with counts) ---------------------


@dataclass
class ResponseBar:
    day_after: int
    sent: int
    answered: int
    x: float = 0
    y: float = 0
    width: float = 0
    height: float = 0

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.sent) if self.sent else 0

    @property
    def label(self) -> str:
        return f"Day {self.day_after}"


@dataclass
class ResponseChart(PlotFrame):
    width: int = 720
    height: int = 260
    left: int = 44
    right: int = 12
    top: int = 24
    bottom: int = 48
    bars: list[ResponseBar] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(b.sent for b in self.bars)


def response_chart(*, user: Any, clinic_ids: list[int], period: Period) -> ResponseChart:
    rows = (
        visible(CheckInWeekSummary, user)
        .filter(clinic_id__in=clinic_ids, week__gte=period.first_week, week__lte=period.last_week)
        .values("day_after")
        .annotate(sent=Sum("sent"), answered=Sum("answered"))
        .order_by("day_after")
    )
    chart = ResponseChart(
        bars=[ResponseBar(r["day_after"], r["sent"], r["answered"]) for r in rows]
    )
    plot_h = chart.baseline - chart.top
    slot = (chart.plot_right - chart.left) / max(len(chart.bars), 1)
    width = min(slot * 0.6, 90)
    for i, bar in enumerate(chart.bars):
        bar.width = width
        bar.x = chart.left + i * slot + (slot - width) / 2
        bar.height = plot_h * bar.answered / bar.sent if bar.sent else 0
        bar.y = chart.baseline - bar.height
    chart.y_ticks = [(chart.baseline - plot_h * p / 100, f"{p}%") for p in (0, 25, 50, 75, 100)]
    return chart


# --- 3. reaction rate per lot with its 95% Wilson interval (point and whisker) -----------------


@dataclass
class LotRow:
    uuid: Any
    product: str
    lot_number: str
    sessions: int
    cases: int
    rate: float = 0
    low: float = 0
    high: float = 0
    y: float = 0
    x_rate: float = 0
    x_low: float = 0
    x_high: float = 0

    @property
    def rate_text(self) -> str:
        return _pct(self.rate)

    @property
    def interval_text(self) -> str:
        return f"{_pct(self.low)}–{_pct(self.high)}"

    @property
    def text(self) -> str:
        return f"{self.cases}/{self.sessions} · {self.rate_text} ({self.interval_text})"

    @property
    def y_top(self) -> float:
        return self.y - 5

    @property
    def y_bottom(self) -> float:
        return self.y + 5


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


@dataclass
class LotChart(PlotFrame):
    width: int = 720
    left: int = 220
    right: int = 170
    top: int = 24
    row: int = 24
    bottom: int = 36
    rows: list[LotRow] = field(default_factory=list)
    more: int = 0
    pooled: float | None = None
    x_pooled: float = 0
    x_ticks: list[tuple[float, str]] = field(default_factory=list)

    @property
    def height(self) -> int:
        return self.top + self.row * max(len(self.rows), 1) + self.bottom

    @property
    def pooled_text(self) -> str:
        return _pct(self.pooled) if self.pooled is not None else ""


def lots_chart(*, user: Any, clinic_ids: list[int], period: Period) -> LotChart:
    rows = list(
        visible(LotWeekSummary, user)
        .filter(
            lot__product__clinic_id__in=clinic_ids,
            week__gte=period.first_week,
            week__lte=period.last_week,
        )
        .values("lot_id", "lot__uuid", "lot__lot_number", "lot__product__name")
        .annotate(sessions=Sum("sessions"), cases=Sum("cases"))
        .filter(sessions__gt=0)
        .order_by("-sessions", "lot__lot_number")
    )
    chart = LotChart(more=max(len(rows) - MAX_LOTS, 0))
    shown = sorted(rows[:MAX_LOTS], key=lambda r: (r["lot__product__name"], r["lot__lot_number"]))
    chart.rows = [
        LotRow(
            r["lot__uuid"], r["lot__product__name"], r["lot__lot_number"], r["sessions"], r["cases"]
        )
        for r in shown
    ]
    if not chart.rows:
        return chart
    low, high = proportion_confint(
        [r.cases for r in chart.rows], [r.sessions for r in chart.rows], alpha=0.05, method="wilson"
    )
    for row, lo, hi in zip(chart.rows, low, high, strict=True):
        row.rate, row.low, row.high = row.cases / row.sessions, float(lo), float(hi)
    all_sessions = sum(r["sessions"] for r in rows)
    chart.pooled = sum(r["cases"] for r in rows) / all_sessions
    top_value = nice_rate_max(max(r.high for r in chart.rows))
    span = chart.plot_right - chart.left

    def x_of(value: float) -> float:
        return chart.left + span * value / top_value

    for i, row in enumerate(chart.rows):
        row.y = chart.top + chart.row * i + chart.row / 2
        row.x_rate, row.x_low, row.x_high = x_of(row.rate), x_of(row.low), x_of(row.high)
    chart.x_pooled = x_of(chart.pooled)
    chart.x_ticks = [(x_of(top_value * i / 4), _pct(top_value * i / 4)) for i in range(5)]
    return chart


# --- the page --------------------------------------------------------------------------------


@dataclass
class Charts:
    period: Period
    reactions: ReactionsChart
    response: ResponseChart
    lots: LotChart
    patterns: list[tuple[str, str, str, str]] = field(default_factory=lambda: PATTERNS)


def charts_build(*, user: Any, clinic_ids: list[int], period: Period) -> Charts:
    """Three queries, one per chart, whatever the data volume."""
    return Charts(
        period=period,
        reactions=reactions_chart(user=user, clinic_ids=clinic_ids, period=period),
        response=response_chart(user=user, clinic_ids=clinic_ids, period=period),
        lots=lots_chart(user=user, clinic_ids=clinic_ids, period=period),
    )
