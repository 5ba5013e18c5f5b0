"""The outbox: every message the clinic sends goes through here.

Life of a message (the database is the schedule):

    pending --claim--> claimed --deliver--> sent
       ^                  |  \\--transient error, attempts left--> pending (later due_at)
       |                  |   \\--permanent error or attempts used up--> failed + call task
       +--lease expired---+
    pending, more than CATCH_UP_LIMIT overdue --> missed + call task (patient messages)
                                               \\--a guard withdraws--> cancelled, no call

`outbox_claim_due` gives a batch of due rows one claim token and a lease and commits; the
delivery task renews the lease when it starts (`outbox_lease_renew`), so time spent waiting in
the broker's queue does not eat into it. `outbox_deliver` compares-and-sets on that token
before and after sending and never starts a send on an expired lease, so a row whose lease
expired and was re-claimed elsewhere is never marked twice. Just before the provider call it
commits `send_started_at` (again only if the claim and lease are still ours), so a row left
claimed with `send_started_at` set is exactly one whose send may have reached the provider
without our commit of `sent` (a kill at the wrong instant). Such a row is re-sent and flagged
`duplicate_suspected`: when its expired claim is released, or when a retried or redelivered
run of the same claim sends it again. A claim that died before starting a send flags nothing.
The provider's idempotency key (the message's uuid) lets providers that honour it drop the
repeat.

Apps above this floor register a renderer per message kind (`register_renderer`) to build
subject and body at delivery time (link-bearing messages mint their link then, so the plain
token is never stored) and to hear about the outcome. They may also register a guard per kind
(`register_guard`), asked just before rendering whether the message is still wanted: a guard
raises `DeliveryWithdrawn` (a session entered in error after its message was queued or
claimed), and the row is cancelled, not sent, and no call task is opened.

    claimed --guard withdraws--> cancelled
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .models import (
    CallReason,
    CallState,
    CallTask,
    Channel,
    MessageKind,
    MessageState,
    OutboxMessage,
    Patient,
)
from .sms import PermanentDeliveryError, TransientDeliveryError, get_sms_backend

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=getattr(settings, "OUTBOX_LEASE_SECONDS", 120))
# The order a batch is claimed and delivered in; the first unfinished row of a dead batch is
# the one that may have reached the provider.
BATCH_ORDER = ("due_at", "pk")
MAX_ATTEMPTS = 5
CATCH_UP_LIMIT = timedelta(hours=48)
BATCH_SIZE = 50
# Staff alerts are always worth sending late; patient messages past the limit become calls.
ALWAYS_SEND = frozenset(
    {MessageKind.RED_FLAG_ALERT, MessageKind.LOW_STOCK_ALERT, MessageKind.STAFF_NOTICE}
)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes, capped at an hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    # The text to keep in the row after sending (the body with any token removed).
    stored_body: str


class Renderer(Protocol):
    def render(self, message: OutboxMessage) -> Rendered: ...
    def on_sent(self, message: OutboxMessage) -> None: ...
    def on_failed(self, message: OutboxMessage) -> None: ...


class QuietRenderer:
    """A renderer base for messages whose outcome nobody above the outbox needs to hear."""

    def on_sent(self, message: OutboxMessage) -> None:
        pass

    def on_failed(self, message: OutboxMessage) -> None:
        pass


class FixedTextRenderer(QuietRenderer):
    """Messages whose subject and body were written when they were queued."""

    def render(self, message: OutboxMessage) -> Rendered:
        return Rendered(message.subject, message.body, message.body)


_renderers: dict[str, Renderer] = {}


def register_renderer(kind: str, renderer: Renderer) -> None:
    _renderers[kind] = renderer


def renderer_for(kind: str) -> Renderer:
    return _renderers.get(kind, FixedTextRenderer())


class DeliveryWithdrawn(PermanentDeliveryError):
    """The message is no longer wanted (what it is about was entered in error): it is
    cancelled, never sent, and no call task is opened (there is nobody to call about it)."""


Guard = Callable[[OutboxMessage], None]
_guards: dict[str, list[Guard]] = {}


def register_guard(kind: str, guard: Guard) -> None:
    """`guard(message)` runs at delivery before the renderer; it raises DeliveryWithdrawn
    when the message must not go out any more. Registering the same guard twice is a no-op."""
    guards = _guards.setdefault(kind, [])
    if guard not in guards:
        guards.append(guard)


def _check_guards(message: OutboxMessage) -> None:
    for guard in _guards.get(message.kind, ()):
        guard(message)


# --- queueing ------------------------------------------------------------------------------


def pick_channel(patient: Patient) -> str | None:
    """The patient's preferred channel if it can be used, else the other one, else None."""
    other = Channel.SMS if patient.preferred_channel == Channel.EMAIL else Channel.EMAIL
    for channel in (patient.preferred_channel, other):
        if patient.can_receive(channel):
            return channel
    return None


