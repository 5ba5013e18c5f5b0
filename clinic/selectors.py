"""Reads for the top-floor clinical pages (the patient chart, the session page), with their
relations loaded up front so a page costs the same number of queries at any size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet

from adverse_events.models import ReactionReport
from clinic.core.access import visible
from patients.models import MessageState, OutboxMessage, Patient, PatientAccess
from treatments.entered_in_error import STOPPED_NOTE, session_messages
from treatments.models import (
    CheckIn,
    LotStatus,
    ProductLot,
    SessionAddendum,
    TreatmentSeries,
    TreatmentSession,
)


def sessions_with_follow_up(user: Any) -> QuerySet[TreatmentSession]:
    """Sessions the user may read, with their follow-up loaded (`sessions_loaded`)."""
    return visible(sessions_loaded(), user)


def sessions_loaded() -> QuerySet[TreatmentSession]:
    """Sessions with lot, people, check-ins (and their messages), reactions (with their term
    and assessment) and addenda loaded; not scoped, so pass it through `visible`."""
    return TreatmentSession.objects.select_related(
        "patient", "clinic", "practitioner", "signed_by", "lot__product", "appointment"
    ).prefetch_related(
        Prefetch(
            "checkins",
            queryset=CheckIn.objects.select_related("message", "reminder").order_by("due_at"),
        ),
        Prefetch(
            "reactions",
            queryset=ReactionReport.objects.select_related("term", "assessment").order_by(
                "onset_date"
            ),
        ),
        Prefetch(
            "addenda",
            queryset=SessionAddendum.objects.select_related("author").order_by("created_at"),
        ),
    )


@dataclass
class Chart:
    patient: Patient
    series: list[TreatmentSeries]
    sessions: list[TreatmentSession]

    @property
    def reactions(self) -> list[ReactionReport]:
        return [r for s in self.sessions for r in s.reactions.all()]


def patient_chart(*, patient: Patient, user: Any) -> Chart:
    """Everything the chart shows. Reading a chart is recorded (who, when) in PatientAccess."""
    PatientAccess.objects.create(patient=patient, user=user, action="chart_view")
    series = list(
        TreatmentSeries.objects.filter(patient=patient)
        .select_related("template")
        .order_by("-created_at")
    )
    sessions = list(sessions_with_follow_up(user).filter(patient=patient).order_by("-performed_at"))
    return Chart(patient=patient, series=series, sessions=sessions)


def aftercare_message(session: TreatmentSession) -> OutboxMessage | None:
    """The aftercare email or SMS the workflow queued for this session, if any."""
    return OutboxMessage.objects.filter(idempotency_key=f"aftercare:{session.pk}").first()


@dataclass
class FollowUpMessages:
    """A session's messages as the session page lists them: for a session entered in error,
    what the marking stopped and what had already gone out (or was going out)."""

    messages: list[OutboxMessage]

    @property
    def stopped(self) -> list[OutboxMessage]:
        return [
            m
            for m in self.messages
            if m.state == MessageState.CANCELLED and m.last_error == STOPPED_NOTE
        ]

    @property
    def sent(self) -> list[OutboxMessage]:
        return [m for m in self.messages if m.state in (MessageState.SENT, MessageState.CLAIMED)]


def session_follow_up_messages(session: TreatmentSession) -> FollowUpMessages:
    """Every message of the session (aftercare, check-ins, reminders), in two queries."""
    return FollowUpMessages(messages=session_messages(session))


def lots_matching_number(*, clinic: Any, lot_number: str) -> list[ProductLot]:
    """Lots of this clinic with this number (any status: the workflow says why one is refused).

    Case-insensitive, because scanners and fingers disagree about case.
    """
    return list(
        ProductLot.objects.filter(product__clinic=clinic, lot_number__iexact=lot_number.strip())
        .select_related("product")
        .order_by("product__name")
    )


def lots_usable_today(*, clinic: Any) -> list[ProductLot]:
    """Released, unexpired lots with stock: the suggestions under the lot field."""
    return list(
        ProductLot.objects.filter(
            product__clinic=clinic,
            status=LotStatus.RELEASED,
            expiry_date__gte=clinic.today(),
            quantity_on_hand__gt=0,
        )
        .select_related("product")
        .order_by("expiry_date", "lot_number")
    )
