"""Booking: proposing a series' dates, checking slots, booking all or nothing, rescheduling,
cancelling, arrival and no-show, and the reminders that follow an appointment around.

Times are stored in UTC and reasoned about in the clinic's own time zone: a series at 10:00
in New York stays at 10:00 local across a daylight-saving change, so its UTC instant moves.

No practitioner holds two overlapping live appointments. On PostgreSQL the exclusion
constraint `appointment_no_practitioner_overlap` (migration 0002) is the guarantee and its
IntegrityError becomes a `Conflict`; on SQLite the check below runs inside the booking
transaction, which settings open with BEGIN IMMEDIATE, so check and insert are serialised.
We check on both so the refusal can name the clash and the nearest free slot.

The safety hold (unresolved reactions, red-flag alarms) needs facts from adverse_events, a
floor above, so it lives in `clinic.workflows`; this module only stores the flag it is given.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clinic.core.exceptions import Conflict, NotAllowed, RuleViolation
from clinic.core.formtokens import form_token_bind, form_token_claim
from clinic.core.models import BOOKABLE_ROLES, CLINICAL_ROLES, Clinic, ClinicClosure, Membership
from patients import outbox
from patients.messages import format_datetime, render_message
from patients.models import Channel, MessageKind, MessageState, OutboxMessage, Patient
from patients.services import patient_refuse_if_archived

from .models import (
    LIVE_APPOINTMENT_STATUSES,
    Appointment,
    AppointmentStatus,
    SeriesStatus,
    SeriesTemplate,
    TreatmentSeries,
)

OVERLAP_CONSTRAINT = "appointment_no_practitioner_overlap"
SLOT_STEP = timedelta(minutes=15)
# How far either side of a clash we look for the nearest free slot.
SEARCH_WINDOW = timedelta(days=14)
REMINDER_LEAD = timedelta(hours=24)
MAINTENANCE_HOUR = time(10, 0)


# --- calendar arithmetic (clinic-local times come from the Clinic's clock) -------------------


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- checking slots ---------------------------------------------------------------------------


@dataclass
class Slot:
    """One proposed or requested session time and what stands in its way."""

    sequence: int
    starts_at: datetime
    ends_at: datetime
    problem: str = ""
    nearest: datetime | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problem


class Diary:
    """A practitioner's busy times and the clinic's closures around some dates, loaded once."""

    def __init__(
        self,
        *,
        clinic: Clinic,
        practitioner,
        around: Sequence[datetime],
        exclude_ids: Iterable[int] = (),
    ):
        self.clinic = clinic
        self.practitioner = practitioner
        start = min(around) - SEARCH_WINDOW - timedelta(days=1)
        end = max(around) + SEARCH_WINDOW + timedelta(days=1)
        self.busy: list[tuple[datetime, datetime]] = list(
            Appointment.objects.filter(
                practitioner=practitioner,
                status__in=LIVE_APPOINTMENT_STATUSES,
                starts_at__lt=end,
                ends_at__gt=start,
            )
            .exclude(pk__in=list(exclude_ids))
            .values_list("starts_at", "ends_at")
        )
        self.closures = list(
            ClinicClosure.objects.filter(
                clinic=clinic, starts_on__lte=end.date(), ends_on__gte=start.date()
            )
        )
        self.now = timezone.now()

    def problem(
        self, starts_at: datetime, ends_at: datetime, also_busy: Iterable[tuple] = ()
    ) -> str:
        """Why this time cannot be booked, in words for the front desk; "" when it can."""
        if starts_at <= self.now:
            return "This time has already passed."
        local_start, local_end = self.clinic.local(starts_at), self.clinic.local(ends_at)
        day = local_start.date()
        for closure in self.closures:
            if closure.starts_on <= day <= closure.ends_on:
                why = f" ({closure.reason})" if closure.reason else ""
                return f"The clinic is closed on {day:%a %d %b %Y}{why}."
        span = self.clinic.opening_span(day)
        if span is None:
            return f"The clinic is closed on {day:%A}s."
        opens, closes = span
        if local_end.date() != day or local_start.time() < opens or (local_end.time() > closes):
            return f"Outside opening hours ({opens:%H:%M}-{closes:%H:%M} on {day:%A}s)."
        for busy_start, busy_end in [*self.busy, *also_busy]:
            if busy_start < ends_at and starts_at < busy_end:
                who = self.practitioner.display_name
                return (
                    f"{who} already has an appointment "
                    f"{self.clinic.local(busy_start):%H:%M}-"
                    f"{self.clinic.local(busy_end):%H:%M} that day."
                )
        return ""

    def nearest_free(
        self,
        starts_at: datetime,
        length: timedelta,
        also_busy: Iterable[tuple] = (),
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> datetime | None:
        """The free start closest to `starts_at` (later wins a tie), on the 15-minute grid,
        and inside [`not_before`, `not_after`] when given (the series' interval window)."""
        also_busy = list(also_busy)
        steps = int(SEARCH_WINDOW / SLOT_STEP)
        for k in range(1, steps + 1):
            for sign in (1, -1):
                candidate = starts_at + sign * k * SLOT_STEP
                if (not_before is not None and candidate < not_before) or (
                    not_after is not None and candidate > not_after
                ):
                    continue
                if not self.problem(candidate, candidate + length, also_busy):
                    return candidate
        return None


def interval_window(
    clinic: Clinic, previous: datetime | None, *, min_weeks: int, max_weeks: int | None
) -> tuple[datetime | None, datetime | None]:
    """The earliest and latest start that keep a session within the series' interval after
    the session before it (whole clinic-local days, as `_interval_warnings` counts them)."""
    if previous is None:
        return None, None
    zone = clinic.zone
    day = clinic.local(previous).date()
    not_before = datetime.combine(day + timedelta(weeks=min_weeks), time.min, tzinfo=zone)
    not_after = None
    if max_weeks is not None:
        not_after = datetime.combine(day + timedelta(weeks=max_weeks), time.max, tzinfo=zone)
    return not_before, not_after


def _interval_warnings(
    previous: datetime | None,
    current: datetime,
    following: datetime | None,
    *,
    min_weeks: int,
    max_weeks: int | None,
    labels: tuple[str, str, str],
) -> list[str]:
    warnings = []
    prev_label, label, next_label = labels
    for earlier, later, first, second in (
        (previous, current, prev_label, label),
        (current, following, label, next_label),
    ):
        if earlier is None or later is None:
            continue
        days = (later.date() - earlier.date()).days
        if days < min_weeks * 7:
            warnings.append(
                f"{second} comes only {_weeks_days(days)} after {first}; "
                f"the series asks for at least {min_weeks} weeks."
            )
        elif max_weeks is not None and days > max_weeks * 7:
            warnings.append(
                f"{second} comes {_weeks_days(days)} after {first}; "
                f"the series allows at most {max_weeks} weeks."
            )
    return warnings


def _weeks_days(days: int) -> str:
    weeks, rest = divmod(days, 7)
    parts = [f"{weeks} week{'s' if weeks != 1 else ''}"] if weeks else []
    if rest or not parts:
        parts.append(f"{rest} day{'s' if rest != 1 else ''}")
    return " ".join(parts)


def slots_check(
    *,
    clinic: Clinic,
    practitioner,
    template: SeriesTemplate,
    starts: Sequence[datetime],
    exclude_ids: Iterable[int] = (),
) -> list[Slot]:
    """Check requested session times: order, hours, closures, the practitioner's diary and
    the series' own other sessions; suggest the nearest free slot for each clash."""
    length = timedelta(minutes=template.session_minutes)
    diary = Diary(clinic=clinic, practitioner=practitioner, around=starts, exclude_ids=exclude_ids)
    slots: list[Slot] = []
    for index, start in enumerate(starts):
        slot = Slot(sequence=index + 1, starts_at=start, ends_at=start + length)
        others = [(s, s + length) for i, s in enumerate(starts) if i != index]
        if index and start <= starts[index - 1]:
            slot.problem = f"Session {index + 1} must come after session {index}."
        else:
            slot.problem = diary.problem(slot.starts_at, slot.ends_at, others)
        if slot.problem:
            not_before, not_after = interval_window(
                clinic,
                starts[index - 1] if index else None,
                min_weeks=template.min_interval_weeks,
                max_weeks=template.max_interval_weeks,
            )
            slot.nearest = diary.nearest_free(
                start, length, others, not_before=not_before, not_after=not_after
            )
        local = [clinic.local(s) for s in starts]
        slot.warnings = _interval_warnings(
            local[index - 1] if index else None,
            local[index],
            None,
            min_weeks=template.min_interval_weeks,
            max_weeks=template.max_interval_weeks,
            labels=(f"session {index}", f"Session {index + 1}", ""),
        )
        slots.append(slot)
    return slots


def series_propose(
    *, clinic: Clinic, practitioner, template: SeriesTemplate, first_start: datetime
) -> list[Slot]:
    """Every session of `template` at its interval from `first_start`, at the same local hour
    (so a series crossing a daylight-saving change keeps its time), each checked."""
    local = clinic.local(first_start)
    starts = []
    for n in range(template.sessions_planned):
        day = local.date() + timedelta(weeks=template.interval_weeks * n)
        try:
            starts.append(clinic.at_local(day, local.time()))
        except RuleViolation:  # a skipped hour: take the same wall time an hour later
            starts.append(clinic.at_local(day, (local + timedelta(hours=1)).time()))
    return slots_check(clinic=clinic, practitioner=practitioner, template=template, starts=starts)


# --- booking ----------------------------------------------------------------------------------


class SlotConflict(Conflict):
    """One or more requested times cannot be booked; `slots` says which and offers others."""

    def __init__(self, message: str, *, slots: list[Slot], field: str | None = None):
        super().__init__(message, field=field, code="slot_conflict")
        self.slots = slots


def practitioners_of(clinic: Clinic):
    """Staff who can be booked at `clinic`: active members with the practitioner role."""
    from clinic.core.selectors import staff_with_role

    return staff_with_role(clinics=clinic, roles=BOOKABLE_ROLES)


# Advisory-lock namespace of "booking a practitioner's time" (any constant 32-bit number).
PRACTITIONER_BOOKING_LOCK = 7301


def _serialize_bookings_of(practitioner_id: int) -> None:
    """Make concurrent bookings of one practitioner's time take turns (PostgreSQL).

    Two transactions inserting clashing rows under an exclusion constraint can each wait on
    the other's uncommitted row, and PostgreSQL then aborts one with "deadlock detected"
    instead of the constraint's error. Taking this transaction-scoped lock first makes the
    second booking wait for the first to commit and then see its rows: a clear Conflict, never
    a deadlock. SQLite needs nothing: its IMMEDIATE transactions already write one at a time.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [PRACTITIONER_BOOKING_LOCK, practitioner_id],
            )


def _refuse_overlap(exc: IntegrityError) -> Conflict:
    if OVERLAP_CONSTRAINT in str(exc):
        return Conflict(
            "Someone else booked this practitioner at that time a moment ago. "
            "Nothing was booked; check the calendar and choose another time.",
            code="double_booking",
        )
    raise exc


@transaction.atomic
def series_book(
    *,
    patient: Patient,
    practitioner,
    template: SeriesTemplate,
    starts: Sequence[datetime],
    safety_hold: bool = False,
    form_token: uuid.UUID | None = None,
) -> TreatmentSeries:
    """Book every session of a series at once, or nothing.

    `safety_hold` flags the first session for a practitioner's clearance; use
    `clinic.workflows.series_book_with_safety_hold`, which decides it, rather than this.
    Once per `form_token`: a repeat books nothing and returns the first series, marked
    `already_submitted`.
    """
    clinic = patient.clinic
    # First: a repeat of the form must land on its series, not clash with its own slots.
    earlier = form_token_claim(token=form_token, model=TreatmentSeries, clinic=clinic)
    if earlier is not None:
        return earlier
    _serialize_bookings_of(practitioner.pk)
    if template.clinic_id != clinic.pk or not template.active:
        raise RuleViolation(
            "Choose one of this clinic's active series templates.", field="template"
        )
    if not practitioners_of(clinic).filter(pk=practitioner.pk).exists():
        raise NotAllowed("Choose a practitioner of this clinic.", field="practitioner")
    if patient.entered_in_error:
        raise RuleViolation("This patient record was entered in error.", field="patient")
    patient_refuse_if_archived(patient)
    if len(starts) != template.sessions_planned:
        raise RuleViolation(
            f"{template.name} has {template.sessions_planned} sessions; "
            f"{len(starts)} times were given."
        )
    slots = slots_check(clinic=clinic, practitioner=practitioner, template=template, starts=starts)
    clashes = [s for s in slots if not s.ok]
    if clashes:
        raise SlotConflict(
            "Nothing was booked: "
            + " ".join(f"Session {s.sequence}: {s.problem}" for s in clashes),
            slots=slots,
            field=f"start_{clashes[0].sequence}",
        )
    series = TreatmentSeries(
        clinic=clinic,
        patient=patient,
        template=template,
        indication=template.indication,
        sessions_planned=template.sessions_planned,
        interval_weeks=template.interval_weeks,
        maintenance_interval_months=template.maintenance_interval_months,
    )
    series.full_clean()
    series.save()
    appointments = []
    try:
        with transaction.atomic():
            for slot in slots:
                appointment = Appointment(
                    clinic=clinic,
                    patient=patient,
                    practitioner=practitioner,
                    series=series,
                    sequence=slot.sequence,
                    starts_at=slot.starts_at,
                    ends_at=slot.ends_at,
                    safety_hold=safety_hold and slot.sequence == 1,
                )
                appointment.full_clean()
                appointment.save()
                appointments.append(appointment)
    except IntegrityError as exc:
        raise _refuse_overlap(exc) from exc
    form_token_bind(token=form_token, record=series)
    for appointment in appointments:
        appointment_reminder_sync(appointment=appointment)
    series_maintenance_sync(series=series)
    return series


def _series_neighbours(appointment: Appointment) -> tuple[Appointment | None, Appointment | None]:
    if appointment.series_id is None:
        return None, None
    siblings = (
        Appointment.objects.filter(
            series_id=appointment.series_id, status__in=LIVE_APPOINTMENT_STATUSES
        )
        .exclude(pk=appointment.pk)
        .order_by("sequence")
    )
    before = [a for a in siblings if a.sequence < appointment.sequence]
    after = [a for a in siblings if a.sequence > appointment.sequence]
    return (before[-1] if before else None), (after[0] if after else None)


@transaction.atomic
def appointment_reschedule(
    *, appointment: Appointment, starts_at: datetime
) -> tuple[Appointment, list[str]]:
    """Move a booked appointment, keeping its length and its place in the series.

    Returns the appointment and warnings (an interval under the series' minimum). The
    pending reminder moves with it; moving a series' last session moves its maintenance.
    """
    _serialize_bookings_of(appointment.practitioner_id)
    appointment = (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("clinic", "practitioner", "series__template", "patient")
        .get(pk=appointment.pk)
    )
    patient_refuse_if_archived(appointment.patient, field="starts_at")
    if appointment.status != AppointmentStatus.BOOKED:
        raise RuleViolation(
            f"Only a booked appointment can be moved; this one is "
            f"{appointment.get_status_display().lower()}."
        )
    clinic = appointment.clinic
    length = appointment.ends_at - appointment.starts_at
    ends_at = starts_at + length
    previous, following = _series_neighbours(appointment)
    if previous and starts_at <= previous.starts_at:
        raise RuleViolation(
            f"Keep the series in order: session {appointment.sequence} must come after "
            f"session {previous.sequence} "
            f"({clinic.local(previous.starts_at):%a %d %b %Y %H:%M}).",
            field="starts_at",
        )
    if following and starts_at >= following.starts_at:
        raise RuleViolation(
            f"Keep the series in order: session {appointment.sequence} must come before "
            f"session {following.sequence} "
            f"({clinic.local(following.starts_at):%a %d %b %Y %H:%M}).",
            field="starts_at",
        )
    diary = Diary(
        clinic=clinic,
        practitioner=appointment.practitioner,
        around=[starts_at],
        exclude_ids=[appointment.pk],
    )
    series = appointment.series
    min_weeks = series.template.min_interval_weeks if series and series.template else 4
    problem = diary.problem(starts_at, ends_at)
    if problem:
        # Offered times keep the interval after the session before (the one after may move
        # too, so it only warns, as it does for a chosen time).
        not_before, not_after = interval_window(
            clinic,
            previous.starts_at if previous else None,
            min_weeks=min_weeks,
            max_weeks=series.template.max_interval_weeks if series and series.template else None,
        )
        nearest = diary.nearest_free(starts_at, length, not_before=not_before, not_after=not_after)
        slot = Slot(appointment.sequence or 1, starts_at, ends_at, problem, nearest)
        raise SlotConflict(problem, slots=[slot], field="starts_at")
    warnings = _interval_warnings(
        clinic.local(previous.starts_at) if previous else None,
        clinic.local(starts_at),
        clinic.local(following.starts_at) if following else None,
        min_weeks=min_weeks,
        max_weeks=None,
        labels=(
            f"session {previous.sequence}" if previous else "",
            f"Session {appointment.sequence}",
            f"session {following.sequence}" if following else "",
        ),
    )
    # The second pair reads "session 3 comes ... after Session 2"; keep it tidy.
    warnings = [w[0].upper() + w[1:] for w in warnings]
    appointment.starts_at, appointment.ends_at = starts_at, ends_at
    appointment.full_clean()
    try:
        with transaction.atomic():
            appointment.save(update_fields=["starts_at", "ends_at", "updated_at"])
    except IntegrityError as exc:
        raise _refuse_overlap(exc) from exc
    appointment_reminder_sync(appointment=appointment)
    if series is not None:
        series_maintenance_sync(series=series)
    return appointment, warnings


def _set_status(appointment: Appointment, new: str, allowed_from: Sequence[str]) -> Appointment:
    changed = Appointment.objects.filter(pk=appointment.pk, status__in=allowed_from).update(
        status=new, updated_at=timezone.now()
    )
    appointment.refresh_from_db()
    if not changed:
        raise RuleViolation(
            f"This appointment is {appointment.get_status_display().lower()}; "
            f"it cannot be marked {AppointmentStatus(new).label.lower()}."
        )
    return appointment


@transaction.atomic
def appointment_cancel(*, appointment: Appointment) -> Appointment:
    """Cancel a booked appointment: the slot is freed and its pending reminder cancelled."""
    appointment = _set_status(appointment, AppointmentStatus.CANCELLED, [AppointmentStatus.BOOKED])
    appointment_reminder_sync(appointment=appointment)
    if appointment.series_id:
        series_maintenance_sync(series=appointment.series)
    return appointment


@transaction.atomic
def appointment_mark_arrived(*, appointment: Appointment) -> Appointment:
    """The patient is here. (Use `clinic.workflows.appointment_confirm_with_safety_hold`,
    which also re-checks the safety hold.)"""
    appointment = _set_status(appointment, AppointmentStatus.ARRIVED, [AppointmentStatus.BOOKED])
    appointment_reminder_sync(appointment=appointment)
    return appointment


@transaction.atomic
def appointment_start_treatment(*, appointment: Appointment) -> bool:
    """The practitioner has opened the session form for this appointment: booked or arrived
    becomes "in treatment" (still live: the slot stays held). Idempotent and quiet: only an
    appointment of the clinic's today without an open safety hold moves (a held one waits for
    its clearance; another day's cannot have its session logged now). Returns whether it
    moved."""
    clinic = appointment.clinic
    start, end = clinic.day_span(clinic.today())
    changed = (
        Appointment.objects.filter(
            pk=appointment.pk,
            status__in=(AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED),
            starts_at__gte=start,
            starts_at__lt=end,
        )
        .exclude(safety_hold=True, hold_cleared_at__isnull=True)
        .update(status=AppointmentStatus.IN_TREATMENT, updated_at=timezone.now())
    )
    if changed:
        appointment.refresh_from_db()
        appointment_reminder_sync(appointment=appointment)
    return bool(changed)


@transaction.atomic
def appointment_mark_no_show(*, appointment: Appointment) -> Appointment:
    """The patient did not come: the slot no longer counts against the practitioner."""
    appointment = _set_status(
        appointment,
        AppointmentStatus.NO_SHOW,
        [AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED],
    )
    appointment_reminder_sync(appointment=appointment)
    return appointment


def appointment_flag_hold(*, appointment: Appointment) -> Appointment:
    """Put an appointment on safety hold (again) until a practitioner clears it."""
    Appointment.objects.filter(pk=appointment.pk).update(
        safety_hold=True,
        hold_cleared_by=None,
        hold_cleared_at=None,
        hold_clearance_reason="",
        updated_at=timezone.now(),
    )
    appointment.refresh_from_db()
    return appointment


@transaction.atomic
def appointment_clear_hold(*, appointment: Appointment, user, reason: str) -> Appointment:
    """A practitioner clears a safety hold, saying why treatment may go ahead: its own
    recorded step (who, when and why on the appointment, and a history row with the same
    user and reason). Until then the appointment cannot be completed (no session can be
    logged against it); a screening override on the session does not clear it."""
    reason = (reason or "").strip()
    if (
        not Membership.objects.active()
        .filter(user=user, clinic_id=appointment.clinic_id, role__in=CLINICAL_ROLES)
        .exists()
    ):
        raise NotAllowed("Only a practitioner of this clinic can clear a safety hold.")
    if not reason:
        raise RuleViolation("Say why treatment may go ahead.", field="reason")
    now = timezone.now()
    # The base manager: the history row is written below, with who and why, only when the
    # hold was open (two clicks clear it once).
    changed = Appointment._base_manager.filter(
        pk=appointment.pk, safety_hold=True, hold_cleared_at__isnull=True
    ).update(
        hold_cleared_by=user,
        hold_cleared_at=now,
        hold_clearance_reason=reason,
        updated_at=now,
    )
    appointment.refresh_from_db()
    if not changed:
        raise RuleViolation("This appointment has no open safety hold.", field="reason")
    Appointment.history.bulk_history_create(
        [appointment],
        update=True,
        default_user=user,
        default_change_reason=f"Safety hold cleared: {reason}"[:100],
    )
    return appointment


# --- reminders (outbox rows due at a time, never Celery countdowns) --------------------------


def _move_or_cancel(key_prefix: str, *, due_at: datetime | None) -> bool:
    """Move the pending rows under `key_prefix` to `due_at`, or cancel them when None.

    Returns True when a pending row now carries `due_at`. The conditional UPDATE leaves a row
    the sweeper claimed a moment ago alone (it is being sent for the old time). The words are
    written when the row is sent (`AppointmentReminderRenderer`), so a moved row needs none.
    """
    pending = OutboxMessage.objects.filter(
        idempotency_key__startswith=key_prefix, state=MessageState.PENDING
    )
    if due_at is None:
        pending.update(state=MessageState.CANCELLED, updated_at=timezone.now())
        return False
    return bool(pending.update(due_at=due_at, updated_at=timezone.now()))


def appointment_reminder_sync(*, appointment: Appointment) -> OutboxMessage | None:
    """Queue, move or cancel the reminder due 24 h before a booked appointment (moved to the
    end of the clinic's quiet hours when it would fall inside them).

    The first reminder's key is `appt-reminder:<pk>`; one already sent when the appointment
    moves is followed by a new one keyed with the new time.
    """
    key = f"appt-reminder:{appointment.pk}"
    # 24 h before, unless that falls in the clinic's quiet hours: then when they end.
    due_at = appointment.clinic.outside_quiet_hours(appointment.starts_at - REMINDER_LEAD)
    wanted = appointment.status == AppointmentStatus.BOOKED and due_at > timezone.now()
    if _move_or_cancel(key, due_at=due_at if wanted else None) or not wanted:
        return None
    if OutboxMessage.objects.filter(idempotency_key=key).exists():
        key = f"{key}:{int(appointment.starts_at.timestamp())}"
    return outbox.message_to_patient(
        patient=appointment.patient,
        kind=MessageKind.APPOINTMENT_REMINDER,
        due_at=due_at,
        idempotency_key=key,
        context={"appointment": appointment.pk},
        call_reason_if_unreachable=None,
    )


def series_maintenance_sync(*, series: TreatmentSeries) -> OutboxMessage | None:
    """Keep the maintenance reminder at the series' interval after its last live session."""
    clinic = series.clinic
    last = (
        Appointment.objects.filter(series=series, status__in=LIVE_APPOINTMENT_STATUSES)
        .order_by("-starts_at")
        .first()
    )
    key = f"maintenance:{series.pk}"
    if last is None or series.status == SeriesStatus.CANCELLED:
        _move_or_cancel(key, due_at=None)
        TreatmentSeries.objects.filter(pk=series.pk).update(maintenance_due_on=None)
        return None
    due_on = add_months(clinic.local(last.starts_at).date(), series.maintenance_interval_months)
    due_at = clinic.at_local(due_on, MAINTENANCE_HOUR)
    TreatmentSeries.objects.filter(pk=series.pk).update(maintenance_due_on=due_on)
    series.maintenance_due_on = due_on
    if _move_or_cancel(key, due_at=due_at):
        return None
    if OutboxMessage.objects.filter(idempotency_key=key).exists():
        key = f"{key}:{due_on:%Y%m%d}"
    return outbox.message_to_patient(
        patient=series.patient,
        kind=MessageKind.MAINTENANCE,
        due_at=due_at,
        idempotency_key=key,
        context={"series": series.pk},
        call_reason_if_unreachable=None,
    )


# --- the next step of a series -----------------------------------------------------------------


@dataclass(frozen=True)
class NextStep:
    """A series' next planned session: booked (`appointment`), or not booked yet and bookable
    from `book_from` (the series' minimum interval after its last session, never before
    today) until `book_by` (its maximum interval, when the template sets one)."""

    sequence: int
    sessions_planned: int
    appointment: Appointment | None = None
    book_from: date | None = None
    book_by: date | None = None


def series_window_weeks(series: TreatmentSeries) -> tuple[int, int | None]:
    """The series' interval window in weeks: its template's (4-6 weeks by default), or the
    series' own interval as the minimum when it has no template."""
    template = series.template
    if template is None:
        return series.interval_weeks, None
    return template.min_interval_weeks, template.max_interval_weeks


def series_book_from(
    series: TreatmentSeries, last_start: datetime | None
) -> tuple[date, date | None]:
    """The earliest (and latest) clinic-local day the series' next session may be booked on,
    after a session starting at `last_start` (today when there is none, or when the window
    opened already)."""
    clinic = series.clinic
    today = clinic.today()
    if last_start is None:
        return today, None
    min_weeks, max_weeks = series_window_weeks(series)
    last_day = clinic.local(last_start).date()
    book_by = last_day + timedelta(weeks=max_weeks) if max_weeks is not None else None
    return max(today, last_day + timedelta(weeks=min_weeks)), book_by


def series_next_step(
    series: TreatmentSeries, appointments: Iterable[Appointment]
) -> NextStep | None:
    """The next step of `series` from its appointments (all of them, loaded by the caller);
    None when every planned session is completed or the series is not active."""
    if series.status != SeriesStatus.ACTIVE:
        return None
    live = [a for a in appointments if a.status in LIVE_APPOINTMENT_STATUSES]
    done = [a for a in live if a.status == AppointmentStatus.COMPLETED]
    if len(done) >= series.sessions_planned:
        return None
    upcoming = sorted(
        (a for a in live if a.status != AppointmentStatus.COMPLETED),
        key=lambda a: (a.starts_at, a.pk),
    )
    if upcoming:
        first = upcoming[0]
        return NextStep(
            sequence=first.sequence or len(done) + 1,
            sessions_planned=series.sessions_planned,
            appointment=first,
        )
    last = max((a.starts_at for a in done), default=None)
    book_from, book_by = series_book_from(series, last)
    return NextStep(
        sequence=len(done) + 1,
        sessions_planned=series.sessions_planned,
        book_from=book_from,
        book_by=book_by,
    )


def series_next_steps(series_list: Iterable[TreatmentSeries]) -> dict[int, NextStep | None]:
    """`series_next_step` for several series, by series pk, in one query."""
    series_list = list(series_list)
    by_series: dict[int, list[Appointment]] = {s.pk: [] for s in series_list}
    for appointment in Appointment.objects.filter(series_id__in=list(by_series)):
        by_series[appointment.series_id].append(appointment)
    return {s.pk: series_next_step(s, by_series[s.pk]) for s in series_list}


class AppointmentReminderRenderer(outbox.QuietRenderer):
    """Writes the appointment reminder when it is sent, in the patient's language, with the
    appointment's time as it is then (in the clinic's zone)."""

    def render(self, message: OutboxMessage) -> outbox.Rendered:
        appointment = (
            Appointment.objects.select_related("patient", "clinic")
            .filter(pk=message.context.get("appointment"))
            .first()
        )
        if appointment is None:
            raise outbox.PermanentDeliveryError("appointment no longer exists")
        patient, clinic = appointment.patient, appointment.clinic
        when = format_datetime(appointment.starts_at, clinic=clinic, language=patient.language)
        subject, body = render_message(
            MessageKind.APPOINTMENT_REMINDER,
            {"first_name": patient.first_name, "when": when},
            patient.language,
            clinic=clinic,
            sms=message.channel == Channel.SMS,
        )
        return outbox.Rendered(subject, body, body)


class MaintenanceRenderer(outbox.QuietRenderer):
    """Writes the maintenance reminder when it is sent, in the patient's language."""

    def render(self, message: OutboxMessage) -> outbox.Rendered:
        series = (
            TreatmentSeries.objects.select_related("patient", "clinic")
            .filter(pk=message.context.get("series"))
            .first()
        )
        if series is None:
            raise outbox.PermanentDeliveryError("treatment series no longer exists")
        patient = series.patient
        subject, body = render_message(
            MessageKind.MAINTENANCE,
            {"first_name": patient.first_name, "indication": series.indication},
            patient.language,
            clinic=series.clinic,
            sms=message.channel == Channel.SMS,
        )
        return outbox.Rendered(subject, body, body)


def register_renderers() -> None:
    outbox.register_renderer(MessageKind.APPOINTMENT_REMINDER, AppointmentReminderRenderer())
    outbox.register_renderer(MessageKind.MAINTENANCE, MaintenanceRenderer())


# --- iCalendar ---------------------------------------------------------------------------------


def series_ics(*, series: TreatmentSeries) -> bytes:
    """The series' live appointments as an iCalendar file in the clinic's time zone."""
    from icalendar import Calendar, Event

    clinic = series.clinic
    cal = Calendar()
    cal.add("prodid", "-//Clinic tracker//Treatment series//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-timezone", clinic.time_zone)
    appointments = series.appointments.filter(status__in=LIVE_APPOINTMENT_STATUSES).order_by(
        "sequence"
    )
    stamp = timezone.now()
    for appointment in appointments:
        event = Event()
        event.add("uid", f"{appointment.uuid}@clinic-tracker")
        event.add("dtstamp", stamp)
        event.add("dtstart", clinic.local(appointment.starts_at))
        event.add("dtend", clinic.local(appointment.ends_at))
        event.add(
            "summary",
            f"{clinic.name}: {series.indication}, session {appointment.sequence} "
            f"of {series.sessions_planned}",
        )
        event.add("location", ", ".join(p for p in (clinic.name, clinic.address) if p))
        event.add("description", f"To change this appointment, call {clinic.phone}.")
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


# --- series templates and reads for the booking pages -----------------------------------------


def series_template_save(*, template: SeriesTemplate) -> SeriesTemplate:
    """Create or update a series template (the safety lead's)."""
    template.full_clean()
    template.save()
    return template


def opening_labels(*, clinic: Clinic, days: list[date]) -> list[str]:
    """How the clinic is open on each of `days`, as the calendar shows it: "Open 09:00-18:00",
    "Closed" (a weekday without hours) or "Closed (reason)" for a closure. One query."""
    closures = list(
        ClinicClosure.objects.filter(
            clinic=clinic, starts_on__lte=max(days), ends_on__gte=min(days)
        ).order_by("starts_on")
    )
    labels = []
    for day in days:
        closure = next((c for c in closures if c.starts_on <= day <= c.ends_on), None)
        span = clinic.opening_span(day)
        if closure is not None:
            labels.append(f"Closed ({closure.reason})" if closure.reason else "Closed")
        elif span is None:
            labels.append("Closed")
        else:
            labels.append(f"Open {span[0]:%H:%M}-{span[1]:%H:%M}")
    return labels


def calendar_appointments(*, clinic: Clinic, start: datetime, end: datetime, practitioner=None):
    """Appointments of `clinic` starting in [start, end), cancelled ones left out."""
    qs = (
        Appointment.objects.filter(clinic=clinic, starts_at__gte=start, starts_at__lt=end)
        .exclude(status=AppointmentStatus.CANCELLED)
        .select_related("patient", "practitioner", "series")
        .order_by("starts_at", "practitioner__last_name")
    )
    if practitioner is not None:
        qs = qs.filter(practitioner=practitioner)
    return qs


def patient_appointments(*, patient: Patient):
    """A patient's series and appointments, newest series first."""
    series = TreatmentSeries.objects.filter(patient=patient).select_related("clinic")
    appointments = (
        Appointment.objects.filter(patient=patient)
        .select_related("practitioner", "series", "clinic")
        .order_by("starts_at")
    )
    return series, appointments
