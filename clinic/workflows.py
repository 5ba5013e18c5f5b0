"""Workflows that need facts from several apps. Pages and the API call these, never their own
copy, so every path gets the same screening, lot rules and follow-up.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from adverse_events.models import Alarm, Outcome, ReactionReport
from clinic.core.exceptions import Conflict, NotAllowed, RuleViolation
from clinic.core.formtokens import form_token_bind, form_token_claim
from clinic.core.models import CLINICAL_ROLES, Membership
from patients import outbox
from patients.links import link_issue
from patients.models import SCREENING_FACTS_MAX_AGE_DAYS, LinkPurpose, MessageKind, Patient
from patients.selectors import screening_facts_stale
from patients.services import patient_refuse_if_archived
from treatments import services as treatment_services
from treatments.checkins import checkins_plan
from treatments.models import (
    Appointment,
    AppointmentStatus,
    DeliveryMethod,
    ProductLot,
    TreatmentSession,
)

HARD_STOP = "hard_stop"
WARNING = "warning"
# Facts on the record not confirmed within SCREENING_FACTS_MAX_AGE_DAYS: shown on the screening
# step with the way to confirm them, and kept in the session's screening record.
RECONFIRM = "reconfirm"
# Isotretinoin within 6 months rules these out (poor healing, scarring).
ISOTRETINOIN_STOPS = (DeliveryMethod.MICRONEEDLING, DeliveryMethod.LASER)


@dataclass(frozen=True)
class Finding:
    code: str
    level: str
    message: str


@dataclass
class Screening:
    """What the pre-session screening found for this patient, procedure and lot."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def hard_stops(self) -> list[Finding]:
        return [f for f in self.findings if f.level == HARD_STOP]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    @property
    def reconfirm(self) -> list[Finding]:
        return [f for f in self.findings if f.level == RECONFIRM]

    def as_record(self, answers: dict[str, bool]) -> dict:
        return {
            "answers": answers,
            "findings": [f.__dict__ for f in self.findings],
            "screened_at": timezone.now().isoformat(),
        }


def unresolved_reactions(patient: Patient):
    """Reactions still going (and not assessed as recovered) or red flags not yet cleared."""
    return ReactionReport.objects.filter(patient=patient, ongoing=True).exclude(
        assessment__outcome__in=[Outcome.RECOVERED, Outcome.RECOVERED_WITH_SEQUELAE]
    )


def screening_evaluate(
    *, patient: Patient, delivery_method: str, answers: dict[str, bool]
) -> Screening:
    """PRODUCT.md's contraindications against the patient's facts and today's answers.

    Hard stops block the session unless overridden with a written reason; warnings must be
    acknowledged; facts on the record not confirmed with the patient lately are listed to be
    confirmed again (RECONFIRM), and the session's screening record keeps that finding.
    """
    found: list[Finding] = []
    if answers.get("active_infection"):
        found.append(
            Finding("active_infection", HARD_STOP, "Active skin infection at the treatment site.")
        )
    if patient.pregnant_or_breastfeeding or answers.get("pregnant_or_breastfeeding"):
        found.append(
            Finding("pregnancy", HARD_STOP, "Pregnant or breastfeeding: exosome use not studied.")
        )
    if patient.allergic_to_product_components:
        found.append(
            Finding(
                "product_allergy",
                HARD_STOP,
                f"Known allergy to product components ({patient.allergies or 'see chart'}).",
            )
        )
    if (
        unresolved_reactions(patient).exists()
        or Alarm.objects.filter(patient=patient, acknowledged_at__isnull=True).exists()
    ):
        found.append(
            Finding(
                "unresolved_reaction",
                HARD_STOP,
                "A reaction from an earlier session is not resolved.",
            )
        )
    if patient.on_isotretinoin:
        if delivery_method in ISOTRETINOIN_STOPS:
            found.append(
                Finding(
                    "isotretinoin",
                    HARD_STOP,
                    "Isotretinoin in the last 6 months: no microneedling or laser (poor "
                    "healing and scarring).",
                )
            )
        else:
            found.append(
                Finding(
                    "isotretinoin",
                    WARNING,
                    "Isotretinoin in the last 6 months: microneedling and laser are ruled out.",
                )
            )
    if patient.on_anticoagulants or answers.get("anticoagulants"):
        found.append(
            Finding("anticoagulants", WARNING, "Takes blood thinners: more bruising is likely.")
        )
    if patient.keloid_history:
        found.append(Finding("keloids", WARNING, "History of keloids."))
    if patient.autoimmune_disease:
        found.append(Finding("autoimmune", WARNING, "Autoimmune disease."))
    if delivery_method == DeliveryMethod.LASER and (patient.fitzpatrick_type or 0) >= 5:
        found.append(
            Finding(
                "fitzpatrick_laser",
                WARNING,
                f"Fitzpatrick type {patient.get_fitzpatrick_type_display()} with laser: "
                "higher risk of pigment change.",
            )
        )
    stale = screening_facts_stale(patient=patient)
    if stale:
        found.append(
            Finding(
                "facts_not_confirmed",
                RECONFIRM,
                f"Not confirmed with the patient in the last {SCREENING_FACTS_MAX_AGE_DAYS} "
                "days: " + "; ".join(s.label for s in stale) + ".",
            )
        )
    return Screening(findings=found)


