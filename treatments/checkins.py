"""Follow-up check-ins: planned with each session, sent through the outbox, reminded once,
then handed to the front desk as a call.

    scheduled --due--> queued --delivered--> sent --24 h--> reminded --24 h--> missed + call
                          \\--undeliverable--> failed (the outbox opened the call task)
    any open state --patient answers--> answered_fine / answered_reactions
    any open state --session entered in error--> cancelled
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from clinic.core.models import (
    CHECKIN_CALL_DELAY,
    CHECKIN_REMINDER_DELAY,
    CheckInPlanStep,
    Clinic,
)
from patients import outbox
from patients.links import link_issue, link_token, link_url
from patients.messages import render_with_link
from patients.models import CallReason, Channel, LinkPurpose, MessageKind, OutboxMessage

from .models import CheckIn, CheckInState, SessionStatus, TreatmentSession

# The defaults; each clinic keeps its own delays (Clinic.checkin_reminder_delay and
# Clinic.checkin_call_delay, on its settings page).
REMIND_AFTER = CHECKIN_REMINDER_DELAY
CALL_AFTER_REMINDER = CHECKIN_CALL_DELAY
OPEN_STATES = (
    CheckInState.SCHEDULED,
    CheckInState.QUEUED,
    CheckInState.SENT,
    CheckInState.REMINDED,
)


def checkins_plan(*, session: TreatmentSession) -> list[CheckIn]:
    """Create one check-in per active plan step of the session's clinic (call inside the
    transaction that saves the session). Planning twice creates nothing new."""
    checkins_plan_many(sessions=[session])
    return list(CheckIn.objects.filter(session=session).order_by("due_at"))


def checkins_plan_many(*, sessions: Iterable[TreatmentSession], batch_size: int = 5000) -> int:
    """Plan the check-ins of many sessions at once (an import, a backfill): one query for the
    plans of their clinics, then the rows go in together. Planning twice creates nothing new.
    Returns the number of rows offered (existing ones are skipped).

    PostgreSQL: the sessions' existing (session, step) pairs are read in one query and the new
    rows are streamed with COPY inside the same transaction (a savepoint); if a concurrent
    planner inserted one of them meanwhile (the unique constraint refuses the COPY), the batch
    falls back to `INSERT ... ON CONFLICT DO NOTHING`. SQLite, and any audited model (whose
    bulk writes must leave history rows): `bulk_create(ignore_conflicts=True)`, one INSERT per
    `batch_size` rows. Both give the same rows."""
    sessions = list(sessions)
    clinic_ids = {s.clinic_id for s in sessions}
    clinics = {c.pk: c for c in Clinic.objects.filter(pk__in=clinic_ids)}
    steps: dict[int, list[CheckInPlanStep]] = {pk: [] for pk in clinic_ids}
    for step in CheckInPlanStep.objects.filter(clinic_id__in=clinic_ids, active=True).order_by(
        "offset"
    ):
        steps[step.clinic_id].append(step)
    planned = [
        (
            session.pk,
            step.code,
            step.label,
            clinics[clinic_id].outside_quiet_hours(session.performed_at + step.offset),
        )
        for session in sessions
        for clinic_id in (session.clinic_id,)
        for step in steps[clinic_id]
    ]
    with transaction.atomic():
        if not (planned and connection.vendor == "postgresql" and _copy_planned(planned)):
            rows = [
                CheckIn(session_id=session_id, step_code=code, step_label=label, due_at=due_at)
                for session_id, code, label, due_at in planned
            ]
            for start in range(0, len(rows), batch_size):
                CheckIn.objects.bulk_create(rows[start : start + batch_size], ignore_conflicts=True)
    return len(planned)


# The columns a planned check-in sets; every other column takes its field's default.
_PLANNED = ("session_id", "step_code", "step_label", "due_at")


def _planned_already(session_ids: list[int]) -> set[tuple[int, str]]:
    """The (session, step) pairs that already have a check-in, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT session_id, step_code FROM {CheckIn._meta.db_table} "  # noqa: S608
            "WHERE session_id = ANY(%s)",
            [session_ids],
        )
        return set(cursor.fetchall())


