"""Lot safety numbers and signals (issue 11), computed from the summary tables.

For every lot: exposure (sessions that used it), cases (sessions followed by a reaction) for
any reaction and for each term, the rate with a 95% Wilson interval, and the comparison with
the same product's other lots pooled: the rate ratio, an exact conditional test (given the
product's total cases, the lot's share is binomial under "no difference") and the
Clopper-Pearson interval of that binomial share turned into a ratio interval.

Two kinds of signal, kept apart (docs/safety-signals.md explains the choices):

- a rate signal for (lot, term or "any"): at least 3 cases, rate ratio at least 2, the lower
  95% bound of the ratio above 1, and a Benjamini-Hochberg adjusted p-value at most 0.05
  across every comparison of the run (all lots x terms at once);
- a sentinel signal per report: a serious assessment or a sentinel term (anaphylaxis,
  infection, granuloma...), whatever the rates. These are the only raw rows read here.

Signals are stored once (`LotSignal.dedupe_key`); an open one has its figures refreshed, a
dismissed one comes back only when its cases have doubled since it was dismissed, an actioned
one stays closed. New signals are announced to the clinic's safety leads through the outbox.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.rates import test_poisson_2indep

from clinic.core import links
from clinic.core.exceptions import Conflict, RuleViolation
from clinic.core.metrics import LOT_SIGNAL_RUNS
from treatments.models import SessionStatus

from .models import (
    LotSignal,
    LotTermSummary,
    LotWeekSummary,
    ReactionReport,
    SignalKind,
    SignalStatus,
    SummaryFillState,
)

logger = logging.getLogger(__name__)

ALPHA = 0.05  # two-sided 95% intervals
FDR = 0.05  # Benjamini-Hochberg false discovery rate across a run's comparisons
MIN_CASES = 3
MIN_RATE_RATIO = 2.0
# A dismissed rate signal is raised again (as a new row) once its cases reach this multiple
# of the cases it had when it was dismissed.
RERAISE_FACTOR = 2
OPEN_STATUSES = (SignalStatus.NEW, SignalStatus.UNDER_REVIEW)
ANY = "any"

# The debounce marker: a SummaryFillState row that exists while a run is queued.
RUN_STATE = "lot-signals"
PENDING = "lot-signals-pending"
DEBOUNCE_SECONDS = 60
# A marker older than this is from a lost task (broker restart): it no longer blocks.
PENDING_STALE_AFTER = timedelta(minutes=15)


# --- the statistics -----------------------------------------------------------------------


def wilson(cases: int, exposure: int) -> tuple[float | None, float | None]:
    """95% Wilson interval of cases/exposure (None, None without exposure)."""
    if exposure <= 0:
        return None, None
    low, high = proportion_confint(cases, exposure, alpha=ALPHA, method="wilson")
    return float(low), float(high)


@dataclass(frozen=True)
class Comparison:
    """A lot against its product's other lots pooled, for one term (or any reaction)."""

    rate_ratio: float | None  # None when the other lots have no cases (ratio unbounded)
    rr_ci_low: float
    rr_ci_high: float | None  # None: unbounded
    p_value: float  # one-sided exact conditional test, "this lot's rate is larger"


