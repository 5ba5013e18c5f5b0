"""Selectors behind the staff dashboard, one per panel.

Each panel costs a fixed number of queries whatever the data volume (pinned by tests): lists
are sliced, counts are aggregates, and "today" is a time window per clinic computed in Python
from the clinic's time zone (the user belongs to a handful of clinics, never thousands).
Every read goes through `visible(Model, user)` (clinic/core/access.py), so the front desk gets
no rows from clinical models (alarms, reactions, assessments, signals) even if a template asked
for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import (
    Case,
    Count,
    DateField,
    F,
    Func,
    IntegerField,
    Max,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from adverse_events.models import (
    Alarm,
    LotSignal,
    ReactionReport,
    ReactionTerm,
    SignalStatus,
)
from adverse_events.selectors import UNTRIAGED, triage_ordered
from clinic.core.access import visible
from clinic.core.models import CLINICAL_ROLES, Clinic, Membership, Role
from patients.models import CallTask
from patients.selectors import call_tasks_open
from treatments.booking import series_book_from
from treatments.models import (
    LIVE_APPOINTMENT_STATUSES,
    Appointment,
    AppointmentStatus,
    CheckIn,
    CheckInState,
    SeriesStatus,
    SessionStatus,
    TreatmentSeries,
    TreatmentSession,
)

PANEL_LIMIT = 20
DAY_LIMIT = 40  # a practitioner's appointments in one day: all of them, in practice
RESPONSE_WINDOW_DAYS = 30

# A check-in counts in the response rate once it has gone out: sent, reminded, answered or
# missed. Scheduled/queued ones have not been asked yet; failed/cancelled never reached anyone.
ASKED_STATES = (
    CheckInState.SENT,
    CheckInState.REMINDED,
    CheckInState.ANSWERED_FINE,
    CheckInState.ANSWERED_REACTIONS,
    CheckInState.MISSED,
)
ANSWERED = (CheckInState.ANSWERED_FINE, CheckInState.ANSWERED_REACTIONS)


class AddDays(Func):
    """`date + n days` in SQL, for PostgreSQL (date + integer) and SQLite (date modifier)."""

    output_field = DateField()
    arity = 2

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" + ")

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="date(%(expressions)s || ' days')",
            arg_joiner=", '+' || ",
        )


@dataclass(frozen=True)
class Roles:
    clinical: bool
    front_desk: bool
    manager: bool
    time_zone: str  # of the user's first clinic: the dashboard shows times in it
    places: tuple[str, ...] = ()  # "Seoul — Practitioner", one per membership


def dashboard_roles(user: Any) -> Roles:
    rows = list(
        Membership.objects.active()
        .filter(user=user)
        .order_by("clinic_id")
        .values_list("role", "clinic__time_zone", "clinic__name")
    )
    roles = {role for role, _, _ in rows}
    return Roles(
        clinical=bool(roles & CLINICAL_ROLES),
        front_desk=Role.FRONT_DESK in roles,
        manager=Role.MANAGER in roles,
        time_zone=rows[0][1] if rows else "UTC",
        places=tuple(f"{name} — {Role(role).label}" for role, _, name in rows),
    )


def today_windows(*, user: Any, roles: frozenset[str] | None = None) -> list[tuple[int, Any, Any]]:
    """(clinic id, start, end) of today in each of the user's clinics, in their time zones."""
    clinics = Clinic.objects.filter(pk__in=Membership.clinic_ids_for(user, roles)).only(
        "pk", "time_zone"
    )
    now = timezone.now()
    windows = []
    for clinic in clinics:
        start, end = clinic.day_span(clinic.local(now).date())
        windows.append((clinic.pk, start, end))
    return windows


def _in_windows(windows: list[tuple[int, Any, Any]], field: str) -> Q:
    q = Q(pk__in=[])
    for clinic_id, start, end in windows:
        q |= Q(clinic_id=clinic_id, **{f"{field}__gte": start, f"{field}__lt": end})
    return q


# --- practitioner and safety lead ----------------------------------------------------------


def alarms_unacknowledged(*, user: Any) -> QuerySet[Alarm]:
    """Red-flag alarms nobody has acknowledged yet, oldest first (they wait longest).

    Two prefetches, whatever the number of alarms: the red-flag reactions reported so far
    (`terms`) and the opening submission's red-flag reports (`flagged`: the card links the
    first)."""
    flagged = (
        ReactionReport.objects.filter(term__red_flag=True).select_related("term").order_by("pk")
    )
    return (
        visible(Alarm, user)
        .filter(acknowledged_at__isnull=True)
        .select_related("patient", "clinic", "session", "submission")
        .prefetch_related(
            Prefetch("terms", queryset=ReactionTerm.objects.order_by("display_order", "name")),
            Prefetch("submission__reactions", queryset=flagged, to_attr="flagged"),
        )
        .order_by("raised_at")
    )