# An appointment a session may be logged against (a completed one has its session already).
SESSION_APPOINTMENT_STATUSES = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.ARRIVED,
    AppointmentStatus.IN_TREATMENT,
)


def appointment_check_for_session(
    *, appointment: Appointment, patient: Patient, performed_at: datetime | None = None
) -> None:
    """The rules for logging a session against an appointment, each refused on the
    `appointment` field: the same patient, a booked or arrived appointment, on that
    appointment's own day (clinic time), and no open safety hold. A screening override does
    not clear a hold: clearing it is its own recorded step (`booking.appointment_clear_hold`).
    """
    if appointment.patient_id != patient.pk:
        raise RuleViolation("The appointment is for another patient.", field="appointment")
    if appointment.status not in SESSION_APPOINTMENT_STATUSES:
        raise RuleViolation(
            f"This appointment is {appointment.get_status_display().lower()}: a session can "
            "be logged only against a booked, arrived or in-treatment appointment.",
            field="appointment",
            code="appointment_not_open",
        )
    clinic = appointment.clinic
    day = clinic.local(appointment.starts_at).date()
    session_day = clinic.local(performed_at or timezone.now()).date()
    if session_day != day:
        raise RuleViolation(
            f"This appointment is on {day:%a %d %b %Y} (clinic time); a session can be logged "
            f"against it only on that day, not on {session_day:%a %d %b %Y}. "
            # Never "log it without the appointment" while a hold is open: the walk-in path
            # refuses a held patient too, and the advice would read as a way round the hold.
            + (
                "Clear its safety hold first, or reschedule the appointment."
                if appointment.hold_open
                else "Log the session without the appointment, or reschedule the appointment."
            ),
            field="appointment",
            code="appointment_other_day",
        )
    if appointment.hold_open:
        raise RuleViolation(
            "This appointment is on safety hold: a practitioner must clear the hold, saying "
            "why treatment may go ahead, before the session is logged. A screening override "
            "does not clear it.",
            field="appointment",
            code="safety_hold_open",
        )


def held_appointment_today(*, patient: Patient) -> Appointment | None:
    """The patient's booked or arrived appointment on the clinic's today with an open safety
    hold (the earliest), or None. A walk-in session is refused while there is one: the hold
    would otherwise be bypassed by logging the session without its appointment."""
    return (
        _sessionable_today(patient)
        .filter(safety_hold=True, hold_cleared_at__isnull=True)
        .order_by("starts_at", "pk")
        .first()
    )


def _sessionable_today(patient: Patient):
    """The patient's appointments on the clinic's today that a session may be logged against."""
    start, end = patient.clinic.day_span(patient.clinic.today())
    return Appointment.objects.filter(
        clinic=patient.clinic,
        patient=patient,
        status__in=SESSION_APPOINTMENT_STATUSES,
        starts_at__gte=start,
        starts_at__lt=end,
    )