def compare(cases: int, exposure: int, other_cases: int, other_exposure: int) -> Comparison:
    """Rate ratio with the exact conditional binomial test and its Clopper-Pearson interval.

    Given the total cases k + k0, the lot's cases are Binomial(k + k0, n / (n + n0)) when the
    rates are equal; the ratio is (p / (1 - p)) * (n0 / n) for the binomial share p.
    """
    total = cases + other_cases
    if total == 0:
        return Comparison(rate_ratio=None, rr_ci_low=0.0, rr_ci_high=None, p_value=1.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # its ratio when k0 = 0; unused
        result = test_poisson_2indep(
            cases,
            exposure,
            other_cases,
            other_exposure,
            method="exact-cond",
            compare="ratio",
            alternative="larger",
        )
    p_low, p_high = proportion_confint(cases, total, alpha=ALPHA, method="beta")
    scale = other_exposure / exposure

    def to_ratio(p: float) -> float | None:
        return None if p >= 1.0 else p / (1.0 - p) * scale

    ratio = (cases / exposure) / (other_cases / other_exposure) if other_cases else None
    return Comparison(
        rate_ratio=ratio,
        rr_ci_low=to_ratio(float(p_low)) or 0.0,
        rr_ci_high=to_ratio(float(p_high)),
        p_value=min(1.0, float(result.pvalue)),
    )


@dataclass
class Figure:
    """One lot's numbers for one term (`term_id` None: any reaction)."""

    lot_id: int
    product_id: int
    term_id: int | None
    cases: int
    exposure: int
    other_cases: int
    other_exposure: int
    rate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    comparison: Comparison | None = None
    p_adjusted: float | None = None

    @property
    def key(self) -> str:
        return ANY if self.term_id is None else str(self.term_id)

    @property
    def is_rate_signal(self) -> bool:
        c = self.comparison
        if c is None or self.p_adjusted is None or self.cases < MIN_CASES:
            return False
        ratio_ok = c.rate_ratio is None or c.rate_ratio >= MIN_RATE_RATIO
        return ratio_ok and c.rr_ci_low > 1.0 and self.p_adjusted <= FDR


@dataclass
class LotFigures:
    """Everything known about one lot: any reaction first, then per term."""

    lot_id: int
    product_id: int
    any: Figure
    terms: list[Figure] = field(default_factory=list)


def lot_figures(*, product_ids: Iterable[int] | None = None) -> dict[int, LotFigures]:
    """Numbers per lot from the summary tables (two queries), compared within each product.

    `product_ids` restricts the products (a page scoped to the user's clinics passes theirs);
    every lot of those products takes part, since each is compared with its siblings.
    """
    weeks = LotWeekSummary.objects.all()
    terms = LotTermSummary.objects.filter(cases__gt=0)
    if product_ids is not None:
        ids = list(product_ids)
        weeks = weeks.filter(lot__product_id__in=ids)
        terms = terms.filter(lot__product_id__in=ids)
    exposure: dict[int, tuple[int, int, int]] = {}  # lot -> (product, sessions, cases)
    for row in weeks.values("lot_id", "lot__product_id").annotate(
        n=Sum("sessions"), k=Sum("cases")
    ):
        exposure[row["lot_id"]] = (row["lot__product_id"], row["n"] or 0, row["k"] or 0)
    term_cases: dict[int, dict[int, int]] = defaultdict(dict)
    for row in terms.values_list("lot_id", "term_id", "cases"):
        if row[0] in exposure:
            term_cases[row[0]][row[1]] = row[2]

    product_n: dict[int, int] = defaultdict(int)
    product_k: dict[tuple[int, int | None], int] = defaultdict(int)
    for lot_id, (product_id, n, k) in exposure.items():
        product_n[product_id] += n
        product_k[product_id, None] += k
        for term_id, cases in term_cases[lot_id].items():
            product_k[product_id, term_id] += cases
    product_terms: dict[int, set[int]] = defaultdict(set)
    for product_id, term_id in product_k:
        if term_id is not None:
            product_terms[product_id].add(term_id)

    def figure(lot_id: int, term_id: int | None, cases: int) -> Figure:
        product_id, n, _ = exposure[lot_id]
        return _figure(
            lot_id=lot_id,
            product_id=product_id,
            term_id=term_id,
            cases=cases,
            exposure=n,
            other_cases=product_k[product_id, term_id] - cases,
            other_exposure=product_n[product_id] - n,
        )

    # A term counts for a lot when any lot of its product had it: the conditional test is
    # given the product's total, so choosing terms by that total keeps it valid.
    out = {
        lot_id: LotFigures(
            lot_id=lot_id,
            product_id=product_id,
            any=figure(lot_id, None, k),
            terms=[
                figure(lot_id, t, term_cases[lot_id].get(t, 0))
                for t in sorted(product_terms[product_id])
            ],
        )
        for lot_id, (product_id, _, k) in exposure.items()
    }
    return out


def _figure(**values: Any) -> Figure:
    f = Figure(**values)
    if f.exposure > 0:
        f.rate = f.cases / f.exposure
        f.ci_low, f.ci_high = wilson(f.cases, f.exposure)
        if f.other_exposure > 0:
            f.comparison = compare(f.cases, f.exposure, f.other_cases, f.other_exposure)
    return f


def adjust(figures: Iterable[LotFigures]) -> list[Figure]:
    """Benjamini-Hochberg across every comparison in `figures`; returns them, adjusted."""
    tested = [
        f
        for lf in figures
        for f in (lf.any, *lf.terms)
        if f.comparison is not None and f.cases + f.other_cases > 0
    ]
    if tested:
        _, adjusted, _, _ = multipletests(
            [f.comparison.p_value for f in tested],  # type: ignore[union-attr]
            alpha=FDR,
            method="fdr_bh",
        )
        for f, p in zip(tested, adjusted, strict=True):
            f.p_adjusted = float(p)
    return tested


# --- storing signals ----------------------------------------------------------------------


@dataclass
class Summary:
    """What one run did."""

    lots: int = 0
    tests: int = 0
    raised: list[int] = field(default_factory=list)  # new LotSignal ids
    updated: int = 0
    sentinels: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "lots": self.lots,
            "tests": self.tests,
            "raised": len(self.raised),
            "updated": self.updated,
            "sentinels": self.sentinels,
        }


