"""What a session entered in error stops, and the outbox guard that keeps it stopped.

Marking a session entered in error (`services.session_mark_entered_in_error`) stops
everything that flows from it, in the same transaction:

- every outbox message of the session that has not started going out: the aftercare message,
  its check-in messages and their reminders, whether still queued (pending) or claimed by a
  sweeper that has not yet handed it to the provider (the delivery's compare-and-set on the
  claim then finds the row cancelled and skips it);
- its open check-ins (cancelled: no new message is dispatched for them);
- its personal report link and every live check-in link of the session (revoked: the patient
  gets the neutral page, as for any invalid link);
- the front desk's open call tasks about it (a check-in nobody could be sent or nobody
  answered, a message that failed or was missed): cancelled with the note below, so nobody
  phones a patient about a treatment that is not theirs;
- its place on recall notices not yet sent: the session leaves the notice, and a notice left
  with no live session is withdrawn (its unsent message cancelled, its open call cancelled;
  "message all" skips it and the recall page shows it as withdrawn);
- its appointment: the session lets go of it (the link stays in the session's history) and
  the appointment goes back to arrived, so the correct session can be logged against it.

A message dispatched by a sweep that raced the stop (a check-in turned into a message a moment
before it was cancelled), or claimed in the instant before, is refused at delivery by the
guard registered here: the outbox cancels it without sending and without a call task (the
48-hour catch-up asks the same guards before it turns a message into a call). A recall notice
message is withdrawn the same way when every session of its notice was entered in error. A
message whose send had already started is beyond reach; the session page shows it as sent.

The messages of a session are found by their idempotency keys (`aftercare:<session>`,
`checkin:<check-in>`, `checkin:<check-in>:reminder`), so rows made by a racing sweep that
never got linked to their check-in are found too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from patients import outbox
from patients.models import (
    CallState,
    CallTask,
    MessageKind,
    MessageState,
    OutboxMessage,
    PersonalLink,
)

from .models import CheckIn, Recall, RecallNotice, SessionStatus, TreatmentSession

# The outbox row's `last_error` for a message stopped this way (the session page reads it).
STOPPED_NOTE = "Session entered in error."


def session_message_keys(session_id: int, checkin_ids: Iterable[int]) -> list[str]:
    """The idempotency keys of every message a session can cause."""
    keys = [f"aftercare:{session_id}"]
    for pk in checkin_ids:
        keys += [f"checkin:{pk}", f"checkin:{pk}:reminder"]
    return keys


def session_messages(session: TreatmentSession) -> list[OutboxMessage]:
    """Every outbox message of the session, oldest due first (one query when the session's
    check-ins are prefetched, two otherwise, at any size)."""
    keys = session_message_keys(session.pk, [c.pk for c in session.checkins.all()])
    return list(OutboxMessage.objects.filter(idempotency_key__in=keys).order_by("due_at", "pk"))


@dataclass
class FollowUpStopped:
    """What stopping a session's follow-up did."""

    stopped: list[OutboxMessage] = field(default_factory=list)
    already_sent: list[OutboxMessage] = field(default_factory=list)
    # Claimed rows whose send had started: they may reach the patient.
    in_flight: list[OutboxMessage] = field(default_factory=list)
    checkins_cancelled: int = 0
    links_revoked: int = 0
    calls_cancelled: int = 0
    # Recall notices this session was the last live session of: withdrawn.
    notices_withdrawn: int = 0


# A message that has not started going out (it can still be stopped).
STOPPABLE = Q(state=MessageState.PENDING) | Q(
    state=MessageState.CLAIMED, send_started_at__isnull=True
)


