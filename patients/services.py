"""Writes on patients and front-desk calls. Keyword-only, typed; raise ClinicError subclasses."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinic.core.exceptions import Conflict, RuleViolation
from clinic.core.models import Clinic

from .models import CallState, CallTask, Patient, PatientAccess
from .selectors import patient_likely_duplicates


class DuplicateSuspected(Conflict):
    """A patient who is probably the same person exists; `matches` are shown before a
    second record is made."""

    def __init__(self, message: str, *, matches: list[Patient]):
        super().__init__(message, code="possible_duplicate")
        self.matches = matches


@transaction.atomic
def patient_register(
    *,
    clinic: Clinic,
    first_name: str,
    last_name: str,
    date_of_birth: date,
    email: str = "",
    phone: str = "",
    preferred_channel: str,
    consent_to_contact: bool,
    language: str,
    fitzpatrick_type: int | None = None,
    create_anyway: bool = False,
) -> Patient:
    """Register a patient of `clinic`.

    Refuses with DuplicateSuspected when a likely duplicate exists (same name and birth date,
    same phone or same email), unless the user looked and chose `create_anyway`.
    """
    patient = Patient(
        clinic=clinic,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        date_of_birth=date_of_birth,
        email=email.strip(),
        phone=phone.strip(),
        preferred_channel=preferred_channel,
        consent_to_contact=consent_to_contact,
        language=language,
        fitzpatrick_type=fitzpatrick_type,
    )
    patient.full_clean(exclude=["name_key", "phone_key"])
    if not create_anyway:
        matches = list(
            patient_likely_duplicates(
                clinic=clinic,
                first_name=patient.first_name,
                last_name=patient.last_name,
                date_of_birth=date_of_birth,
                phone=patient.phone,
                email=patient.email,
            )[:10]
        )
        if matches:
            raise DuplicateSuspected(
                "This may be a patient who is already registered. Check the records below; "
                "open one of them, or create a new record anyway.",
                matches=matches,
            )
    patient.save()
    return patient


def patient_access_log(*, patient: Patient, user: Any, action: str) -> None:
    """Record that `user` read or exported `patient`'s record."""
    PatientAccess.objects.create(patient=patient, user=user, action=action)


def call_task_done(*, task: CallTask, user: Any, outcome: str) -> CallTask:
    """Close a call with what came of it. Only an open call can be closed, once."""
    outcome = (outcome or "").strip()
    if not outcome:
        raise RuleViolation("Write what came of the call.", field="outcome")
    changed = CallTask.objects.filter(pk=task.pk, state=CallState.OPEN).update(
        state=CallState.DONE,
        outcome=outcome,
        done_by=user,
        done_at=timezone.now(),
        updated_at=timezone.now(),
    )
    task.refresh_from_db()
    if not changed:
        raise Conflict("Someone already closed this call.")
    return task