def _copy_planned(planned: list[tuple[int, str, str, datetime]]) -> bool:
    """COPY the planned rows that do not exist yet into the check-in table (PostgreSQL).
    Returns False, having written nothing, when the caller must insert them another way."""
    if getattr(CheckIn, "history", None) is not None:
        return False  # an audited model: bulk_create writes its history rows
    existing = _planned_already(sorted({row[0] for row in planned}))
    new = [row for row in planned if (row[0], row[1]) not in existing]
    if not new:
        return True
    now = timezone.now()
    fields = [f for f in CheckIn._meta.concrete_fields if not f.primary_key]
    order = [f.attname for f in fields]
    # Every other column: its field's default, in the database's form (a choices enum
    # becomes its value), or for a callable default (the uuid) a fresh one per row.
    template: list[object] = []
    fresh: list[tuple[int, Callable[[], object]]] = []
    for index, field in enumerate(fields):
        value = None
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif field.has_default() and callable(field.default):
            fresh.append((index, field.default))
        elif field.attname not in _PLANNED:
            value = field.get_db_prep_value(field.get_default(), connection)
        template.append(value)
    slots = [(order.index(name), place) for place, name in enumerate(_PLANNED)]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(CheckIn._meta.db_table)
    try:
        with (
            transaction.atomic(),
            connection.wrap_database_errors,  # psycopg's UniqueViolation -> IntegrityError
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in new:
                values = template.copy()
                for index, place in slots:
                    values[index] = row[place]
                for index, default in fresh:
                    values[index] = default()
                copy.write_row(values)
    except IntegrityError:
        return False  # a concurrent planner got there first: insert, skipping its rows
    return True


def checkins_cancel_for_session(*, session: TreatmentSession) -> int:
    """A session entered in error: its open check-ins stop (their messages and links are
    stopped by `entered_in_error.session_follow_up_stop`, which calls this)."""
    return CheckIn.objects.filter(session=session, state__in=OPEN_STATES).update(
        state=CheckInState.CANCELLED
    )


def checkins_cancel_for_patient(*, patient) -> int:
    """A patient archived: every open check-in of their sessions stops (`archive.py`)."""
    return CheckIn.objects.filter(session__patient=patient, state__in=OPEN_STATES).update(
        state=CheckInState.CANCELLED
    )


def _claim(checkin: CheckIn, *, from_state: str, **changes) -> bool:
    """Move a check-in on from `from_state` if it is still there and its session is not entered in
    error: one conditional UPDATE, before anything is queued or opened for it. A marking that
    committed after the sweep read its rows makes it change nothing; on PostgreSQL a marking
    still in progress holds the row (its cancel UPDATE), so this waits and then finds the row
    cancelled; a marking that comes after it cancels what this queued."""
    return bool(
        CheckIn.objects.filter(pk=checkin.pk, state=from_state)
        .exclude(session__status=SessionStatus.ENTERED_IN_ERROR)
        .update(**changes)
    )


def checkins_dispatch_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Turn due scheduled check-ins into outbox messages (due now). Safe to run twice: each
    check-in is claimed (scheduled -> queued) before its message is queued, and the message
    key is the check-in's. A check-in claimed by someone else, or whose session was entered
    in error meanwhile, is skipped: no message and no call task."""
    now = now or timezone.now()
    due = list(
        CheckIn.objects.filter(state=CheckInState.SCHEDULED, due_at__lte=now)
        .select_related("session__patient", "session__clinic")
        .order_by("due_at")[:limit]
    )
    queued = 0
    for checkin in due:
        with transaction.atomic():
            if not _claim(checkin, from_state=CheckInState.SCHEDULED, state=CheckInState.QUEUED):
                continue
            message = outbox.message_to_patient(
                patient=checkin.session.patient,
                kind=MessageKind.CHECKIN,
                due_at=now,
                idempotency_key=f"checkin:{checkin.pk}",
                context={"checkin": checkin.pk},
                call_reason_if_unreachable=CallReason.UNANSWERED_CHECKIN,
            )
            if message is None:
                # Nobody to send it to: the front desk has the call task instead.
                CheckIn.objects.filter(pk=checkin.pk).update(state=CheckInState.MISSED)
            else:
                CheckIn.objects.filter(pk=checkin.pk).update(message=message)
            queued += 1
    return queued


def checkins_follow_up(*, now: datetime | None = None) -> tuple[int, int]:
    """One reminder after an unanswered check-in (24 h unless the clinic chose another
    delay); after the clinic's call delay (24 h), a call task.
    Each check-in is claimed (conditional UPDATE, never for a session entered in error)
    before its reminder is queued or its call task opened. Returns (reminders queued, calls
    opened)."""
    now = now or timezone.now()
    reminders = calls = 0
    for checkin in (
        CheckIn.objects.filter(state=CheckInState.SENT)
        .alias(remind_at=F("sent_at") + F("session__clinic__checkin_reminder_delay"))
        .filter(remind_at__lte=now)
        .select_related("session__patient")[:500]
    ):
        with transaction.atomic():
            if not _claim(
                checkin,
                from_state=CheckInState.SENT,
                state=CheckInState.REMINDED,
                reminded_at=now,
            ):
                continue
            message = outbox.message_to_patient(
                patient=checkin.session.patient,
                kind=MessageKind.CHECKIN_REMINDER,
                due_at=now,
                idempotency_key=f"checkin:{checkin.pk}:reminder",
                context={"checkin": checkin.pk},
                call_reason_if_unreachable=None,
            )
            CheckIn.objects.filter(pk=checkin.pk).update(reminder=message)
            reminders += 1
    for checkin in (
        CheckIn.objects.filter(state=CheckInState.REMINDED)
        .alias(call_at=F("reminded_at") + F("session__clinic__checkin_call_delay"))
        .filter(call_at__lte=now)
        .select_related("session__patient")[:500]
    ):
        with transaction.atomic():
            if _claim(checkin, from_state=CheckInState.REMINDED, state=CheckInState.MISSED):
                outbox.call_task_open(
                    patient=checkin.session.patient,
                    reason=CallReason.UNANSWERED_CHECKIN,
                    dedupe_key=f"checkin:{checkin.pk}",
                )
                calls += 1
    return reminders, calls


class CheckInRenderer:
    """Renders check-in messages and reminders at delivery, in the patient's language, with
    the check-in's 7-day link (a reminder re-sends: new link, the old one ends). Only the
    first name and the clinic go in."""

    def __init__(self, reminder: bool) -> None:
        self.reminder = reminder

    def _checkin(self, message: OutboxMessage) -> CheckIn | None:
        return (
            CheckIn.objects.select_related("session__patient", "session__clinic", "link")
            .filter(pk=message.context.get("checkin"))
            .first()
        )

    def render(self, message: OutboxMessage) -> outbox.Rendered:
        checkin = self._checkin(message)
        if checkin is None:
            raise outbox.PermanentDeliveryError("check-in no longer exists")
        patient, clinic = checkin.session.patient, checkin.session.clinic
        # A retry of the same message reuses its link; a reminder is a re-send: new link.
        token = None if self.reminder or checkin.link is None else link_token(checkin.link)
        if token is None:
            link, token = link_issue(
                patient=patient, purpose=LinkPurpose.CHECKIN, replaces=checkin.link
            )
            CheckIn.objects.filter(pk=checkin.pk).update(link=link)
        return render_with_link(
            MessageKind.CHECKIN_REMINDER if self.reminder else MessageKind.CHECKIN,
            {"first_name": patient.first_name},
            patient.language,
            clinic=clinic,
            url=link_url(token),
            sms=message.channel == Channel.SMS,
        )

    def on_sent(self, message: OutboxMessage) -> None:
        checkin_id = message.context.get("checkin")
        if not self.reminder:
            CheckIn.objects.filter(pk=checkin_id, state=CheckInState.QUEUED).update(
                state=CheckInState.SENT, sent_at=message.sent_at or timezone.now()
            )

    def on_failed(self, message: OutboxMessage) -> None:
        CheckIn.objects.filter(pk=message.context.get("checkin"), state__in=OPEN_STATES).update(
            state=CheckInState.FAILED
        )


def register_renderers() -> None:
    outbox.register_renderer(MessageKind.CHECKIN, CheckInRenderer(reminder=False))
    outbox.register_renderer(MessageKind.CHECKIN_REMINDER, CheckInRenderer(reminder=True))
