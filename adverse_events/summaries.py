"""Summary tables for charts and lot signals, refreshed incrementally.

Zulip's analytics FillState, in spirit: each table has a `SummaryFillState` row saying how far
it has been brought up to date. A refresh finds the keys touched since then (minus a small
overlap for transactions that committed late), and recomputes only those keys from the raw
rows with grouped queries: delete the key's rows, insert the fresh ones, one transaction per
table. So a run costs what changed, not what exists. The `live_*` functions compute the same
aggregates straight from the raw rows; tests prove the tables equal them.

What "touched" means, per table:

- lots (LotWeekSummary, LotTermSummary; key: lot): the lot of every session with a history
  row since then (history is written for saves AND for bulk writes by `AuditedQuerySet`, and
  it keeps the old lot of a lot correction), and the lot of every session whose reaction
  reports have a history row since then.
- reactions (ReactionWeekSummary; key: clinic and week of onset): the (clinic, onset week) of
  every report with a history row since then (the old onset too, when corrected), and of the
  reports of sessions changed since then (entered in error drops them from the counts).
- checkins (CheckInWeekSummary; key: clinic and week of the session): check-ins whose
  `updated_at` is since then (`AuditedQuerySet.update()` keeps it true for bulk writes), and
  the (clinic, week) of sessions changed since then.

Counting rules (the models' docstrings are the contract):

- Sessions entered in error count nowhere: not as exposure, not their reports, not their
  check-ins.
- Weeks are the Monday of the ISO week; session times are taken in UTC.
- A check-in was "sent" once it went out: sent, reminded, answered (either way) or missed.
  Scheduled, queued, failed and cancelled ones were never in front of the patient. Only
  (clinic, week, step) groups with at least one sent check-in get a row.
- `day_after` is the step's offset in whole days from the clinic's check-in plan; a step no
  longer in the plan falls back to the shortest (due time - session time) of its check-ins,
  in whole days. Changing a plan step's offset shows in weeks refreshed after the change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Count, DateField, DurationField, ExpressionWrapper, F, Min, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone

from clinic.core.models import CheckInPlanStep
from treatments.models import (
    ANSWERED_STATES,
    CheckIn,
    CheckInState,
    SessionStatus,
    TreatmentSession,
)

from .models import (
    CheckInWeekSummary,
    LotTermSummary,
    LotWeekSummary,
    ReactionReport,
    ReactionWeekSummary,
    SummaryFillState,
)

# Transactions that started before a run but committed after it are still seen by the next.
OVERLAP = timedelta(minutes=10)
# Keys per grouped query: a big backlog never builds one giant IN list.
CHUNK = 500

SENT_STATES = (
    CheckInState.SENT,
    CheckInState.REMINDED,
    CheckInState.ANSWERED_FINE,
    CheckInState.ANSWERED_REACTIONS,
    CheckInState.MISSED,
)
TABLES = ("lots", "reactions", "checkins")

K = TypeVar("K")
Week = date


def week_of(day: date | datetime) -> Week:
    """Monday of the ISO week of a date, or of a datetime taken in UTC."""
    if isinstance(day, datetime):
        day = day.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def _week_start(week: Week) -> datetime:
    return datetime(week.year, week.month, week.day, tzinfo=UTC)


def _chunks(items: Iterable[K]) -> Iterator[list[K]]:
    size = CHUNK  # read at call time, so tests can shrink it
    batch: list[K] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _trunc_week(field: str, *, utc: bool) -> TruncWeek:
    if utc:
        return TruncWeek(field, output_field=DateField(), tzinfo=UTC)
    return TruncWeek(field)


# --- the refresh -----------------------------------------------------------------------------


def summaries_refresh(*, now: datetime | None = None) -> dict[str, int]:
    """Bring every summary table up to date; returns how many keys each table recomputed.

    Safe to run twice or concurrently: each table's fill state row is locked for its run.
    """
    now = now or timezone.now()
    refreshers = {
        "lots": _refresh_lots,
        "reactions": _refresh_reactions,
        "checkins": _refresh_checkins,
    }
    done: dict[str, int] = {}
    for name, refresh in refreshers.items():
        SummaryFillState.objects.get_or_create(name=name)
        with transaction.atomic():
            state = SummaryFillState.objects.select_for_update().get(name=name)
            since = state.filled_until - OVERLAP if state.filled_until else None
            keys = refresh(since)
            state.filled_until = now
            state.last_run_at = timezone.now()
            state.last_keys = keys
            state.save(update_fields=["filled_until", "last_run_at", "last_keys"])
        done[name] = keys
    return done


def summaries_as_of() -> datetime | None:
    """When the tables were last brought up to date (the oldest of the three), or None."""
    states = {s.name: s.filled_until for s in SummaryFillState.objects.filter(name__in=TABLES)}
    if len(states) < len(TABLES) or None in states.values():
        return None
    return min(v for v in states.values() if v is not None)


def _changed_sessions(since: datetime) -> list[tuple[int, int, int, datetime]]:
    """(session id, clinic id, lot id, performed at) of every version of every session
    changed since `since`. Every version, not only the new ones: a lot correction's old lot
    (and a corrected time's old week) lives in the version before the change."""
    history = TreatmentSession.history.model  # type: ignore[attr-defined]
    changed = history.objects.filter(history_date__gte=since).values("id")
    return list(
        history.objects.filter(id__in=changed)
        .order_by()
        .values_list("id", "clinic_id", "lot_id", "performed_at")
        .distinct()
    )


def _changed_reports(since: datetime) -> list[tuple[int, int, date]]:
    """(session id, clinic id, onset date) of every version of every report changed since
    `since` (the old onset of a corrected one too)."""
    history = ReactionReport.history.model  # type: ignore[attr-defined]
    changed = history.objects.filter(history_date__gte=since).values("id")
    return list(
        history.objects.filter(id__in=changed)
        .order_by()
        .values_list("session_id", "clinic_id", "onset_date")
        .distinct()
    )


# lots


def _refresh_lots(since: datetime | None) -> int:
    if since is None:
        LotWeekSummary.objects.all().delete()
        LotTermSummary.objects.all().delete()
        lots = set(TreatmentSession.objects.values_list("lot_id", flat=True).distinct())
    else:
        lots = {lot for _, _, lot, _ in _changed_sessions(since)}
        sessions = {session for session, _, _ in _changed_reports(since)}
        for batch in _chunks(sorted(sessions)):
            lots.update(
                TreatmentSession.objects.filter(pk__in=batch).values_list("lot_id", flat=True)
            )
    for batch in _chunks(sorted(lots)):
        _recompute_lots(batch)
    return len(lots)


def _recompute_lots(lots: Sequence[int]) -> None:
    exposed = TreatmentSession.objects.filter(lot_id__in=lots).exclude(
        status=SessionStatus.ENTERED_IN_ERROR
    )
    weeks = (
        exposed.annotate(week=_trunc_week("performed_at", utc=True))
        .order_by()
        .values("lot_id", "week")
        # A session with any report is one case, however many reports it has.
        .annotate(n=Count("pk", distinct=True), cases=Count("reactions__session", distinct=True))
    )
    terms = (
        ReactionReport.objects.filter(session__in=exposed)
        .order_by()
        .values("session__lot_id", "term_id")
        .annotate(cases=Count("session", distinct=True))
    )
    LotWeekSummary.objects.filter(lot_id__in=lots).delete()
    LotTermSummary.objects.filter(lot_id__in=lots).delete()
    LotWeekSummary.objects.bulk_create(
        LotWeekSummary(lot_id=r["lot_id"], week=r["week"], sessions=r["n"], cases=r["cases"])
        for r in weeks
    )
    LotTermSummary.objects.bulk_create(
        LotTermSummary(lot_id=r["session__lot_id"], term_id=r["term_id"], cases=r["cases"])
        for r in terms
    )


# reactions


def _refresh_reactions(since: datetime | None) -> int:
    if since is None:
        ReactionWeekSummary.objects.all().delete()
        keys = set(
            ReactionReport.objects.annotate(week=_trunc_week("onset_date", utc=False))
            .order_by()
            .values_list("clinic_id", "week")
            .distinct()
        )
    else:
        keys = {(clinic, week_of(onset)) for _, clinic, onset in _changed_reports(since)}
        sessions = sorted({session for session, _, _, _ in _changed_sessions(since)})
        for batch in _chunks(sessions):
            keys.update(
                (clinic, week_of(onset))
                for clinic, onset in ReactionReport.objects.filter(session_id__in=batch)
                .order_by()
                .values_list("clinic_id", "onset_date")
                .distinct()
            )
    for batch in _chunks(sorted(keys)):
        _recompute_reactions(batch)
    return len(keys)


def _by_week(keys: Iterable[tuple[int, Week]]) -> dict[Week, list[int]]:
    clinics: dict[Week, list[int]] = defaultdict(list)
    for clinic, week in keys:
        clinics[week].append(clinic)
    return clinics


def _recompute_reactions(keys: Sequence[tuple[int, Week]]) -> None:
    # One condition per week (not per key): "this week, at one of these clinics" is exact.
    where = Q()
    wipe = Q()
    for week, clinics in _by_week(keys).items():
        where |= Q(onset_date__gte=week, onset_date__lt=week + timedelta(days=7)) & Q(
            clinic_id__in=clinics
        )
        wipe |= Q(week=week, clinic_id__in=clinics)
    rows = (
        ReactionReport.objects.filter(where)
        .exclude(session__status=SessionStatus.ENTERED_IN_ERROR)
        .annotate(week=_trunc_week("onset_date", utc=False))
        .order_by()
        .values("clinic_id", "week", "term_id")
        .annotate(n=Count("pk"))
    )
    ReactionWeekSummary.objects.filter(wipe).delete()
    ReactionWeekSummary.objects.bulk_create(
        ReactionWeekSummary(
            clinic_id=r["clinic_id"], week=r["week"], term_id=r["term_id"], reports=r["n"]
        )
        for r in rows
    )


# check-ins


def _refresh_checkins(since: datetime | None) -> int:
    if since is None:
        CheckInWeekSummary.objects.all().delete()
        keys = set(
            CheckIn.objects.annotate(week=_trunc_week("session__performed_at", utc=True))
            .order_by()
            .values_list("session__clinic_id", "week")
            .distinct()
        )
    else:
        keys = {
            (clinic, week_of(performed_at))
            for clinic, performed_at in CheckIn.objects.filter(updated_at__gte=since)
            .order_by()
            .values_list("session__clinic_id", "session__performed_at")
            .distinct()
        }
        keys.update(
            (clinic, week_of(performed_at))
            for _, clinic, _, performed_at in _changed_sessions(since)
        )
    for batch in _chunks(sorted(keys)):
        _recompute_checkins(batch)
    return len(keys)


def _recompute_checkins(keys: Sequence[tuple[int, Week]]) -> None:
    where = Q()
    wipe = Q()
    by_week = _by_week(keys)
    for week, clinics in by_week.items():
        start = _week_start(week)
        where |= Q(
            session__performed_at__gte=start,
            session__performed_at__lt=start + timedelta(days=7),
            session__clinic_id__in=clinics,
        )
        wipe |= Q(week=week, clinic_id__in=clinics)
    rows = (
        CheckIn.objects.filter(where)
        .exclude(session__status=SessionStatus.ENTERED_IN_ERROR)
        .annotate(week=_trunc_week("session__performed_at", utc=True))
        .order_by()
        .values("session__clinic_id", "week", "step_code")
        .annotate(
            sent=Count("pk", filter=Q(state__in=SENT_STATES)),
            answered=Count("pk", filter=Q(state__in=ANSWERED_STATES)),
            shortest=Min(
                ExpressionWrapper(
                    F("due_at") - F("session__performed_at"), output_field=DurationField()
                )
            ),
        )
        .filter(sent__gt=0)
    )
    clinics = {clinic for clinics in by_week.values() for clinic in clinics}
    plan = _plan_days(clinics)
    CheckInWeekSummary.objects.filter(wipe).delete()
    CheckInWeekSummary.objects.bulk_create(
        CheckInWeekSummary(
            clinic_id=r["session__clinic_id"],
            week=r["week"],
            step_code=r["step_code"],
            day_after=_day_after(plan, r["session__clinic_id"], r["step_code"], r["shortest"]),
            sent=r["sent"],
            answered=r["answered"],
        )
        for r in rows
    )


def _plan_days(clinics: Iterable[int]) -> dict[tuple[int, str], int]:
    return {
        (clinic, code): offset.days
        for clinic, code, offset in CheckInPlanStep.objects.filter(
            clinic_id__in=list(clinics)
        ).values_list("clinic_id", "code", "offset")
    }


def _day_after(
    plan: dict[tuple[int, str], int], clinic: int, step: str, shortest: timedelta | None
) -> int:
    if (clinic, step) in plan:
        return plan[clinic, step]
    return max(shortest.days, 0) if shortest is not None else 0


# --- the same aggregates, straight from the raw rows (for tests and checks) -------------------


def live_lot_weeks() -> dict[tuple[int, Week], tuple[int, int]]:
    """{(lot, week): (sessions, cases)} from the sessions and their reports."""
    with_reports = set(ReactionReport.objects.values_list("session_id", flat=True))
    out: dict[tuple[int, Week], list[int]] = defaultdict(lambda: [0, 0])
    for pk, lot, performed_at in TreatmentSession.objects.exclude(
        status=SessionStatus.ENTERED_IN_ERROR
    ).values_list("pk", "lot_id", "performed_at"):
        counts = out[lot, week_of(performed_at)]
        counts[0] += 1
        counts[1] += pk in with_reports
    return {key: (n, cases) for key, (n, cases) in out.items()}


def live_lot_terms() -> dict[tuple[int, int], int]:
    """{(lot, term): sessions with at least one report of the term}."""
    pairs = set(
        ReactionReport.objects.exclude(session__status=SessionStatus.ENTERED_IN_ERROR).values_list(
            "session__lot_id", "term_id", "session_id"
        )
    )
    out: dict[tuple[int, int], int] = defaultdict(int)
    for lot, term, _ in pairs:
        out[lot, term] += 1
    return dict(out)


def live_reaction_weeks() -> dict[tuple[int, Week, int], int]:
    """{(clinic, onset week, term): reports}."""
    out: dict[tuple[int, Week, int], int] = defaultdict(int)
    for clinic, onset, term in ReactionReport.objects.exclude(
        session__status=SessionStatus.ENTERED_IN_ERROR
    ).values_list("clinic_id", "onset_date", "term_id"):
        out[clinic, week_of(onset), term] += 1
    return dict(out)


def live_checkin_weeks() -> dict[tuple[int, Week, str], tuple[int, int, int]]:
    """{(clinic, session week, step): (day after, sent, answered)}, groups with one sent."""
    groups: dict[tuple[int, Week, str], dict[str, Any]] = defaultdict(
        lambda: {"sent": 0, "answered": 0, "shortest": None}
    )
    for clinic, performed_at, step, state, due_at in CheckIn.objects.exclude(
        session__status=SessionStatus.ENTERED_IN_ERROR
    ).values_list("session__clinic_id", "session__performed_at", "step_code", "state", "due_at"):
        group = groups[clinic, week_of(performed_at), step]
        group["sent"] += state in SENT_STATES
        group["answered"] += state in ANSWERED_STATES
        gap = due_at - performed_at
        if group["shortest"] is None or gap < group["shortest"]:
            group["shortest"] = gap
    plan = _plan_days({clinic for clinic, _, _ in groups})
    return {
        key: (_day_after(plan, key[0], key[2], g["shortest"]), g["sent"], g["answered"])
        for key, g in groups.items()
        if g["sent"]
    }


def table_lot_weeks() -> dict[tuple[int, Week], tuple[int, int]]:
    return {(r.lot_id, r.week): (r.sessions, r.cases) for r in LotWeekSummary.objects.all()}


def table_lot_terms() -> dict[tuple[int, int], int]:
    return {(r.lot_id, r.term_id): r.cases for r in LotTermSummary.objects.all()}


def table_reaction_weeks() -> dict[tuple[int, Week, int], int]:
    return {(r.clinic_id, r.week, r.term_id): r.reports for r in ReactionWeekSummary.objects.all()}


def table_checkin_weeks() -> dict[tuple[int, Week, str], tuple[int, int, int]]:
    return {
        (r.clinic_id, r.week, r.step_code): (r.day_after, r.sent, r.answered)
        for r in CheckInWeekSummary.objects.all()
    }
