"""Reaching every patient who received a recalled lot: "message all" (once per patient per
recall), the recall notice message with its personal link, the patient's acknowledgement,
and the reach status the recall page and its CSV show.

The notice rows are made by `services.lot_recall`. Messages go through the outbox, rendered
at delivery (the link is minted then, so its token is never stored); a patient who cannot be
messaged, or whose message failed, becomes a front-desk call task.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from patients import outbox
from patients.links import link_issue, link_token, link_url
from patients.messages import format_date, render_with_link
from patients.models import (
    CallReason,
    CallState,
    CallTask,
    Channel,
    LinkPurpose,
    MessageKind,
    MessageState,
    OutboxMessage,
    PersonalLink,
)

from .entered_in_error import notice_withdrawn
from .models import Recall, RecallNotice, SessionStatus, TreatmentSession

# The message states in which the notice did not reach the patient and never will.
NOT_REACHED = (MessageState.FAILED, MessageState.MISSED, MessageState.SUPPRESSED)


@dataclass(frozen=True)
class MessageAllResult:
    queued: int
    calls: int


def _key(notice: RecallNotice) -> str:
    return f"recall:{notice.recall_id}:{notice.patient_id}"


@transaction.atomic
def recall_message_all(*, recall: Recall, user) -> MessageAllResult:
    """Send the recall notice to every patient on the recall who has not had it: one outbox
    message per patient per recall (the message's idempotency key and the notice's one-to-one
    message make a second click, or two at once, send nothing more). A patient who cannot be
    messaged (no consent, no usable channel), or whose message failed, was missed or was
    suppressed, gets one front-desk call task instead. A notice withdrawn because each of its
    sessions was entered in error is skipped: nothing is queued and nobody is asked to call."""
    # Lock the recall: two "message all" at once run one after the other.
    recall = Recall.objects.select_for_update(of=("self",)).get(pk=recall.pk)
    now = timezone.now()
    queued = calls = 0
    notices = (
        RecallNotice.objects.filter(recall=recall)
        .select_related("patient", "message", "call_task")
        .prefetch_related(_live_sessions())
        .order_by("pk")
    )
    for notice in notices:
        if notice_withdrawn(notice):
            continue
        if notice.message_id is None and notice.call_task_id is None:
            message = outbox.message_to_patient(
                patient=notice.patient,
                kind=MessageKind.RECALL,
                due_at=now,
                idempotency_key=_key(notice),
                context={"notice": notice.pk},
                call_reason_if_unreachable=None,
            )
            if message is not None:
                RecallNotice.objects.filter(pk=notice.pk, message__isnull=True).update(
                    message=message
                )
                queued += 1
                continue
        elif notice.call_task_id is not None or notice.message.state not in NOT_REACHED:
            continue
        # A failed or missed message already has the outbox's call task; use that one.
        task = (
            CallTask.objects.filter(message_id=notice.message_id).first()
            if notice.message_id
            else None
        ) or outbox.call_task_open(
            patient=notice.patient,
            reason=CallReason.RECALL,
            dedupe_key=_key(notice),
            message=notice.message,
        )
        RecallNotice.objects.filter(pk=notice.pk, call_task__isnull=True).update(call_task=task)
        calls += 1
    if recall.messaged_at is None:
        Recall.objects.filter(pk=recall.pk).update(messaged_at=now)
    return MessageAllResult(queued=queued, calls=calls)


def recall_notice_acknowledge(*, notice: RecallNotice) -> RecallNotice:
    """The patient pressed "I have read this". The first time counts; again is harmless."""
    RecallNotice.objects.filter(pk=notice.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now()
    )
    notice.refresh_from_db(fields=["acknowledged_at"])
    return notice


# --- reads ---------------------------------------------------------------------------------


def _live_sessions() -> Prefetch:
    """A notice's sessions that were not entered in error, oldest first."""
    return Prefetch(
        "sessions",
        queryset=TreatmentSession.objects.exclude(status=SessionStatus.ENTERED_IN_ERROR)
        .only("pk", "uuid", "performed_at", "status")
        .order_by("performed_at"),
    )


