"""A clinic's settings: basics, opening hours, closures and the check-in follow-up.

Writes (`<entity>_<action>`) and the one read the pages need (the history). Every change is
kept as a `StaffAuditEvent` (`SETTINGS_CHANGED`): who, when, and "what: from -> to" in its
detail, shown on the settings pages. Changes to the check-in plan apply to sessions logged
afterwards: check-ins already planned keep their times (they are rows with their own due
time, planned when the session was logged).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils.text import slugify

from .formtokens import form_token_bind, form_token_claim
from .models import (
    CheckInPlanStep,
    Clinic,
    ClinicClosure,
    StaffAction,
    StaffAuditEvent,
    User,
)

WEEKDAYS = [
    ("1", "Monday"),
    ("2", "Tuesday"),
    ("3", "Wednesday"),
    ("4", "Thursday"),
    ("5", "Friday"),
    ("6", "Saturday"),
    ("7", "Sunday"),
]
DETAIL_MAX = 500


def _shown(value: Any) -> str:
    if value in (None, ""):
        return "—"
    if isinstance(value, timedelta):
        hours = int(value.total_seconds() // 3600)
        return f"{hours} h" if hours % 24 else f"{hours // 24} d"
    if hasattr(value, "strftime") and not isinstance(value, date):
        return value.strftime("%H:%M")
    return str(value)


def hours_changed(old: dict | None, new: dict | None) -> str:
    """The days whose hours changed: "Wed 09:00-18:00 -> 12:00-20:00, Sat 10:00-14:00 ->
    closed"."""
    old, new = old or {}, new or {}

    def span(hours: dict, day: str) -> str:
        return "-".join(hours[day]) if hours.get(day) else "closed"

    return ", ".join(
        f"{name[:3]} {span(old, day)} -> {span(new, day)}"
        for day, name in WEEKDAYS
        if span(old, day) != span(new, day)
    )


def settings_log(*, clinic: Clinic, actor: User | None, detail: str) -> StaffAuditEvent:
    event = StaffAuditEvent(
        clinic=clinic,
        actor=actor,
        action=StaffAction.SETTINGS_CHANGED,
        detail=detail[:DETAIL_MAX],
    )
    event.save()
    return event


def settings_history(*, clinic: Clinic, limit: int = 50) -> list[StaffAuditEvent]:
    """The latest settings changes at `clinic`, newest first (one query)."""
    return list(
        StaffAuditEvent.objects.filter(clinic=clinic, action=StaffAction.SETTINGS_CHANGED)
        .select_related("actor")
        .order_by("-created_at", "-pk")[:limit]
    )


@transaction.atomic
def clinic_settings_update(*, clinic: Clinic, actor: User, changes: dict[str, Any]) -> list[str]:
    """Apply `changes` (field name -> new value) to `clinic`, validated by the model, and log
    each changed field as "Label: old -> new". Returns the logged lines (empty: no change)."""
    clinic = Clinic.objects.select_for_update().get(pk=clinic.pk)
    lines = []
    for field, new in changes.items():
        old = getattr(clinic, field)
        if old == new:
            continue
        if field == "opening_hours":
            line = f"Opening hours: {hours_changed(old, new)}"
        else:
            label = str(Clinic._meta.get_field(field).verbose_name)
            line = f"{label[:1].upper()}{label[1:]}: {_shown(old)} -> {_shown(new)}"
        lines.append(line)
        setattr(clinic, field, new)
    if not lines:
        return []
    clinic.full_clean()
    clinic.save()
    for line in lines:
        settings_log(clinic=clinic, actor=actor, detail=line)
    return lines


def _closure_shown(closure: ClinicClosure) -> str:
    days = (
        f"{closure.starts_on:%d %b %Y}"
        if closure.starts_on == closure.ends_on
        else f"{closure.starts_on:%d %b %Y} to {closure.ends_on:%d %b %Y}"
    )
    return f"{days}{f' ({closure.reason})' if closure.reason else ''}"


@transaction.atomic
def closure_add(
    *,
    clinic: Clinic,
    actor: User,
    starts_on: date,
    ends_on: date,
    reason: str = "",
    form_token: uuid.UUID | None = None,
) -> ClinicClosure:
    earlier = form_token_claim(token=form_token, model=ClinicClosure, clinic=clinic)
    if earlier is not None:
        return earlier
    closure = ClinicClosure(clinic=clinic, starts_on=starts_on, ends_on=ends_on, reason=reason)
    closure.full_clean()
    closure.save()
    form_token_bind(token=form_token, record=closure)
    settings_log(clinic=clinic, actor=actor, detail=f"Closure added: {_closure_shown(closure)}")
    return closure


@transaction.atomic
def closure_remove(*, closure: ClinicClosure, actor: User) -> None:
    detail = f"Closure removed: {_closure_shown(closure)}"
    clinic = closure.clinic
    closure.delete()
    settings_log(clinic=clinic, actor=actor, detail=detail)


def _step_shown(label: str, offset: timedelta) -> str:
    return f"{label} ({_shown(offset)} after the session)"


def _free_code(clinic: Clinic, offset: timedelta) -> str:
    days = offset.days
    base = slugify(f"d{days}" if not offset.seconds else f"h{int(offset.total_seconds() // 3600)}")
    taken = set(clinic.checkin_plan.values_list("code", flat=True))
    code, n = base, 2
    while code in taken:
        code, n = f"{base}-{n}", n + 1
    return code


@transaction.atomic
def plan_step_add(
    *,
    clinic: Clinic,
    actor: User,
    label: str,
    offset: timedelta,
    form_token: uuid.UUID | None = None,
) -> CheckInPlanStep:
    earlier = form_token_claim(token=form_token, model=CheckInPlanStep, clinic=clinic)
    if earlier is not None:
        return earlier
    step = CheckInPlanStep(
        clinic=clinic, code=_free_code(clinic, offset), label=label, offset=offset
    )
    step.full_clean()
    step.save()
    form_token_bind(token=form_token, record=step)
    settings_log(
        clinic=clinic, actor=actor, detail=f"Check-in step added: {_step_shown(label, offset)}"
    )
    return step


@transaction.atomic
def plan_step_change(*, step: CheckInPlanStep, actor: User, label: str, offset: timedelta) -> bool:
    """Rename or move a step; check-ins already planned keep their label and time."""
    before = _step_shown(step.label, step.offset)
    if (step.label, step.offset) == (label, offset):
        return False
    step.label, step.offset = label, offset
    step.full_clean()
    step.save()
    settings_log(
        clinic=step.clinic,
        actor=actor,
        detail=f"Check-in step changed: {before} -> {_step_shown(label, offset)}",
    )
    return True


@transaction.atomic
def plan_step_remove(*, step: CheckInPlanStep, actor: User) -> None:
    """Remove a step from the plan; check-ins already planned from it stay."""
    detail = f"Check-in step removed: {_step_shown(step.label, step.offset)}"
    clinic = step.clinic
    step.delete()
    settings_log(clinic=clinic, actor=actor, detail=detail)