def open_appointment_today(*, patient: Patient) -> Appointment | None:
    """The patient's appointment on the clinic's today that a session can still be logged
    against (booked, arrived or in treatment, no open safety hold, no session yet), the
    earliest; the walk-in form offers to log against it instead."""
    return (
        _sessionable_today(patient)
        .filter(session__isnull=True)
        .exclude(safety_hold=True, hold_cleared_at__isnull=True)
        .order_by("starts_at", "pk")
        .first()
    )


def walk_in_check_for_session(*, patient: Patient) -> None:
    """Refuse a session without an appointment while the patient's appointment today is on
    safety hold (on the `appointment` field, like a held appointment's own refusal)."""
    held = held_appointment_today(patient=patient)
    if held is not None:
        at = patient.clinic.local(held.starts_at)
        raise RuleViolation(
            f"This patient's appointment today at {at:%H:%M} is on safety hold: a practitioner "
            "must clear the hold on that appointment, saying why treatment may go ahead, "
            "before any session is logged. A screening override does not clear it.",
            field="appointment",
            code="safety_hold_open",
        )


@transaction.atomic
def session_log(
    *,
    practitioner,
    patient: Patient,
    lot: ProductLot,
    delivery_method: str,
    treated_areas: list[str],
    units_used: int = 1,
    volume_ml: Decimal | None = None,
    needle_depth_mm: Decimal | None = None,
    laser_device: str = "",
    laser_type: str = "",
    fluence_j_cm2: Decimal | None = None,
    passes: int | None = None,
    screening_answers: dict[str, bool] | None = None,
    screening_override_reason: str = "",
    warnings_acknowledged: bool = False,
    aftercare_given: bool = True,
    notes: str = "",
    appointment: Appointment | None = None,
    performed_at: datetime | None = None,
    form_token: uuid.UUID | None = None,
) -> TreatmentSession:
    """Log a treatment session: screening, lot rules and stock, the session with its personal
    report link, its check-ins and its aftercare message, all in one transaction.

    Once per `form_token`: a second call with the same token takes no stock and sends
    nothing; it returns the first session, marked `already_submitted`.
    """
    clinic = patient.clinic
    if (
        not Membership.objects.active()
        .filter(user=practitioner, clinic=clinic, role__in=CLINICAL_ROLES)
        .exists()
    ):
        raise NotAllowed("Only a practitioner of this clinic can log a session.")
    if lot.product.clinic_id != clinic.pk:
        raise RuleViolation("This lot belongs to another clinic.", field="lot")
    patient_refuse_if_archived(patient, field=None)
    # Before screening and stock: a repeat of this form must not take the lot's last vial
    # (nor be refused because the first one completed the appointment).
    earlier = form_token_claim(token=form_token, model=TreatmentSession, clinic=clinic)
    if earlier is not None:
        # Never hand back another patient's session (a token reused across two charts).
        if earlier.patient_id != patient.pk:
            raise Conflict(
                "This form was already used. Reload the page and fill it in again.",
                field="form_token",
                code="form_token_used",
            )
        return earlier
    if appointment is not None:
        # Judge the appointment as it is now (a hold cleared or flagged since it was loaded).
        appointment = (
            Appointment.objects.select_for_update(of=("self",))
            .select_related("clinic", "series")
            .get(pk=appointment.pk)
        )
        appointment_check_for_session(
            appointment=appointment, patient=patient, performed_at=performed_at
        )
    else:
        walk_in_check_for_session(patient=patient)

    answers = {k: bool(v) for k, v in (screening_answers or {}).items()}
    screening = screening_evaluate(
        patient=patient, delivery_method=delivery_method, answers=answers
    )
    if screening.hard_stops and not screening_override_reason.strip():
        raise RuleViolation(
            "Screening found a hard stop: "
            + "; ".join(f.message for f in screening.hard_stops)
            + " Write a reason to override it, or do not treat today.",
            field="screening_override_reason",
            code="hard_stop",
        )
    if screening.warnings and not warnings_acknowledged:
        raise RuleViolation(
            "Acknowledge the screening warnings: "
            + "; ".join(f.message for f in screening.warnings),
            field="warnings_acknowledged",
            code="warnings_not_acknowledged",
        )

    today = clinic.today()
    lot = treatment_services.lot_consume(lot=lot, units=units_used, on_date=today)

    link, _token = link_issue(patient=patient, purpose=LinkPurpose.SESSION_REPORT)
    session = TreatmentSession(
        clinic=clinic,
        patient=patient,
        practitioner=practitioner,
        appointment=appointment,
        series=appointment.series if appointment else None,
        performed_at=performed_at or timezone.now(),
        delivery_method=delivery_method,
        needle_depth_mm=needle_depth_mm,
        laser_device=laser_device,
        laser_type=laser_type,
        fluence_j_cm2=fluence_j_cm2,
        passes=passes,
        treated_areas=list(treated_areas),
        lot=lot,
        units_used=units_used,
        volume_ml=volume_ml,
        screening=screening.as_record(answers),
        screening_override_reason=screening_override_reason.strip(),
        warnings_acknowledged=warnings_acknowledged,
        aftercare_given=aftercare_given,
        notes=notes,
        report_link=link,
    )
    session.full_clean(exclude=["appointment"] if appointment is None else None)
    session.save()
    form_token_bind(token=form_token, record=session)

    checkins_plan(session=session)
    if appointment is not None:
        # Conditional: a hold flagged (or a status changed) since the check above refuses.
        completed = Appointment.objects.filter(
            pk=appointment.pk,
            status__in=SESSION_APPOINTMENT_STATUSES,
        ).exclude(safety_hold=True, hold_cleared_at__isnull=True)
        if not completed.update(status=AppointmentStatus.COMPLETED):
            raise Conflict(
                "The appointment changed while the session was being saved (a safety hold or "
                "its status). Nothing was saved; reload the page.",
                field="appointment",
                code="appointment_changed",
            )
    outbox.message_to_patient(
        patient=patient,
        kind=MessageKind.AFTERCARE,
        due_at=timezone.now(),
        idempotency_key=f"aftercare:{session.pk}",
        context={"session": session.pk},
        call_reason_if_unreachable=None,
    )
    treatment_services.lot_alert_if_low(lot=lot)
    return session


