"""Reads for the top-floor clinical pages (the patient chart, the session page), with their
relations loaded up front so a page costs the same number of queries at any size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet

from adverse_events.models import ReactionReport
from clinic.core.access import visible
from patients.models import MessageState, OutboxMessage, Patient, PatientAccess
from treatments.booking import series_next_steps
from treatments.entered_in_error import STOPPED_NOTE, session_messages
from treatments.models import (
    Appointment,
    CheckIn,
    LotStatus,
    Product,
    ProductLot,
    SessionAddendum,
    SessionStatus,
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
    series = series_with_next_step(
        TreatmentSeries.objects.filter(patient=patient)
        .select_related("template", "clinic", "patient")
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


# What a session logged from its appointment repeats of the series' session before it.
PLANNED_FIELDS = (
    "delivery_method",
    "needle_depth_mm",
    "laser_device",
    "laser_type",
    "fluence_j_cm2",
    "passes",
    "treated_areas",
    "units_used",
    "volume_ml",
)


@dataclass
class SessionPlan:
    """What the session form of an appointment starts from: the series step and the
    treatment planned for it, which is the series' previous session (procedure, settings,
    areas, amount and product). The lot is never filled in: it is read off the vial."""

    appointment: Appointment | None = None
    previous: TreatmentSession | None = None
    initial: dict[str, Any] | None = None

    @property
    def product(self) -> Product | None:
        return self.previous.lot.product if self.previous else None

    @property
    def initial_method(self) -> str:
        return (self.initial or {}).get("delivery_method", "")

    @property
    def step(self) -> str:
        a = self.appointment
        if a is None or a.series is None or not a.sequence:
            return ""
        return f"{a.sequence} of {a.series.sessions_planned}"


def session_plan(*, appointment: Appointment | None) -> SessionPlan:
    """The plan for a session logged against `appointment` (one query: the series' latest
    session before it that was not entered in error)."""
    if appointment is None:
        return SessionPlan(initial={"units_used": 1})
    previous = None
    if appointment.series_id:
        previous = (
            TreatmentSession.objects.filter(series_id=appointment.series_id)
            .exclude(status=SessionStatus.ENTERED_IN_ERROR)
            .exclude(appointment_id=appointment.pk)
            .select_related("lot__product")
            .order_by("-performed_at", "-pk")
            .first()
        )
    initial: dict[str, Any] = {"units_used": 1}
    if previous is not None:
        initial |= {
            name: getattr(previous, name)
            for name in PLANNED_FIELDS
            if getattr(previous, name) not in (None, "", [])
        }
    return SessionPlan(appointment=appointment, previous=previous, initial=initial)


def lots_offered(*, clinic: Any, product: Product | None) -> list[ProductLot]:
    """Usable lots for the lot field: the planned product's first (soonest expiry first),
    then every other usable lot. Unusable lots (expired, held, empty) are never offered."""
    lots = lots_usable_today(clinic=clinic)
    if product is None:
        return lots
    return sorted(lots, key=lambda lot: lot.product_id != product.pk)


def series_with_next_step(series: Any) -> list[TreatmentSeries]:
    """The series, each with `next_step` (`treatments.booking.NextStep` or None when it is
    complete), in one more query whatever their number."""
    rows = list(series)
    steps = series_next_steps(rows)
    for row in rows:
        row.next_step = steps[row.pk]
    return rows


def session_series(session: TreatmentSession) -> TreatmentSeries | None:
    """The session's series with its next step (the session page shows it after saving)."""
    if session.series_id is None:
        return None
    series = TreatmentSeries.objects.filter(pk=session.series_id)
    found = series_with_next_step(series.select_related("template", "clinic", "patient"))
    return found[0] if found else None
