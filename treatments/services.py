"""Writes on products, lots and sessions. Keyword-only, typed; raise ClinicError subclasses.

Logging a session needs facts from several apps (screening looks at reactions), so that
workflow lives on the top floor (`clinic/workflows.py`) and calls the pieces here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from clinic.core.exceptions import Conflict, RuleViolation
from clinic.core.formtokens import form_token_bind, form_token_claim
from clinic.core.models import Membership, Role

from .booking import series_maintenance_sync
from .entered_in_error import FollowUpStopped, session_follow_up_stop
from .models import (
    Appointment,
    AppointmentStatus,
    LotStatus,
    Product,
    ProductLot,
    Recall,
    RecallNotice,
    SessionAddendum,
    SessionStatus,
    TreatmentSession,
)


@transaction.atomic
def lot_receive(
    *,
    product: Product,
    lot_number: str,
    expiry_date: date,
    received_on: date,
    quantity: int,
    supplier: str = "",
    certificate_ref: str = "",
    form_token: uuid.UUID | None = None,
) -> ProductLot:
    """Record a newly received lot; released for use. Once per `form_token`: a repeat returns
    the first lot, marked `already_submitted`."""
    earlier = form_token_claim(token=form_token, model=ProductLot, clinic=product.clinic)
    if earlier is not None:
        return earlier
    lot = ProductLot(
        product=product,
        lot_number=lot_number.strip(),
        expiry_date=expiry_date,
        received_on=received_on,
        quantity_received=quantity,
        quantity_on_hand=quantity,
        supplier=supplier,
        certificate_ref=certificate_ref,
    )
    lot.full_clean()
    lot.save()
    form_token_bind(token=form_token, record=lot)
    return lot


def product_create(
    *,
    clinic,
    name: str,
    manufacturer: str,
    source: str,
    form: str,
    storage: str,
    unit: str = "vial",
    components: str = "",
) -> Product:
    """Add a product the clinic uses; its lots are received separately."""
    name, manufacturer = name.strip(), manufacturer.strip()
    if Product.objects.filter(clinic=clinic, name=name, manufacturer=manufacturer).exists():
        raise RuleViolation(
            "This clinic already has this product from this manufacturer.", field="name"
        )
    product = Product(
        clinic=clinic,
        name=name,
        manufacturer=manufacturer,
        source=source,
        form=form,
        storage=storage,
        unit=unit.strip() or "vial",
        components=components,
    )
    product.full_clean()
    product.save()
    return product


# What a correction may change. Status (quarantine, recall) has its own workflow.
LOT_CORRECTABLE_FIELDS = (
    "lot_number",
    "expiry_date",
    "received_on",
    "quantity_received",
    "quantity_on_hand",
    "supplier",
    "certificate_ref",
)


@transaction.atomic
def lot_correct(*, lot: ProductLot, reason: str, **changes) -> ProductLot:
    """Correct a lot's receipt record. The old values stay in the lot's history, with the
    reason as the change reason (and the user, through simple-history's request middleware).

    The row is locked while it changes, so a session taking stock at the same moment either
    sees the corrected row or is seen by it; never a lost update of `quantity_on_hand`.
    """
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation("Say why the lot record is corrected.", field="reason")
    if len(reason) > 100:  # simple-history's change-reason column holds 100 characters
        raise RuleViolation("Keep the reason to 100 characters.", field="reason")
    unknown = set(changes) - set(LOT_CORRECTABLE_FIELDS)
    if unknown:
        raise ValueError(f"lot_correct cannot change {sorted(unknown)}")
    locked = (
        ProductLot.objects.select_for_update(of=("self",)).select_related("product").get(pk=lot.pk)
    )
    if "lot_number" in changes:
        changes["lot_number"] = changes["lot_number"].strip()
    if not any(getattr(locked, name) != value for name, value in changes.items()):
        raise RuleViolation("Nothing was changed.", field="reason", code="no_change")
    _lot_stock_check(locked, changes)
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.full_clean()
    locked._change_reason = reason
    locked.save()
    return locked


def _lot_stock_check(locked: ProductLot, changes: dict) -> None:
    """Refuse a correction that would leave the stock below zero or above the quantity
    received, naming the field to fix, against the locked row (stock a session took while
    the form was open counts)."""
    unit = locked.product.unit
    received = changes.get("quantity_received", locked.quantity_received)
    on_hand = changes.get("quantity_on_hand", locked.quantity_on_hand)
    if received is None or on_hand is None:
        return  # a missing value: full_clean names the field
    if on_hand < 0:
        raise RuleViolation(
            "The quantity on hand cannot be below zero.",
            field="quantity_on_hand",
            code="stock_below_zero",
        )
    if on_hand <= received:
        return
    if "quantity_on_hand" in changes:
        raise RuleViolation(
            f"A lot cannot hold more than was received: {on_hand} on hand, {received} received.",
            field="quantity_on_hand",
            code="stock_above_received",
        )
    raise RuleViolation(
        f"Lot {locked.lot_number} has {locked.quantity_on_hand} {unit}(s) on hand, more than "
        f"{received}. Correct the quantity on hand too (count the stock), or enter a received "
        "quantity of at least what is on hand.",
        field="quantity_received",
        code="stock_above_received",
    )


# Lot status: which states each action may start from. Recalled is final.
LOT_TRANSITIONS = {
    LotStatus.QUARANTINED: (LotStatus.RELEASED,),
    LotStatus.RELEASED: (LotStatus.QUARANTINED,),
    LotStatus.RECALLED: (LotStatus.RELEASED, LotStatus.QUARANTINED),
}
REASON_MAX = 1000


def _lot_set_status(*, lot: ProductLot, user, status: str, reason: str) -> ProductLot:
    """Move a lot to `status` with one conditional UPDATE (the row must still be in a state
    the move starts from), so two clicks, or a quarantine racing a recall, cannot both apply.
    The history row carries who and why; a session logged at the same moment either took its
    stock before the UPDATE or is refused by `lot_consume`'s own conditional UPDATE after it.
    """
    if len(reason) > REASON_MAX:
        raise RuleViolation(f"Keep the reason to {REASON_MAX:,} characters.", field="reason")
    allowed = LOT_TRANSITIONS[status]
    now = timezone.now()
    # The base manager: this UPDATE must not write a history row by itself (the audited
    # manager would, even when the condition matched nothing); we write it below, with the
    # reason, only when the move happened.
    moved = ProductLot._base_manager.filter(pk=lot.pk, status__in=allowed).update(
        status=status,
        status_reason=reason,
        status_changed_at=now,
        status_changed_by=user,
        updated_at=now,
    )
    lot.refresh_from_db()
    if not moved:
        verb = {"quarantined": "quarantine", "released": "release", "recalled": "recall"}
        raise Conflict(
            f"Lot {lot.lot_number} is {lot.get_status_display().lower()}: "
            f"it cannot be {status} now ({verb[status]} needs a lot that is "
            f"{' or '.join(str(s) for s in allowed)}).",
            field="status",
            code="lot_status_changed",
        )
    ProductLot.history.bulk_history_create(
        [lot], update=True, default_user=user, default_change_reason=(reason or status)[:100]
    )
    return lot


@transaction.atomic
def lot_quarantine(*, lot: ProductLot, user, reason: str) -> ProductLot:
    """Hold a released lot: from this moment no session can record it. Needs a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation("Say why the lot is quarantined.", field="reason")
    return _lot_set_status(lot=lot, user=user, status=LotStatus.QUARANTINED, reason=reason)


@transaction.atomic
def lot_release(*, lot: ProductLot, user, reason: str = "") -> ProductLot:
    """Release a quarantined lot for use again (a recalled lot stays recalled)."""
    reason = (reason or "").strip()
    return _lot_set_status(lot=lot, user=user, status=LotStatus.RELEASED, reason=reason)


@transaction.atomic
def lot_recall(*, lot: ProductLot, user, reason: str) -> Recall:
    """Recall a lot for good, and list every patient who received it: one notice per
    patient with the sessions (not entered in error) in which they did. Messaging them is
    `recalls.recall_message_all`, a separate, repeatable step."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation("Say why the lot is recalled.", field="reason")
    lot = _lot_set_status(lot=lot, user=user, status=LotStatus.RECALLED, reason=reason)
    recall = Recall(lot=lot, reason=reason, recalled_by=user, recalled_at=lot.status_changed_at)
    recall.full_clean()
    recall.save()
    sessions: dict[int, list[int]] = {}
    for session_id, patient_id in (
        TreatmentSession.objects.filter(lot=lot)
        .exclude(status=SessionStatus.ENTERED_IN_ERROR)
        .order_by("performed_at", "pk")
        .values_list("pk", "patient_id")
    ):
        sessions.setdefault(patient_id, []).append(session_id)
    notices = RecallNotice.objects.bulk_create(
        [RecallNotice(recall=recall, patient_id=patient_id) for patient_id in sessions]
    )
    through = RecallNotice.sessions.through
    through.objects.bulk_create(
        [
            through(recallnotice_id=notice.pk, treatmentsession_id=session_id)
            for notice in notices
            for session_id in sessions[notice.patient_id]
        ]
    )
    return recall


def lot_consume(*, lot: ProductLot, units: int, on_date: date) -> ProductLot:
    """Take `units` from a usable lot, atomically.

    One conditional UPDATE checks status, expiry and stock at the moment of writing, so two
    practitioners taking the last unit at once cannot both succeed, and a lot quarantined a
    second ago cannot be used. Call inside the session's transaction.
    """
    reason = lot.unusable_reason(on_date)
    if reason:
        raise RuleViolation(reason, field="lot", code="lot_unusable")
    if units <= 0:
        raise RuleViolation("The amount used must be greater than zero.", field="units_used")
    taken = ProductLot.objects.filter(
        pk=lot.pk,
        status=LotStatus.RELEASED,
        expiry_date__gte=on_date,
        quantity_on_hand__gte=units,
    ).update(quantity_on_hand=F("quantity_on_hand") - units)
    lot.refresh_from_db()
    if not taken:
        reason = lot.unusable_reason(on_date)
        if reason:
            raise RuleViolation(reason, field="lot", code="lot_unusable")
        raise Conflict(
            f"Lot {lot.lot_number} has only {lot.quantity_on_hand} "
            f"{lot.product.unit}(s) left; {units} needed.",
            field="units_used",
            code="out_of_stock",
        )
    return lot


def lot_return(*, lot: ProductLot, units: int, user=None) -> int:
    """Put a session's units back into its lot (the session was entered in error), never
    above the quantity received, and return how many went back.

    A lot whose received quantity was corrected down after the session may have no room for
    them all: it takes back what fits (stock reaches the quantity received) and the rest is
    not returned. Either way the lot's history gets a row saying how many of how many went
    back, so a stock count can settle the difference. Call inside a transaction; the row is
    locked while it changes, like `lot_correct`.
    """
    locked = ProductLot.objects.select_for_update(of=("self",)).get(pk=lot.pk)
    room = max(0, locked.quantity_received - locked.quantity_on_hand)
    returned = min(units, room)
    short = units - returned
    reason = f"Session entered in error: {returned} of {units} returned"
    if short:
        reason += f", {short} over the {locked.quantity_received} received"
    locked.quantity_on_hand += returned
    locked._change_reason = reason[:100]
    if user is not None:
        locked._history_user = user
    locked.save(update_fields=["quantity_on_hand", "updated_at"])
    lot.quantity_on_hand = locked.quantity_on_hand
    return returned


def safety_lead_emails(clinic) -> list[str]:
    return sorted(
        e
        for e in Membership.objects.active()
        .filter(clinic=clinic, role=Role.SAFETY_LEAD)
        .values_list("user__email", flat=True)
        if e
    )


def lot_alert_if_low(*, lot: ProductLot) -> None:
    """Tell the clinic's safety leads once when a lot runs low."""
    from patients import outbox
    from patients.models import MessageKind

    clinic = lot.product.clinic
    if lot.quantity_on_hand > clinic.low_stock_threshold or lot.low_stock_alerted_at:
        return
    if not ProductLot.objects.filter(pk=lot.pk, low_stock_alerted_at__isnull=True).update(
        low_stock_alerted_at=timezone.now()
    ):
        return
    for email in safety_lead_emails(clinic) or [clinic.on_call_email]:
        outbox.message_to_staff(
            clinic=clinic,
            to_email=email,
            kind=MessageKind.LOW_STOCK_ALERT,
            subject=f"Low stock: {lot}",
            body=(
                f"{lot} is down to {lot.quantity_on_hand} {lot.product.unit}(s) "
                f"(expires {lot.expiry_date:%Y-%m-%d}). Order or receive a new lot."
            ),
            idempotency_key=f"lowstock:{lot.pk}:{email}",
        )


def session_sign(*, session: TreatmentSession, user) -> TreatmentSession:
    """Sign and lock a session. Later corrections are addenda."""
    if session.status != SessionStatus.OPEN:
        raise RuleViolation("This session is already signed or was entered in error.")
    updated = TreatmentSession.objects.filter(pk=session.pk, status=SessionStatus.OPEN).update(
        status=SessionStatus.SIGNED, signed_at=timezone.now(), signed_by=user
    )
    if not updated:
        raise Conflict("Someone else changed this session; reload it.")
    session.refresh_from_db()
    return session


# What may still change on an open (unsigned) session. Method, lot and amount are fixed at
# logging: they drove the screening and the stock; log the session in error instead.
SESSION_EDITABLE_FIELDS = (
    "needle_depth_mm",
    "laser_device",
    "laser_type",
    "fluence_j_cm2",
    "passes",
    "treated_areas",
    "volume_ml",
    "notes",
)


@transaction.atomic
def session_update(*, session: TreatmentSession, **changes) -> TreatmentSession:
    """Change an open session's details. A signed (or entered-in-error) session is locked:
    corrections to it are addenda."""
    unknown = set(changes) - set(SESSION_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"session_update cannot change {sorted(unknown)}")
    locked = TreatmentSession.objects.select_for_update().get(pk=session.pk)
    if locked.status != SessionStatus.OPEN:
        raise RuleViolation(
            "This session is signed and locked. Add an addendum to correct it.",
            code="session_locked",
        )
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.full_clean(exclude=["appointment"] if locked.appointment_id is None else None)
    locked.save()
    return locked


@transaction.atomic
def session_add_addendum(
    *, session: TreatmentSession, author, text: str, form_token: uuid.UUID | None = None
) -> SessionAddendum:
    """Add a correction or note to a session. Once per `form_token`: a repeat returns the
    first addendum, marked `already_submitted`."""
    text = (text or "").strip()
    if not text:
        raise RuleViolation("Write the correction or note.", field="text")
    earlier = form_token_claim(token=form_token, model=SessionAddendum, clinic=session.clinic)
    if earlier is not None:
        if earlier.session_id != session.pk:
            raise Conflict(
                "This form was already used. Reload the page and fill it in again.",
                field="form_token",
                code="form_token_used",
            )
        return earlier
    addendum = SessionAddendum(session=session, author=author, text=text)
    addendum.full_clean()
    addendum.save()
    form_token_bind(token=form_token, record=addendum)
    return addendum


def _appointment_release(session: TreatmentSession) -> Appointment:
    """The session entered in error lets go of its appointment (a one-to-one link: kept, the
    correct session could never be logged against it). The history row written by the
    marking still names the appointment. Back to arrived only if it is still completed."""
    appointment_id = session.appointment_id
    TreatmentSession.objects.filter(pk=session.pk).update(appointment=None)
    session.appointment = None
    reopened = Appointment.objects.filter(
        pk=appointment_id, status=AppointmentStatus.COMPLETED
    ).update(status=AppointmentStatus.ARRIVED)
    appointment = Appointment.objects.select_related("series").get(pk=appointment_id)
    if reopened and appointment.series is not None:
        series_maintenance_sync(series=appointment.series)
    return appointment


@dataclass(frozen=True)
class EnteredInError:
    """What marking a session entered in error did (the page and the API report it)."""

    session: TreatmentSession
    units_returned: int
    units_not_returned: int
    follow_up: FollowUpStopped
    # The appointment the session let go of (back to arrived), or None.
    appointment_freed: Appointment | None = None


@transaction.atomic
def session_mark_entered_in_error(
    *, session: TreatmentSession, user, reason: str
) -> EnteredInError:
    """Mark a session logged in error and stop everything that flows from it: its unsent
    messages (aftercare, check-ins, reminders) are cancelled, its open check-ins cancelled,
    its personal links revoked, the front desk's open calls about it cancelled, and it leaves
    the recall notices not yet sent (`entered_in_error.session_follow_up_stop`); its units go
    back to the lot; and it lets go of its appointment, which goes back to arrived so that the
    correct session can be logged against it (the link stays in the session's history).

    Stock: the units go back up to the lot's quantity received. When the received quantity
    was corrected below what the return needs, the lot takes back what fits and the rest is
    not returned; the lot's history records "n of m returned" (see `lot_return`), and the
    result says how many were not returned. Marking never fails because of stock: stopping
    the patient's messages matters more than the count, which a stock count settles.
    """
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation("Say why the session was entered in error.", field="reason")
    changed = (
        TreatmentSession.objects.filter(pk=session.pk)
        .exclude(status=SessionStatus.ENTERED_IN_ERROR)
        .update(
            status=SessionStatus.ENTERED_IN_ERROR,
            entered_in_error_reason=reason,
            entered_in_error_at=timezone.now(),
        )
    )
    if not changed:
        raise RuleViolation("This session is already marked entered in error.", field="reason")
    session.refresh_from_db()
    freed = _appointment_release(session) if session.appointment_id is not None else None
    follow_up = session_follow_up_stop(session=session)
    returned = lot_return(lot=session.lot, units=session.units_used, user=user)
    return EnteredInError(
        session=session,
        units_returned=returned,
        units_not_returned=session.units_used - returned,
        follow_up=follow_up,
        appointment_freed=freed,
    )