# --- booking with the safety hold (front desk pages and the API) ----------------------------


def safety_hold_needed(patient: Patient) -> bool:
    """An unresolved reaction or an unacknowledged red-flag alarm: a practitioner must clear
    the patient's next session. The front desk learns only that, never the reaction."""
    return (
        unresolved_reactions(patient).exists()
        or Alarm.objects.filter(patient=patient, acknowledged_at__isnull=True).exists()
    )


def series_book_with_safety_hold(
    *,
    patient: Patient,
    practitioner,
    template,
    starts: list[datetime],
    form_token: uuid.UUID | None = None,
):
    """Book a whole series (all or nothing); its first session is put on safety hold when
    the patient has an unresolved reaction or red flag. Once per `form_token`."""
    from treatments import booking

    return booking.series_book(
        patient=patient,
        practitioner=practitioner,
        template=template,
        starts=starts,
        safety_hold=safety_hold_needed(patient),
        form_token=form_token,
    )


@transaction.atomic
def appointment_confirm_with_safety_hold(*, appointment: Appointment) -> Appointment:
    """Mark the patient arrived; a reaction reported since booking puts the session on hold
    (again) so a practitioner must clear it before treatment."""
    from treatments import booking

    appointment = booking.appointment_mark_arrived(appointment=appointment)
    if safety_hold_needed(appointment.patient) and not appointment.hold_open:
        cleared_before = appointment.hold_cleared_at
        if cleared_before is None or _raised_since(appointment.patient, cleared_before):
            appointment = booking.appointment_flag_hold(appointment=appointment)
    return appointment


def _raised_since(patient: Patient, moment: datetime) -> bool:
    return (
        ReactionReport.objects.filter(patient=patient, created_at__gt=moment).exists()
        or Alarm.objects.filter(patient=patient, raised_at__gt=moment).exists()
    )
