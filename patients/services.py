"""Writes on patients and front-desk calls. Keyword-only, typed; raise ClinicError subclasses."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinic.core.exceptions import Conflict, NotAllowed, RuleViolation
from clinic.core.formtokens import form_token_bind, form_token_claim
from clinic.core.models import CLINICAL_ROLES, Clinic

from .models import (
    SCREENING_FIELDS,
    CallState,
    CallTask,
    Channel,
    Patient,
    PatientAccess,
    ScreeningFact,
    ScreeningFactConfirmation,
)
from .normalise import InvalidPhone, phone_e164
from .selectors import patient_likely_duplicates


class DuplicateSuspected(Conflict):
    """A patient who is probably the same person exists; `matches` are shown before a
    second record is made."""

    def __init__(self, message: str, *, matches: list[Patient]):
        super().__init__(message, code="possible_duplicate")
        self.matches = matches


def _phone_e164(phone: str, *, clinic: Clinic) -> str:
    """A phone number entered for a patient of `clinic`, in E.164 (national numbers read in
    the clinic's country), or a refusal on the phone field."""
    try:
        return phone_e164(phone, region=clinic.country)
    except InvalidPhone as exc:
        raise RuleViolation(str(exc), field="phone", code="invalid_phone") from None


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
    form_token: uuid.UUID | None = None,
) -> Patient:
    """Register a patient of `clinic`.

    The phone number is stored in E.164 (an invalid one is refused on the phone field).
    Refuses with DuplicateSuspected when a likely duplicate exists (same name and birth date,
    same phone or same email, compared on normalised data: see `patient_likely_duplicates`),
    unless the user looked and chose `create_anyway`. Once per `form_token`: a repeat returns
    the first patient (marked `already_submitted`) instead of finding it as its own duplicate.
    """
    earlier = form_token_claim(token=form_token, model=Patient, clinic=clinic)
    if earlier is not None:
        return earlier
    patient = Patient(
        clinic=clinic,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        date_of_birth=date_of_birth,
        email=email.strip(),
        phone=_phone_e164(phone, clinic=clinic),
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
    form_token_bind(token=form_token, record=patient)
    return patient


# What an edit may change. Identity, contact and consent: anyone of the patient's clinic (the
# front desk keeps them up to date). Screening facts are clinical: clinicians only.
CONTACT_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "date_of_birth",
        "email",
        "phone",
        "preferred_channel",
        "consent_to_contact",
        "language",
    }
)
_STRIPPED = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "phone",
        "allergies",
        "current_medications",
        "screening_notes",
    }
)
# A change of these may make the record look like another patient's (the registration check).
_IDENTITY_FIELDS = frozenset({"first_name", "last_name", "date_of_birth", "email", "phone"})