def recall_notices(recall: Recall) -> QuerySet[RecallNotice]:
    """A recall's notices with everything the page and the CSV show, in a fixed number of
    queries: patient, message, call task, and the live sessions (date, lot) in which they got
    it. A withdrawn notice (no live session left) is listed with no sessions."""
    return (
        RecallNotice.objects.filter(recall=recall)
        .select_related("patient", "message", "call_task")
        .prefetch_related(_live_sessions())
        .order_by("patient__last_name", "patient__first_name", "pk")
    )


def notice_for_link(link: PersonalLink | None) -> RecallNotice | None:
    """The recall notice a live recall link answers, or None."""
    if link is None or link.purpose != LinkPurpose.RECALL or not link.is_live:
        return None
    return (
        RecallNotice.objects.select_related(
            "patient", "recall__lot__product__clinic", "recall__lot__product"
        )
        .filter(link=link)
        .first()
    )


def reach_status(notice: RecallNotice) -> tuple[str, str]:
    """(code, words) for whether the notice reached the patient, for the page and the CSV."""
    if notice.acknowledged_at:
        return "acknowledged", "Acknowledged"
    message = notice.message
    if (message is None or message.state != MessageState.SENT) and notice_withdrawn(notice):
        return "withdrawn", "Withdrawn: session entered in error"
    if message is None:
        if notice.call_task_id:
            return "call", "No way to message: call"
        return "not_sent", "Not messaged yet"
    if message.state == MessageState.SENT:
        return "reached", f"Reached by {message.get_channel_display().lower()}"
    if message.state in NOT_REACHED:
        words = {
            MessageState.FAILED: "Message failed",
            MessageState.MISSED: "Message too late",
            MessageState.SUPPRESSED: "Message stopped (opt-out or bounce)",
        }[message.state]
        return "failed", f"{words}: call"
    return "queued", "Queued"


def call_state(notice: RecallNotice) -> str:
    task = notice.call_task
    if task is None:
        return ""
    return "called" if task.state == CallState.DONE else task.get_state_display().lower()


# --- the message (words: templates/messages/recall.txt) ---------------------------------


class RecallRenderer:
    """Renders the recall notice at delivery, in the patient's language, with the notice's
    personal recall link (a retry reuses it). Only the first name, the clinic, the product,
    the lot and the dates go in."""

    def render(self, message: OutboxMessage) -> outbox.Rendered:
        notice = (
            RecallNotice.objects.select_related("patient", "link", "recall__lot__product__clinic")
            .filter(pk=message.context.get("notice"))
            .first()
        )
        if notice is None:
            raise outbox.PermanentDeliveryError("recall notice no longer exists")
        patient, lot = notice.patient, notice.recall.lot
        clinic = lot.product.clinic
        token = link_token(notice.link) if notice.link else None
        if token is None:
            link, token = link_issue(
                patient=patient, purpose=LinkPurpose.RECALL, replaces=notice.link
            )
            RecallNotice.objects.filter(pk=notice.pk).update(link=link)
        dates = ", ".join(
            format_date(performed_at, language=patient.language, clinic=clinic)
            for performed_at in notice.sessions.exclude(status=SessionStatus.ENTERED_IN_ERROR)
            .order_by("performed_at")
            .values_list("performed_at", flat=True)
        )
        context = {
            "first_name": patient.first_name,
            "lot": lot.lot_number,
            "product": lot.product.name,
            "dates": dates,
        }
        return render_with_link(
            MessageKind.RECALL,
            context,
            patient.language,
            clinic=clinic,
            url=link_url(token),
            sms=message.channel == Channel.SMS,
        )

    def on_sent(self, message: OutboxMessage) -> None:
        RecallNotice.objects.filter(
            pk=message.context.get("notice"), reached_at__isnull=True
        ).update(reached_at=message.sent_at or timezone.now())

    def on_failed(self, message: OutboxMessage) -> None:
        # The outbox has just opened its "message failed/missed" call task: the notice
        # points at it, so the recall page shows the call and no second task is opened.
        task = CallTask.objects.filter(message_id=message.pk).first()
        if task is not None:
            RecallNotice.objects.filter(
                pk=message.context.get("notice"), call_task__isnull=True
            ).update(call_task=task)


def register_renderers() -> None:
    outbox.register_renderer(MessageKind.RECALL, RecallRenderer())
