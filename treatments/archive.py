"""Archiving a patient: the record stays (clinical records are never deleted), but the clinic
stops acting on it.

`patient_archive` does, in one transaction:

- the patient's future booked appointments are cancelled (`booking.appointment_cancel`, which
  frees the slot and cancels each one's reminder), and the patient is told in one message in
  their language (`messages/appointments_cancelled.txt`; the front desk gets a call when no
  message can reach them); their active series are cancelled too, so they leave the front
  desk's "series to book";
- their open check-ins are cancelled, and their queued messages that have not started going
  out stop (check-ins, check-in reminders, appointment and maintenance reminders, aftercare):
  `entered_in_error.messages_stop`, the same stop a session entered in error uses;
- the front desk's open calls about them close.

A lot recall notice and its call are left alone: archiving a record does not undo what the
patient received, and a recalled lot's patients must still be told. Their personal links keep
working too, so a reaction reported later is never lost.

A guard at delivery withdraws any such message that a sweep queued in the instant before the
archive (the outbox asks it before sending). `patient_unarchive` restores the record only:
cancelled appointments, check-ins and reminders stay cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clinic.core.exceptions import NotAllowed, RuleViolation
from clinic.core.models import ARCHIVE_ROLES
from patients import outbox
from patients.messages import format_datetime, render_message
from patients.models import (
    CallReason,
    CallState,
    CallTask,
    Channel,
    MessageKind,
    OutboxMessage,
    Patient,
)

from . import booking
from .checkins import OPEN_STATES, checkins_cancel_for_patient
from .entered_in_error import STOPPABLE, calls_cancel, messages_stop
from .models import Appointment, AppointmentStatus, CheckIn, SeriesStatus, TreatmentSeries

# The outbox row's `last_error` and the call's outcome when archiving stopped them.
ARCHIVED_NOTE = "Patient archived."
# Patient messages that archiving stops. Not recall notices (see the module docstring), and
# not the cancellation notice itself.
STOPPED_KINDS = (
    MessageKind.AFTERCARE,
    MessageKind.CHECKIN,
    MessageKind.CHECKIN_REMINDER,
    MessageKind.APPOINTMENT_REMINDER,
    MessageKind.MAINTENANCE,
)


def _future_appointments(patient: Patient):
    return Appointment.objects.filter(
        patient=patient, status=AppointmentStatus.BOOKED, starts_at__gt=timezone.now()
    ).order_by("starts_at")


def _active_series(patient: Patient):
    return TreatmentSeries.objects.filter(patient=patient, status=SeriesStatus.ACTIVE)


def _stoppable_messages(patient: Patient):
    return OutboxMessage.objects.filter(STOPPABLE, patient=patient, kind__in=STOPPED_KINDS)


def _open_calls(patient: Patient):
    return CallTask.objects.filter(patient=patient, state=CallState.OPEN).exclude(
        reason=CallReason.RECALL
    )


@dataclass
class ArchiveEffects:
    """What archiving stops (asked before, on the confirmation page) or stopped."""

    appointments: list[Appointment] = field(default_factory=list)
    # Active courses end (cancelled): they leave "series to book" and their maintenance stops.
    series: int = 0
    checkins: int = 0
    messages: int = 0
    calls: int = 0
    # The message telling the patient, or None (no appointment, or no way to reach them).
    notice: OutboxMessage | None = None


def patient_archive_preview(*, patient: Patient) -> ArchiveEffects:
    """What `patient_archive` would stop now, for the page that asks first."""
    return ArchiveEffects(
        appointments=list(_future_appointments(patient).select_related("practitioner")),
        series=_active_series(patient).count(),
        checkins=CheckIn.objects.filter(session__patient=patient, state__in=OPEN_STATES).count(),
        messages=_stoppable_messages(patient).count(),
        calls=_open_calls(patient).count(),
    )


def _check_role(patient: Patient, by: Any) -> None:
    if not (by.roles_at(patient.clinic) & ARCHIVE_ROLES):
        raise NotAllowed("Only the front desk or a practitioner of this clinic may do this.")


@transaction.atomic
def patient_archive(*, patient: Patient, by: Any, reason: str) -> ArchiveEffects:
    """Archive `patient` (who, when and why kept on the record and in its history), cancel
    their future appointments telling them, and stop their check-ins, queued messages and
    open calls. Refuses a patient already archived, and a blank reason."""
    reason = (reason or "").strip()
    _check_role(patient, by)
    if not reason:
        raise RuleViolation("Say why the patient is archived.", field="reason")
    patient = (
        Patient.objects.select_for_update(of=("self",)).select_related("clinic").get(pk=patient.pk)
    )
    if patient.archived_at is not None:
        raise RuleViolation("This patient is already archived.", field="reason")
    now = timezone.now()
    # No full_clean: the reason is checked above (and by `patient_archived_has_reason`), and
    # an old record's other fields must never stand in the way of archiving it.
    patient.archived_at, patient.archived_by, patient.archived_reason = now, by, reason
    patient._history_user = by  # type: ignore[attr-defined]
    patient._change_reason = f"Archived: {reason}"[:100]  # type: ignore[attr-defined]
    patient.save(update_fields=["archived_at", "archived_by", "archived_reason", "updated_at"])

    effects = ArchiveEffects()
    for appointment in _future_appointments(patient).select_related("clinic", "series"):
        effects.appointments.append(booking.appointment_cancel(appointment=appointment))
    effects.series = _active_series(patient).update(status=SeriesStatus.CANCELLED, updated_at=now)
    effects.checkins = checkins_cancel_for_patient(patient=patient)
    # After the cancellations: cancelling an appointment of a series moves its maintenance
    # reminder, which must stop too.
    effects.messages = len(
        messages_stop(Q(patient=patient, kind__in=STOPPED_KINDS), note=ARCHIVED_NOTE)
    )
    effects.calls = calls_cancel(
        Q(patient=patient) & ~Q(reason=CallReason.RECALL), note=ARCHIVED_NOTE
    )
    if effects.appointments:
        effects.notice = outbox.message_to_patient(
            patient=patient,
            kind=MessageKind.APPOINTMENTS_CANCELLED,
            due_at=patient.clinic.outside_quiet_hours(now),
            idempotency_key=f"appointments-cancelled:{patient.pk}:{int(now.timestamp())}",
            context={"appointments": [a.pk for a in effects.appointments]},
            call_reason_if_unreachable=CallReason.NO_CONTACT,
        )
    return effects


@transaction.atomic
def patient_unarchive(*, patient: Patient, by: Any) -> Patient:
    """Bring an archived patient back to lists and search. Only the record comes back:
    appointments, check-ins and reminders cancelled by the archive stay cancelled."""
    _check_role(patient, by)
    patient = (
        Patient.objects.select_for_update(of=("self",)).select_related("clinic").get(pk=patient.pk)
    )
    if patient.archived_at is None:
        raise RuleViolation("This patient is not archived.")
    patient.archived_at, patient.archived_by, patient.archived_reason = None, None, ""
    patient._history_user = by  # type: ignore[attr-defined]
    patient._change_reason = "Unarchived"  # type: ignore[attr-defined]
    patient.save(update_fields=["archived_at", "archived_by", "archived_reason", "updated_at"])
    return patient


# --- the cancellation notice and the delivery guard ----------------------------------------


class AppointmentsCancelledRenderer(outbox.QuietRenderer):
    """Writes the cancellation notice when it is sent, in the patient's language, with each
    appointment's time in the clinic's zone."""

    def render(self, message: OutboxMessage) -> outbox.Rendered:
        ids = message.context.get("appointments") or []
        appointments = list(
            Appointment.objects.filter(pk__in=ids)
            .select_related("patient", "clinic")
            .order_by("starts_at")
        )
        if not appointments:
            raise outbox.PermanentDeliveryError("the cancelled appointments no longer exist")
        patient, clinic = appointments[0].patient, appointments[0].clinic
        whens = [
            format_datetime(a.starts_at, clinic=clinic, language=patient.language)
            for a in appointments
        ]
        subject, body = render_message(
            MessageKind.APPOINTMENTS_CANCELLED,
            {"first_name": patient.first_name, "whens": whens, "count": len(whens)},
            patient.language,
            clinic=clinic,
            sms=message.channel == Channel.SMS,
        )
        return outbox.Rendered(subject, body, body)


def withdraw_if_patient_archived(message: OutboxMessage) -> None:
    """Outbox guard: a check-in, reminder or aftercare message to an archived patient (queued
    by a sweep in the instant before the archive) is never sent."""
    if Patient.objects.filter(pk=message.patient_id, archived_at__isnull=False).exists():
        raise outbox.DeliveryWithdrawn(ARCHIVED_NOTE)


def register() -> None:
    outbox.register_renderer(MessageKind.APPOINTMENTS_CANCELLED, AppointmentsCancelledRenderer())
    for kind in STOPPED_KINDS:
        outbox.register_guard(kind, withdraw_if_patient_archived)