def messages_stop(keys_or_ids: Q, *, note: str = STOPPED_NOTE) -> list[int]:
    """Cancel the unsent messages matching `keys_or_ids` (with `note` as their `last_error`);
    returns their ids. Also used when a patient is archived (`treatments/archive.py`)."""
    # Locked (PostgreSQL) so a worker's "send starting" UPDATE waits for this transaction and
    # then finds the row cancelled; SQLite's IMMEDIATE transaction serialises the same way.
    stop_ids = list(
        OutboxMessage.objects.filter(STOPPABLE, keys_or_ids)
        .select_for_update()
        .values_list("pk", flat=True)
    )
    if stop_ids:
        OutboxMessage.objects.filter(STOPPABLE, pk__in=stop_ids).update(
            state=MessageState.CANCELLED,
            last_error=note,
            claim_token=None,
            lease_expires_at=None,
        )
    return stop_ids


def calls_cancel(calls: Q, *, note: str = STOPPED_NOTE) -> int:
    """Cancel the open call tasks matching `calls`, with `note` as their outcome."""
    return CallTask.objects.filter(calls, state=CallState.OPEN).update(
        state=CallState.CANCELLED, outcome=note
    )


def session_follow_up_stop(*, session: TreatmentSession) -> FollowUpStopped:
    """Cancel the session's unsent messages and open check-ins and revoke its links. Call
    inside the transaction that marks the session entered in error."""
    from .checkins import checkins_cancel_for_session

    result = FollowUpStopped()
    checkin_ids = list(CheckIn.objects.filter(session=session).values_list("pk", flat=True))
    keys = session_message_keys(session.pk, checkin_ids)
    stop_ids = messages_stop(Q(idempotency_key__in=keys))
    message_ids = []
    for message in OutboxMessage.objects.filter(idempotency_key__in=keys).order_by("due_at", "pk"):
        message_ids.append(message.pk)
        if message.pk in stop_ids and message.state == MessageState.CANCELLED:
            result.stopped.append(message)
        elif message.state == MessageState.SENT:
            result.already_sent.append(message)
        elif message.state == MessageState.CLAIMED:
            result.in_flight.append(message)
    # The front desk's calls about the session: a message nobody could be sent
    # ("unreachable:<key>"), an unanswered check-in ("checkin:<pk>"), a message that failed or
    # was missed ("message:<pk>", or any task pointing at one of its messages).
    result.calls_cancelled = calls_cancel(
        Q(dedupe_key__in=[f"unreachable:{key}" for key in keys])
        | Q(dedupe_key__in=[f"checkin:{pk}" for pk in checkin_ids])
        | Q(dedupe_key__in=[f"message:{pk}" for pk in message_ids])
        | Q(message_id__in=message_ids)
    )
    result.checkins_cancelled = checkins_cancel_for_session(session=session)
    links = Q(checkins__session=session)
    if session.report_link_id:
        links |= Q(pk=session.report_link_id)
    live = PersonalLink.objects.filter(links, revoked_at__isnull=True).values_list("pk", flat=True)
    result.links_revoked = PersonalLink.objects.filter(pk__in=list(live)).update(
        revoked_at=timezone.now()
    )
    result.notices_withdrawn = _recall_notices_leave(session)
    return result


@dataclass
class FollowUpPreview:
    """What marking the session entered in error would stop, counted now (read-only): the
    confirmation page says it before anything happens."""

    messages: int
    checkins: int
    links: int
    calls: int
    notices: int
    frees_appointment: bool


def session_follow_up_preview(*, session: TreatmentSession) -> FollowUpPreview:
    """Counts of what `session_follow_up_stop` would stop, without changing anything."""
    from .checkins import OPEN_STATES

    checkin_ids = list(CheckIn.objects.filter(session=session).values_list("pk", flat=True))
    keys = session_message_keys(session.pk, checkin_ids)
    message_ids = list(
        OutboxMessage.objects.filter(idempotency_key__in=keys).values_list("pk", flat=True)
    )
    links = Q(checkins__session=session)
    if session.report_link_id:
        links |= Q(pk=session.report_link_id)
    calls = (
        Q(dedupe_key__in=[f"unreachable:{key}" for key in keys])
        | Q(dedupe_key__in=[f"checkin:{pk}" for pk in checkin_ids])
        | Q(dedupe_key__in=[f"message:{pk}" for pk in message_ids])
        | Q(message_id__in=message_ids)
    )
    notices = (
        RecallNotice.objects.filter(sessions=session)
        .exclude(message__state=MessageState.SENT)
        .exclude(message__state=MessageState.CLAIMED, message__send_started_at__isnull=False)
    )
    return FollowUpPreview(
        messages=OutboxMessage.objects.filter(STOPPABLE, pk__in=message_ids).count(),
        checkins=CheckIn.objects.filter(session=session, state__in=OPEN_STATES).count(),
        links=PersonalLink.objects.filter(links, revoked_at__isnull=True).distinct().count(),
        calls=CallTask.objects.filter(calls, state=CallState.OPEN).count(),
        notices=notices.count(),
        frees_appointment=session.appointment_id is not None,
    )