def _rate_values(f: Figure) -> dict[str, Any]:
    c = f.comparison
    assert c is not None
    return {
        "cases": f.cases,
        "exposure": f.exposure,
        "rate": f.rate,
        "ci_low": f.ci_low,
        "ci_high": f.ci_high,
        "rate_ratio": c.rate_ratio,
        "rr_ci_low": c.rr_ci_low,
        "p_value": f.p_adjusted,
    }


def _rate_key(f: Figure, generation: int) -> str:
    base = f"rate:{f.lot_id}:{f.key}"
    return base if generation == 1 else f"{base}:r{generation}"


def _store_rate_signals(figures: list[Figure], summary: Summary) -> None:
    by_base: dict[str, list[LotSignal]] = defaultdict(list)
    lot_ids = {f.lot_id for f in figures}
    for s in LotSignal.objects.filter(kind=SignalKind.RATE, lot_id__in=lot_ids).order_by("pk"):
        lot_id, key = s.dedupe_key.split(":")[1:3]
        by_base[f"{lot_id}:{key}"].append(s)
    for f in figures:
        existing = by_base.get(f"{f.lot_id}:{f.key}", [])
        latest = existing[-1] if existing else None
        if latest is not None and latest.status in OPEN_STATUSES:
            # Keep an open signal's figures current, whether or not it still meets the rule:
            # the safety lead decides what happens to it.
            values = _rate_values(f)
            if any(getattr(latest, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(latest, k, v)
                latest.save(update_fields=[*values, "updated_at"])
                summary.updated += 1
            continue
        if not f.is_rate_signal:
            continue
        if latest is not None:
            if latest.status == SignalStatus.ACTIONED:
                continue
            if f.cases < RERAISE_FACTOR * max(latest.cases, 1):
                continue  # dismissed, and not grown enough to ask again
        signal = LotSignal(
            lot_id=f.lot_id,
            kind=SignalKind.RATE,
            term_id=f.term_id,
            dedupe_key=_rate_key(f, len(existing) + 1),
            **_rate_values(f),
        )
        signal.full_clean(validate_unique=False)
        try:
            with transaction.atomic():
                signal.save()
        except IntegrityError:
            continue  # a concurrent run raised it first
        summary.raised.append(signal.pk)


def sentinel_reports() -> QuerySet[ReactionReport]:
    """Reports that raise a signal on their own and have none yet (sessions not in error)."""
    serious = (
        Q(assessment__serious_death=True)
        | Q(assessment__serious_life_threatening=True)
        | Q(assessment__serious_hospitalisation=True)
        | Q(assessment__serious_disability=True)
        | Q(assessment__serious_medically_important=True)
    )
    return (
        ReactionReport.objects.filter(Q(term__sentinel=True) | serious)
        .exclude(session__status=SessionStatus.ENTERED_IN_ERROR)
        .exclude(signals__kind=SignalKind.SENTINEL)
        .select_related("session", "term")
        .order_by("pk")
    )


def _store_sentinels(figures: dict[int, LotFigures], summary: Summary) -> None:
    for report in sentinel_reports():
        lot_id = report.session.lot_id
        lf = figures.get(lot_id)
        exposure = lf.any.exposure if lf else 0
        signal = LotSignal(
            lot_id=lot_id,
            kind=SignalKind.SENTINEL,
            term=report.term,
            report=report,
            dedupe_key=f"sentinel:{report.pk}",
            cases=1,
            exposure=exposure,
        )
        signal.full_clean(validate_unique=False)
        try:
            with transaction.atomic():
                signal.save()
        except IntegrityError:
            continue
        summary.raised.append(signal.pk)
        summary.sentinels += 1


def _announce(signal_ids: list[int]) -> None:
    from patients import outbox
    from patients.models import MessageKind
    from treatments.services import safety_lead_emails

    signals = LotSignal.objects.filter(pk__in=signal_ids).select_related(
        "lot__product__clinic", "term"
    )
    site = settings.SITE_URL.rstrip("/")
    for s in signals:
        clinic = s.lot.product.clinic
        page = f"{site}{links.url_for('safety-lot', s.lot.uuid)}"
        what = s.term.name if s.term else "any reaction"
        if s.kind == SignalKind.SENTINEL:
            subject = f"Sentinel event on {s.lot}: review it"
            detail = f"A {what} report (serious or sentinel) on a session with this lot."
        else:
            subject = f"Rate signal on {s.lot}: review it"
            detail = (
                f"{what}: {s.cases} of {s.exposure} sessions, higher than the product's other lots."
            )
        # No patient detail: the address may be a shared inbox.
        for email in safety_lead_emails(clinic) or [clinic.on_call_email]:
            outbox.message_to_staff(
                clinic=clinic,
                to_email=email,
                kind=MessageKind.STAFF_NOTICE,
                subject=subject,
                body=f"{detail}\nReview it on the lot's safety page:\n{page}\n",
                idempotency_key=f"signal:{s.pk}:{email}",
                context={"signal": s.pk},
            )


def signals_compute(*, now: datetime | None = None) -> Summary:
    """Compute every lot's figures, store new and updated signals, alert the safety leads.

    Reads the summary tables (call `summaries_refresh()` first) and, for sentinel events
    only, the reports. Safe to run twice: signals are unique by `dedupe_key`.
    """
    now = now or timezone.now()
    figures = lot_figures()
    tested = adjust(figures.values())
    summary = Summary(lots=len(figures), tests=len(tested))
    _store_rate_signals(tested, summary)
    _store_sentinels(figures, summary)
    if summary.raised:
        transaction.on_commit(lambda ids=list(summary.raised): _announce(ids))
    state, _ = SummaryFillState.objects.get_or_create(name=RUN_STATE)
    SummaryFillState.objects.filter(pk=state.pk).update(
        filled_until=now, last_run_at=timezone.now(), last_keys=len(summary.raised)
    )
    logger.info("lot signals computed: %s", summary.as_dict())
    LOT_SIGNAL_RUNS.inc()
    return summary


# --- debounce: a burst of reports costs one run -------------------------------------------


def signals_run_claim(*, now: datetime | None = None) -> bool:
    """Mark a run as pending; True only for the caller that should enqueue it.

    The marker is a row with a unique name, so across processes exactly one insert wins; a
    marker left by a lost task stops blocking after PENDING_STALE_AFTER (conditional UPDATE).
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            SummaryFillState.objects.create(name=PENDING, filled_until=now)
    except IntegrityError:
        return bool(
            SummaryFillState.objects.filter(
                name=PENDING, filled_until__lt=now - PENDING_STALE_AFTER
            ).update(filled_until=now)
        )
    return True


def signals_run_started() -> None:
    """The queued run starts: reports from now on ask for a new one."""
    SummaryFillState.objects.filter(name=PENDING).delete()


# Enqueueing the run is the task module's job (adverse_events/tasks.py `signals_run_soon`): this
# module computes, the tasks module imports it, never the other way round.


# --- review -------------------------------------------------------------------------------

REVIEW_MOVES = {
    SignalStatus.NEW: {SignalStatus.UNDER_REVIEW, SignalStatus.DISMISSED, SignalStatus.ACTIONED},
    SignalStatus.UNDER_REVIEW: {SignalStatus.DISMISSED, SignalStatus.ACTIONED},
    SignalStatus.DISMISSED: set(),
    SignalStatus.ACTIONED: set(),
}


@transaction.atomic
def signal_review(*, signal: LotSignal, user: Any, status: str, reason: str = "") -> LotSignal:
    """Move a signal on: new -> under review -> dismissed (with a reason) or actioned.

    Who and when are kept on the row and in its history; a closed signal stays closed.
    """
    current = LotSignal.objects.select_for_update(of=("self",)).get(pk=signal.pk)
    if status not in SignalStatus.values or status == SignalStatus.NEW:
        raise RuleViolation("Choose under review, dismissed or actioned.", field="status")
    reason = reason.strip()
    if status not in REVIEW_MOVES[SignalStatus(current.status)]:
        raise Conflict(
            f"This signal is already {current.get_status_display().lower()}.", field="status"
        )
    if status == SignalStatus.DISMISSED and not reason:
        raise RuleViolation("Say why the signal is dismissed.", field="reason")
    if len(reason) > 2000:
        raise RuleViolation("Keep the reason under 2,000 characters.", field="reason")
    current.status = status
    current.status_reason = reason
    current.reviewed_by = user
    current.reviewed_at = timezone.now()
    current._history_user = user  # type: ignore[attr-defined]
    current.full_clean()
    current.save()
    return current