def message_to_patient(
    *,
    patient: Patient,
    kind: str,
    due_at: datetime,
    idempotency_key: str,
    subject: str = "",
    body: str = "",
    context: dict | None = None,
    call_reason_if_unreachable: str | None = CallReason.NO_CONTACT,
) -> OutboxMessage | None:
    """Queue a message to a patient on a channel they consented to; once per key.

    Without consent or a usable channel nothing is sent; when `call_reason_if_unreachable`
    is given the front desk gets a call task instead. Returns the message (existing one for
    a repeated key) or None when it could not be queued.
    """
    existing = OutboxMessage.objects.filter(idempotency_key=idempotency_key).first()
    if existing:
        return existing
    channel = pick_channel(patient)
    if channel is None:
        if call_reason_if_unreachable:
            call_task_open(
                patient=patient,
                reason=call_reason_if_unreachable,
                dedupe_key=f"unreachable:{idempotency_key}",
            )
        return None
    address = patient.email if channel == Channel.EMAIL else patient.phone
    return _insert(
        OutboxMessage(
            clinic_id=patient.clinic_id,
            patient=patient,
            kind=kind,
            channel=channel,
            to_address=address,
            subject=subject,
            body=body,
            context=context or {},
            idempotency_key=idempotency_key,
            due_at=due_at,
        )
    )


def message_to_staff(
    *,
    clinic,
    to_email: str,
    kind: str,
    subject: str,
    body: str,
    idempotency_key: str,
    due_at: datetime | None = None,
    context: dict | None = None,
) -> OutboxMessage:
    """Queue an alert to a staff address (on-call, safety lead); once per key."""
    existing = OutboxMessage.objects.filter(idempotency_key=idempotency_key).first()
    if existing:
        return existing
    return _insert(
        OutboxMessage(
            clinic=clinic,
            kind=kind,
            channel=Channel.EMAIL,
            to_address=to_email,
            subject=subject,
            body=body,
            context=context or {},
            idempotency_key=idempotency_key,
            due_at=due_at or timezone.now(),
        )
    )


def _insert(message: OutboxMessage) -> OutboxMessage:
    message.full_clean(validate_unique=False)
    # A concurrent caller with the same key wins; we return its row.
    with transaction.atomic():
        created = OutboxMessage.objects.bulk_create([message], ignore_conflicts=True)
    if created and created[0].pk:
        return created[0]
    return OutboxMessage.objects.get(idempotency_key=message.idempotency_key)


def call_task_open(
    *, patient: Patient, reason: str, dedupe_key: str, message: OutboxMessage | None = None
) -> CallTask:
    """One open call task per cause; asking again returns the existing one."""
    task, _ = CallTask.objects.get_or_create(
        dedupe_key=dedupe_key,
        defaults={
            "clinic_id": patient.clinic_id,
            "patient": patient,
            "reason": reason,
            "message": message,
            "state": CallState.OPEN,
        },
    )
    return task


# --- claiming ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    token: uuid.UUID
    message_ids: list[int]