def reports_to_triage(*, user: Any) -> QuerySet[ReactionReport]:
    """Reports whose assessment is still new (or missing), in the triage order: open red
    flags, then severe, moderate, mild (assessed grade over the patient's rating), each
    oldest first (`adverse_events.selectors.triage_ordered`)."""
    return triage_ordered(
        visible(ReactionReport, user)
        .filter(UNTRIAGED)
        .select_related("patient", "term", "session", "assessment")
    )


def reactions_prolonged(*, user: Any) -> QuerySet[ReactionReport]:
    """Still-ongoing reactions past their term's usual course (onset + course < today).

    "Today" is each clinic's own date: at 08:00 in Seoul it is still yesterday in UTC, and a
    reaction due to end yesterday (Seoul) is prolonged there already."""
    past_course = Q(pk__in=[])
    for clinic_id, start, _ in today_windows(user=user, roles=CLINICAL_ROLES):
        past_course |= Q(clinic_id=clinic_id, expected_end__lt=start.date())
    return (
        visible(ReactionReport, user)
        .filter(ongoing=True, term__usual_course_days__isnull=False)
        .annotate(expected_end=AddDays(F("onset_date"), F("term__usual_course_days")))
        .filter(past_course)
        .select_related("patient", "term", "session")
        .order_by("onset_date")
    )


def sessions_today(*, user: Any) -> QuerySet[TreatmentSession]:
    windows = today_windows(user=user, roles=CLINICAL_ROLES)
    return (
        visible(TreatmentSession, user, roles=CLINICAL_ROLES)
        .filter(_in_windows(windows, "performed_at"))
        .exclude(status=SessionStatus.ENTERED_IN_ERROR)
        .select_related("patient", "practitioner", "lot__product")
        .order_by("performed_at")
    )


# The practitioner's day: who is waiting first, then who is in the chair, then the rest.
DAY_ORDER = Case(
    When(status=AppointmentStatus.ARRIVED, then=Value(0)),
    When(status=AppointmentStatus.IN_TREATMENT, then=Value(1)),
    When(status=AppointmentStatus.BOOKED, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)
# An appointment of the day whose session can be opened from the day list.
DAY_OPEN_STATUSES = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.ARRIVED,
    AppointmentStatus.IN_TREATMENT,
)


def practitioner_day(*, user: Any) -> QuerySet[Appointment]:
    """The user's own appointments on their clinics' today (each clinic's zone), arrived
    patients on top, then in treatment, booked, and the finished ones; cancelled ones left
    out. One query: patient, series and the session logged against it come joined."""
    windows = today_windows(user=user, roles=CLINICAL_ROLES)
    return (
        visible(Appointment, user, roles=CLINICAL_ROLES)
        .filter(_in_windows(windows, "starts_at"), practitioner=user)
        .exclude(status=AppointmentStatus.CANCELLED)
        .annotate(day_order=DAY_ORDER)
        .select_related("patient", "series", "clinic", "session")
        .order_by("day_order", "starts_at", "pk")
    )


@dataclass(frozen=True)
class ResponseRate:
    asked: int
    answered: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.answered / self.asked) if self.asked else None


def checkin_response_rate(
    *,
    user: Any,
    days: int = RESPONSE_WINDOW_DAYS,
    narrow: Callable[[QuerySet], QuerySet] | None = None,
) -> ResponseRate:
    """Check-ins sent in the last `days` days and how many of them were answered (one query).
    `narrow` may keep fewer clinics (the page's active clinic)."""
    since = timezone.now() - timedelta(days=days)
    checkins = visible(CheckIn, user, roles=CLINICAL_ROLES)
    if narrow is not None:
        checkins = narrow(checkins)
    totals = checkins.filter(state__in=ASKED_STATES, sent_at__gte=since).aggregate(
        asked=Count("pk"), answered=Count("pk", filter=Q(state__in=ANSWERED))
    )
    return ResponseRate(asked=totals["asked"], answered=totals["answered"])


def lots_with_open_signals(*, user: Any) -> QuerySet[LotSignal]:
    return (
        visible(LotSignal, user)
        .filter(status__in=(SignalStatus.NEW, SignalStatus.UNDER_REVIEW))
        .select_related("lot__product", "term")
        .order_by("-created_at")
    )


# --- front desk ----------------------------------------------------------------------------