def _recall_notices_leave(session: TreatmentSession) -> int:
    """Take the session off the recall notices that have not reached the patient (not
    messaged yet, queued, or failed, missed or suppressed); a notice left without a live
    session is withdrawn (its unsent message and its open call cancelled). A notice sent, or
    whose send has started, keeps the session: that is what the patient was told."""
    on_notices = RecallNotice.objects.filter(sessions=session)
    # "Message all" locks its recall: it runs wholly before or after this.
    list(Recall.objects.filter(notices__in=on_notices).select_for_update().values_list("pk"))
    notice_ids = list(
        on_notices.exclude(message__state=MessageState.SENT)
        .exclude(message__state=MessageState.CLAIMED, message__send_started_at__isnull=False)
        .values_list("pk", flat=True)
    )
    if not notice_ids:
        return 0
    RecallNotice.sessions.through.objects.filter(
        recallnotice_id__in=notice_ids, treatmentsession_id=session.pk
    ).delete()
    empty = list(
        RecallNotice.objects.filter(pk__in=notice_ids)
        .exclude(sessions__isnull=False)
        .values_list("pk", "message_id", "call_task_id")
    )
    if not empty:
        return 0
    message_ids = [message_id for _, message_id, _ in empty if message_id]
    if message_ids:
        messages_stop(Q(pk__in=message_ids))
    calls_cancel(
        Q(pk__in=[task_id for _, _, task_id in empty if task_id]) | Q(message_id__in=message_ids)
    )
    return len(empty)


def notice_withdrawn(notice: RecallNotice) -> bool:
    """A recall notice none of whose sessions is live any more (each was entered in error
    before the notice reached the patient). Uses prefetched sessions when there are."""
    return not any(s.status != SessionStatus.ENTERED_IN_ERROR for s in notice.sessions.all())


def withdraw_if_session_in_error(message: OutboxMessage) -> None:
    """Outbox guard for aftercare, check-in and reminder messages: a message of a session
    entered in error is never sent, even if it was queued or claimed after the stop."""
    context = message.context or {}
    if message.kind == MessageKind.AFTERCARE:
        in_error = TreatmentSession.objects.filter(
            pk=context.get("session"), status=SessionStatus.ENTERED_IN_ERROR
        )
    else:
        in_error = CheckIn.objects.filter(
            pk=context.get("checkin"), session__status=SessionStatus.ENTERED_IN_ERROR
        )
    if in_error.exists():
        raise outbox.DeliveryWithdrawn(STOPPED_NOTE)


def withdraw_recall_if_sessions_in_error(message: OutboxMessage) -> None:
    """Outbox guard for recall notices: a notice none of whose sessions is live (all entered
    in error, or taken off the notice) is never sent."""
    live = TreatmentSession.objects.filter(recall_notices=message.context.get("notice")).exclude(
        status=SessionStatus.ENTERED_IN_ERROR
    )
    if not live.exists():
        raise outbox.DeliveryWithdrawn(STOPPED_NOTE)


def register_guards() -> None:
    for kind in (MessageKind.AFTERCARE, MessageKind.CHECKIN, MessageKind.CHECKIN_REMINDER):
        outbox.register_guard(kind, withdraw_if_session_in_error)
    outbox.register_guard(MessageKind.RECALL, withdraw_recall_if_sessions_in_error)