def outbox_release_expired_leases(*, now: datetime | None = None) -> int:
    """Claimed rows whose lease ran out go back to the queue (their worker died).

    A row whose send had started (`send_started_at`, committed just before the provider call)
    but was never marked sent may have reached the provider: it is flagged
    `duplicate_suspected` before it is sent again. A batch sends one row at a time, so a dead
    claim has at most one such row; rows it never started are not flagged."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(
            OutboxMessage.objects.filter(state=MessageState.CLAIMED, lease_expires_at__lt=now)
            .select_for_update()
            .order_by(*BATCH_ORDER)
            .values_list("pk", "send_started_at")
        )
        if not expired:
            return 0
        started = [pk for pk, send_started_at in expired if send_started_at is not None]
        if started:
            OutboxMessage.objects.filter(pk__in=started).update(duplicate_suspected=True)
        return OutboxMessage.objects.filter(
            pk__in=[pk for pk, _ in expired], state=MessageState.CLAIMED
        ).update(
            state=MessageState.PENDING,
            claim_token=None,
            lease_expires_at=None,
            send_started_at=None,
        )


def outbox_lease_renew(*, claim_token: uuid.UUID | str, lease: timedelta = LEASE) -> int:
    """A delivery task starting on its batch: the lease counts from now, not from the claim
    (time in the broker's queue is not delivery time). Rows whose lease already ran out are
    not renewed: the sweeper may hand them to someone else. Returns the rows still ours."""
    now = timezone.now()
    return OutboxMessage.objects.filter(
        claim_token=uuid.UUID(str(claim_token)),
        state=MessageState.CLAIMED,
        lease_expires_at__gt=now,
    ).update(lease_expires_at=now + lease)


def outbox_mark_missed(*, now: datetime | None = None) -> int:
    """Catch-up policy: patient messages more than 48 h overdue are not sent any more;
    each becomes a call task for the front desk instead. The guards are asked first: a message
    no longer wanted (its session entered in error) is cancelled, with no call task."""
    now = now or timezone.now()
    stale = list(
        OutboxMessage.objects.filter(
            state=MessageState.PENDING,
            due_at__lt=now - CATCH_UP_LIMIT,
            patient__isnull=False,
        )
        .exclude(kind__in=ALWAYS_SEND)
        .select_related("patient")[:500]
    )
    missed = 0
    for message in stale:
        try:
            _check_guards(message)
        except DeliveryWithdrawn as exc:
            OutboxMessage.objects.filter(pk=message.pk, state=MessageState.PENDING).update(
                state=MessageState.CANCELLED, last_error=str(exc)[:1000]
            )
            continue
        with transaction.atomic():
            changed = OutboxMessage.objects.filter(
                pk=message.pk, state=MessageState.PENDING
            ).update(state=MessageState.MISSED, last_error="More than 48 h overdue.")
            if changed:
                missed += 1
                call_task_open(
                    patient=message.patient,
                    reason=CallReason.MISSED_MESSAGE,
                    dedupe_key=f"message:{message.pk}",
                    message=message,
                )
                renderer_for(message.kind).on_failed(message)
    return missed


def outbox_claim_due(
    *, now: datetime | None = None, limit: int = BATCH_SIZE, lease: timedelta = LEASE
) -> Claim | None:
    """Claim up to `limit` due rows under one token and a lease, and commit.

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so concurrent sweepers take disjoint rows.
    SQLite: one conditional UPDATE (state still pending) inside an IMMEDIATE transaction, which
    SQLite's single writer makes exclusive.
    """
    now = now or timezone.now()
    token = uuid.uuid4()
    claimed_fields = {
        "state": MessageState.CLAIMED,
        "claim_token": token,
        "lease_expires_at": now + lease,
        "attempts": F("attempts") + 1,
    }
    with transaction.atomic():
        due = OutboxMessage.objects.due(now).order_by("due_at")
        if connection.vendor == "postgresql":
            ids = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        else:
            ids = list(due.values_list("pk", flat=True)[:limit])
        if not ids:
            return None
        OutboxMessage.objects.filter(pk__in=ids, state=MessageState.PENDING).update(
            **claimed_fields
        )
        claimed = list(
            OutboxMessage.objects.filter(claim_token=token)
            .order_by(*BATCH_ORDER)
            .values_list("pk", flat=True)
        )
    return Claim(token=token, message_ids=claimed) if claimed else None


# --- delivery ------------------------------------------------------------------------------


def _send(message: OutboxMessage, rendered: Rendered) -> str:
    key = str(message.uuid)
    if message.channel == Channel.SMS:
        return get_sms_backend().send(
            to=message.to_address, body=rendered.body, idempotency_key=key
        )
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1]
    message_id = f"<{key}@{domain}>"
    email = EmailMessage(
        subject=rendered.subject,
        body=rendered.body,
        to=[message.to_address],
        headers={"Message-ID": message_id, "X-Idempotency-Key": key},
        connection=get_connection(),
    )
    try:
        email.send(fail_silently=False)
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise TransientDeliveryError(str(exc) or exc.__class__.__name__) from exc
    return message_id


def _send_starting(message: OutboxMessage, token: uuid.UUID) -> bool:
    """Record, and commit, that the provider is about to be called for this row, if the claim
    and its lease are still ours (never start a send on an expired lease: the sweeper may give
    the row to another worker at any moment, and both would send it). From here until `sent`
    is committed, a crash leaves a row that may have reached the provider."""
    now = timezone.now()
    # One UPDATE: in autocommit (a delivery task) it is committed when it returns.
    return bool(
        OutboxMessage.objects.filter(
            pk=message.pk,
            claim_token=token,
            state=MessageState.CLAIMED,
            lease_expires_at__gt=now,
        ).update(send_started_at=now)
    )


def outbox_deliver(*, message_id: int, claim_token: uuid.UUID | str) -> str:
    """Deliver one claimed message if we still hold its claim and its lease. Returns the
    resulting state ("skipped" when the claim or lease was lost or the row is gone: safe to
    call twice). Call it outside a transaction: the start of the send is committed first.

    If an earlier run of the same claim (a retried or redelivered batch) had started sending
    this row, the provider may already have it: it is sent again and flagged."""
    token = uuid.UUID(str(claim_token))
    message = (
        OutboxMessage.objects.filter(
            pk=message_id,
            claim_token=token,
            state=MessageState.CLAIMED,
            # Never start a send on an expired lease: the sweeper may give the row to
            # another worker at any moment, and both would send it.
            lease_expires_at__gt=timezone.now(),
        )
        .select_related("patient")
        .first()
    )
    if message is None:
        return "skipped"
    repeat_suspected = message.send_started_at is not None
    renderer = renderer_for(message.kind)
    try:
        _check_guards(message)
        rendered = renderer.render(message)
        if not _send_starting(message, token):
            return "skipped"
        provider_id = _send(message, rendered)
    except TransientDeliveryError as exc:
        return _after_failure(message, token, str(exc), transient=True)
    except DeliveryWithdrawn as exc:
        return _withdrawn(message, token, str(exc))
    except PermanentDeliveryError as exc:
        return _after_failure(message, token, str(exc), transient=False)

    now = timezone.now()
    with transaction.atomic():
        won = OutboxMessage.objects.filter(
            pk=message.pk, claim_token=token, state=MessageState.CLAIMED
        ).update(
            state=MessageState.SENT,
            sent_at=now,
            provider_message_id=provider_id[:200],
            subject=rendered.subject[:200],
            body=rendered.stored_body,
            claim_token=None,
            lease_expires_at=None,
            last_error="",
            **({"duplicate_suspected": True} if repeat_suspected else {}),
        )
        if not won:
            # Our lease ran out while sending and someone else holds the row now: the
            # provider may see this message twice. Say so on the row; never hide it.
            OutboxMessage.objects.filter(pk=message.pk).update(duplicate_suspected=True)
            logger.warning("outbox message %s sent after its lease expired", message.pk)
            return "duplicate"
        message.state, message.sent_at = MessageState.SENT, now
        renderer.on_sent(message)  # same transaction as the sent state
    return MessageState.SENT


def _withdrawn(message: OutboxMessage, token: uuid.UUID, why: str) -> str:
    """A guard withdrew the message before anything was sent: cancelled, no call task, and
    the renderer hears nothing (it was not a failure to reach the patient)."""
    changed = OutboxMessage.objects.filter(
        pk=message.pk, claim_token=token, state=MessageState.CLAIMED
    ).update(
        state=MessageState.CANCELLED,
        last_error=why[:1000],
        claim_token=None,
        lease_expires_at=None,
        send_started_at=None,
    )
    logger.info("outbox message %s withdrawn before sending", message.pk)
    return MessageState.CANCELLED if changed else "skipped"


def _after_failure(message: OutboxMessage, token: uuid.UUID, error: str, *, transient: bool) -> str:
    give_up = not transient or message.attempts >= MAX_ATTEMPTS
    with transaction.atomic():
        mine = OutboxMessage.objects.filter(
            pk=message.pk, claim_token=token, state=MessageState.CLAIMED
        )
        if give_up:
            changed = mine.update(
                state=MessageState.FAILED,
                last_error=error[:1000],
                claim_token=None,
                lease_expires_at=None,
            )
            if changed and message.patient_id:
                call_task_open(
                    patient=message.patient,
                    reason=CallReason.FAILED_MESSAGE,
                    dedupe_key=f"message:{message.pk}",
                    message=message,
                )
            if changed:
                message.state = MessageState.FAILED
                renderer_for(message.kind).on_failed(message)
            logger.warning("outbox message %s failed for good: %s", message.pk, error)
            return MessageState.FAILED if changed else "skipped"
        mine.update(
            state=MessageState.PENDING,
            last_error=error[:1000],
            claim_token=None,
            lease_expires_at=None,
            send_started_at=None,  # the provider answered: this send is over
            due_at=timezone.now() + backoff(message.attempts),
        )
    logger.info("outbox message %s will be retried: %s", message.pk, error)
    return MessageState.PENDING


# --- channel stops -------------------------------------------------------------------------


def channel_stop_sms(*, phone: str) -> int:
    """An SMS STOP reply: no more SMS to that number, at any clinic."""
    from .models import phone_key

    key = phone_key(phone)
    if not key:
        return 0
    now = timezone.now()
    patients = Patient.objects.filter(phone_key=key, sms_stopped_at__isnull=True)
    count = patients.update(sms_stopped_at=now)
    OutboxMessage.objects.filter(
        channel=Channel.SMS, state=MessageState.PENDING, patient__phone_key=key
    ).update(state=MessageState.SUPPRESSED, last_error="Patient replied STOP.")
    return count


def channel_stop_email(*, email: str) -> int:
    """A hard bounce: no more email to that address."""
    now = timezone.now()
    count = Patient.objects.filter(email__iexact=email, email_bounced_at__isnull=True).update(
        email_bounced_at=now
    )
    OutboxMessage.objects.filter(
        channel=Channel.EMAIL,
        state=MessageState.PENDING,
        to_address__iexact=email,
        patient__isnull=False,
    ).update(state=MessageState.SUPPRESSED, last_error="Email address bounced.")
    return count