def appointments_today(*, user: Any) -> QuerySet[Appointment]:
    windows = today_windows(user=user)
    return (
        visible(Appointment, user)
        .filter(_in_windows(windows, "starts_at"))
        .select_related("patient", "practitioner", "clinic")
        .order_by("starts_at")
    )


def calls_open(*, user: Any) -> QuerySet[CallTask]:
    return call_tasks_open(user=user)


def series_to_book(*, user: Any) -> QuerySet[TreatmentSeries]:
    """Active series with fewer live appointments than sessions planned, each with the start
    of its last live appointment (`last_live`: the next session is booked after it)."""
    live = Q(appointments__status__in=LIVE_APPOINTMENT_STATUSES)
    return (
        visible(TreatmentSeries, user)
        .filter(status=SeriesStatus.ACTIVE)
        .annotate(
            live=Count("appointments", filter=live),
            last_live=Max("appointments__starts_at", filter=live),
        )
        .filter(live__lt=F("sessions_planned"))
        .select_related("patient", "clinic", "template")
        .order_by("created_at")
    )


def series_to_book_panel(
    *, user: Any, narrow: Callable[[QuerySet], QuerySet] = lambda qs: qs
) -> Panel:
    """The "series to book" panel: each row with the window its next session may be booked
    in (`book_from`, `book_by`: the series' 4-6 weeks after its last live appointment, never
    before today), computed in Python from the loaded rows. `narrow` keeps one clinic's."""
    found = panel(narrow(series_to_book(user=user)))
    for row in found.rows:
        row.book_from, row.book_by = series_book_from(row, row.last_live)
    return found


@dataclass
class Panel:
    """A list panel: the first rows and how many there are in all (two queries)."""

    rows: list[Any]
    total: int


def panel(queryset: QuerySet, limit: int = PANEL_LIMIT) -> Panel:
    # Always count, so the number of queries does not depend on how many rows there are.
    return Panel(rows=list(queryset[:limit]), total=queryset.count())


# --- triage page and the reactions list -----------------------------------------------------


@dataclass
class TriageContext:
    report: ReactionReport
    assessment: Any
    same_submission: list[ReactionReport]
    earlier: list[ReactionReport]
    photos: list[Any]
    history: list[Any]


def reports_loaded() -> QuerySet[ReactionReport]:
    """Reports with what the triage page and the reactions list show loaded; not scoped, so
    pass it through `visible` / `visible_or_404`."""
    return ReactionReport.objects.select_related(
        "patient",
        "clinic",
        "term",
        "submission",
        "session__practitioner",
        "session__lot__product",
        "assessment__assessed_by",
    )


def reports_for_clinicians(*, user: Any) -> QuerySet[ReactionReport]:
    return visible(reports_loaded(), user, roles=CLINICAL_ROLES)


def triage_context(*, report: ReactionReport, user: Any) -> TriageContext:
    """Everything the triage page shows about one report. Opening it is recorded."""
    from adverse_events.models import Assessment
    from patients.models import PatientAccess

    PatientAccess.objects.create(patient_id=report.patient_id, user=user, action="triage_view")
    assessment = getattr(report, "assessment", None) or Assessment(report=report)
    siblings = list(
        ReactionReport.objects.filter(submission_id=report.submission_id)
        .select_related("term")
        .order_by("pk")
    )
    earlier = list(
        ReactionReport.objects.filter(
            patient_id=report.patient_id, created_at__lt=report.created_at
        )
        .exclude(submission_id=report.submission_id)
        .select_related("term", "session", "assessment")
        .order_by("-created_at")[:PANEL_LIMIT]
    )
    photos = list(report.submission.photos.order_by("created_at"))
    history = (
        list(assessment.history.select_related("history_user").order_by("-history_date"))
        if assessment.pk
        else []
    )
    return TriageContext(
        report=report,
        assessment=assessment,
        same_submission=siblings,
        earlier=earlier,
        photos=photos,
        history=history,
    )


def reactions_filtered(*, user: Any, filters: dict[str, Any]) -> QuerySet[ReactionReport]:
    """The reactions list: every filter is optional; none carries patient data."""
    qs = reports_for_clinicians(user=user)
    lookups = {
        "clinic": "clinic",
        "practitioner": "session__practitioner",
        "product": "session__lot__product",
        "lot": "session__lot",
        "term": "term",
        "severity": "assessment__severity_grade",
        "delivery_method": "session__delivery_method",
        "onset_from": "onset_date__gte",
        "onset_to": "onset_date__lte",
    }
    for name, lookup in lookups.items():
        value = filters.get(name)
        if value not in (None, ""):
            qs = qs.filter(**{lookup: value})
    # Waiting reports first in the triage order, then the rest latest first.
    return triage_ordered(qs)
