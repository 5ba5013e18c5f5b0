"""What a session entered in error stops, and the outbox guard that keeps it stopped.

Marking a session entered in error (`services.session_mark_entered_in_error`) stops
everything that flows from it, in the same transaction:

- every outbox message of the session that has not started going out: the aftercare message,
  its check-in messages and their reminders, whether still queued (pending) or claimed by a
  sweeper that has not yet handed it to the provider (the delivery's compare-and-set on the
  claim then finds the row cancelled and skips it);
- its open check-ins (cancelled: no new message is dispatched for them);
- its personal report link and every live check-in link of the session (revoked: the patient
  gets the neutral page, as for any invalid link).

A message dispatched by a sweep that raced the stop (a check-in turned into a message a moment
before it was cancelled), or claimed in the instant before, is refused at delivery by the
guard registered here: the outbox cancels it without sending and without a call task. A
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
from patients.models import MessageKind, MessageState, OutboxMessage, PersonalLink

from .models import CheckIn, SessionStatus, TreatmentSession

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


def session_follow_up_stop(*, session: TreatmentSession) -> FollowUpStopped:
    """Cancel the session's unsent messages and open check-ins and revoke its links. Call
    inside the transaction that marks the session entered in error."""
    from .checkins import checkins_cancel_for_session

    result = FollowUpStopped()
    checkin_ids = list(CheckIn.objects.filter(session=session).values_list("pk", flat=True))
    keys = session_message_keys(session.pk, checkin_ids)
    stoppable = Q(state=MessageState.PENDING) | Q(
        state=MessageState.CLAIMED, send_started_at__isnull=True
    )
    # Locked (PostgreSQL) so a worker's "send starting" UPDATE waits for this transaction and
    # then finds the row cancelled; SQLite's IMMEDIATE transaction serialises the same way.
    stop_ids = list(
        OutboxMessage.objects.filter(stoppable, idempotency_key__in=keys)
        .select_for_update()
        .values_list("pk", flat=True)
    )
    if stop_ids:
        OutboxMessage.objects.filter(stoppable, pk__in=stop_ids).update(
            state=MessageState.CANCELLED,
            last_error=STOPPED_NOTE,
            claim_token=None,
            lease_expires_at=None,
        )
    for message in OutboxMessage.objects.filter(idempotency_key__in=keys).order_by("due_at", "pk"):
        if message.pk in stop_ids and message.state == MessageState.CANCELLED:
            result.stopped.append(message)
        elif message.state == MessageState.SENT:
            result.already_sent.append(message)
        elif message.state == MessageState.CLAIMED:
            result.in_flight.append(message)
    result.checkins_cancelled = checkins_cancel_for_session(session=session)
    links = Q(checkins__session=session)
    if session.report_link_id:
        links |= Q(pk=session.report_link_id)
    live = PersonalLink.objects.filter(links, revoked_at__isnull=True).values_list("pk", flat=True)
    result.links_revoked = PersonalLink.objects.filter(pk__in=list(live)).update(
        revoked_at=timezone.now()
    )
    return result


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


def register_guards() -> None:
    for kind in (MessageKind.AFTERCARE, MessageKind.CHECKIN, MessageKind.CHECKIN_REMINDER):
        outbox.register_guard(kind, withdraw_if_session_in_error)