@transaction.atomic
def patient_update(
    *,
    patient: Patient,
    user: Any,
    changes: dict[str, Any],
    check_duplicates: bool = False,
) -> Patient:
    """Change some of `patient`'s identity, contact, consent or screening facts.

    Only the fields in `changes` change; the previous version stays in the record's history
    (django-simple-history, with `user`). A save that changes nothing writes no history row,
    so a repeated submit leaves one row, not two. Screening facts need a clinical role at the
    patient's clinic; every screening fact given is confirmed by `user` now, changed or not
    (the clinician looked at it: `screening_facts_confirm`). Withdrawing consent clears when
    it was recorded; giving it again records the new time. A phone number given is stored in
    E.164 (an invalid one is refused on the phone field). With `check_duplicates`, a change
    of name, birth date, phone or email that makes the record look like another patient's is
    refused with DuplicateSuspected (as on registration) until the caller saves anyway.
    Refuses an edit of a record entered in error. The returned patient's `changed_fields`
    lists what changed.
    """
    unknown = set(changes) - CONTACT_FIELDS - set(SCREENING_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise RuleViolation("This field cannot be changed here.", field=field)
    clinical = set(changes) & set(SCREENING_FIELDS)
    if clinical and not (user.roles_at(patient.clinic) & CLINICAL_ROLES):
        raise NotAllowed("Only clinicians may change screening facts.", field=sorted(clinical)[0])
    patient = (
        Patient.objects.select_for_update(of=("self",)).select_related("clinic").get(pk=patient.pk)
    )
    if patient.entered_in_error:
        raise RuleViolation("This record was entered in error; it cannot be edited.")
    before = {name: getattr(patient, name) for name in changes}
    for name, value in changes.items():
        if name in _STRIPPED and isinstance(value, str):
            value = value.strip()
        if name == "phone":
            value = _phone_e164(value or "", clinic=patient.clinic)
        setattr(patient, name, value)
    changed = [name for name in changes if getattr(patient, name) != before[name]]
    if "consent_to_contact" in changed and not patient.consent_to_contact:
        patient.consent_recorded_at = None
    # The same words as the registration form, on the field to fix.
    if patient.preferred_channel == Channel.EMAIL and not patient.email:
        raise RuleViolation("Email is the preferred channel: give an email address.", field="email")
    if patient.preferred_channel == Channel.SMS and not patient.phone:
        raise RuleViolation("SMS is the preferred channel: give a mobile number.", field="phone")
    patient.full_clean(exclude=["name_key", "phone_key"])
    if check_duplicates and _IDENTITY_FIELDS & set(changed):
        _refuse_if_duplicate(patient)
    if changed:
        patient._history_user = user  # type: ignore[attr-defined]
        patient.save()
    facts = [name for name in changes if name in ScreeningFact.values]
    if facts:
        _confirm(patient=patient, user=user, facts=facts)
    patient.changed_fields = changed  # type: ignore[attr-defined]
    return patient


def _refuse_if_duplicate(patient: Patient) -> None:
    matches = list(
        patient_likely_duplicates(
            clinic=patient.clinic,
            first_name=patient.first_name,
            last_name=patient.last_name,
            date_of_birth=patient.date_of_birth,
            phone=patient.phone,
            email=patient.email,
        ).exclude(pk=patient.pk)[:10]
    )
    if matches:
        raise DuplicateSuspected(
            "With these details the record looks like another patient's. Check the records "
            "below; save anyway if this is a different person.",
            matches=matches,
        )


@transaction.atomic
def screening_facts_confirm(*, patient: Patient, user: Any, facts: Iterable[str]) -> None:
    """Record that `user` (a clinician of the patient's clinic) confirmed `facts` of
    `patient` with the patient now, unchanged. Each fact keeps one confirmation row, moved
    to now; its history keeps the earlier confirmations."""
    facts = list(facts)
    unknown = set(facts) - set(ScreeningFact.values)
    if unknown:
        raise RuleViolation("This is not a screening fact.", field=sorted(unknown)[0])
    if not (user.roles_at(patient.clinic) & CLINICAL_ROLES):
        raise NotAllowed("Only clinicians may confirm screening facts.")
    # The patient's row lock orders confirmations of one patient (one row per fact).
    patient = Patient.objects.select_for_update(of=("self",)).get(pk=patient.pk)
    _confirm(patient=patient, user=user, facts=facts)


def _confirm(*, patient: Patient, user: Any, facts: list[str]) -> None:
    now = timezone.now()
    rows = {c.fact: c for c in patient.fact_confirmations.filter(fact__in=facts)}
    for fact in facts:
        row = rows.get(fact) or ScreeningFactConfirmation(patient=patient, fact=fact)
        row.confirmed_at = now
        row.confirmed_by = user
        row._history_user = user  # type: ignore[attr-defined]
        row.save()


# What a refused booking or session says (the banner on the patient's pages says the rest).
ARCHIVED_REFUSAL = (
    "This patient is archived. Unarchive the patient on their page before booking or "
    "logging a session."
)


def patient_refuse_if_archived(patient: Patient, *, field: str | None = "patient") -> None:
    """Booking and logging a session refuse an archived patient with this
    (`treatments/archive.py` archives)."""
    if patient.archived_at is not None:
        raise RuleViolation(ARCHIVED_REFUSAL, field=field, code="patient_archived")


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
