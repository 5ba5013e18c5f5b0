"""Reads on patients and front-desk calls, scoped to the user's clinics."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import reduce
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from clinic.core.access import visible
from clinic.core.models import Clinic

from .models import (
    SCREENING_FACTS_MAX_AGE_DAYS,
    CallState,
    CallTask,
    Patient,
    ScreeningFact,
    ScreeningFactConfirmation,
)
from .normalise import name_key, phone_e164_or_none, phone_key, phone_search_keys

SEARCH_LIMIT = 50


def patient_likely_duplicates(
    *,
    clinic: Clinic,
    first_name: str,
    last_name: str,
    date_of_birth: date | None,
    phone: str = "",
    email: str = "",
) -> QuerySet[Patient]:
    """Patients of `clinic` who are probably this person: the same name and date of birth,
    or the same phone number or email address.

    Compared on normalised data (patients/normalise.py), each branch on an index: names with
    case, accents and spacing folded and first and last name in either order; phone numbers
    in E.164, a national number read in the clinic's country."""
    match = Q(name_key=name_key(first_name, last_name), date_of_birth=date_of_birth)
    e164 = phone_e164_or_none(phone, region=clinic.country)
    if e164:
        match |= Q(phone_key=phone_key(e164))
    if email.strip():
        match |= Q(email__iexact=email.strip())
    return Patient.objects.filter(match, clinic=clinic, entered_in_error=False).select_related(
        "clinic"
    )


def patient_search(
    *, user: Any, name: str = "", date_of_birth: date | None = None, phone: str = ""
) -> QuerySet[Patient]:
    """The user's clinics' patients matching every term given (name part, birth date, phone
    digits, a national number also read in each of the user's clinics' countries). Terms
    come from a POST, never from the URL."""
    patients = visible(Patient, user).filter(entered_in_error=False)
    terms = name.split()
    if not (terms or date_of_birth or phone_key(phone)):
        return patients.none()
    for term in terms:
        patients = patients.filter(Q(first_name__icontains=term) | Q(last_name__icontains=term))
    if date_of_birth:
        patients = patients.filter(date_of_birth=date_of_birth)
    if phone_key(phone):
        regions = visible(Clinic, user).values_list("country", flat=True).distinct()
        keys = phone_search_keys(phone, regions=set(regions))
        patients = patients.filter(
            reduce(operator.or_, (Q(phone_key__contains=key) for key in sorted(keys)))
        )
    return patients.select_related("clinic").order_by("last_name", "first_name")[:SEARCH_LIMIT]


def call_tasks_open(*, user: Any) -> QuerySet[CallTask]:
    """Open calls for the user's clinics, oldest first, with what the call needs."""
    return (
        visible(CallTask, user)
        .filter(state=CallState.OPEN)
        .select_related("patient", "clinic")
        .order_by("due_at")
    )


# --- screening facts and their confirmations ------------------------------------------------


@dataclass(frozen=True)
class FactStatus:
    """One screening fact of a patient as a clinician sees it: its value and who confirmed it
    last, and whether it is too old to treat on (`SCREENING_FACTS_MAX_AGE_DAYS`)."""

    fact: str
    label: str
    value: Any
    confirmation: ScreeningFactConfirmation | None
    stale: bool

    @property
    def display(self) -> str:
        if isinstance(self.value, bool):
            return "Yes" if self.value else "No"
        return str(self.value) if self.value not in (None, "") else ""


def screening_fact_statuses(*, patient: Patient, now: datetime | None = None) -> list[FactStatus]:
    """Every screening fact of `patient` (in ScreeningFact order) with its last confirmation,
    in one query. Never confirmed, or confirmed more than `SCREENING_FACTS_MAX_AGE_DAYS` ago,
    is stale."""
    cutoff = (now or timezone.now()) - timedelta(days=SCREENING_FACTS_MAX_AGE_DAYS)
    confirmations = {
        c.fact: c
        for c in ScreeningFactConfirmation.objects.filter(patient=patient).select_related(
            "confirmed_by"
        )
    }
    statuses = []
    for fact in ScreeningFact:
        confirmation = confirmations.get(fact.value)
        value = getattr(patient, fact.value)
        if fact == ScreeningFact.FITZPATRICK_TYPE:
            value = patient.get_fitzpatrick_type_display() if value else ""
        statuses.append(
            FactStatus(
                fact=fact.value,
                label=str(fact.label),
                value=value,
                confirmation=confirmation,
                stale=confirmation is None or confirmation.confirmed_at < cutoff,
            )
        )
    return statuses


def screening_facts_stale(*, patient: Patient, now: datetime | None = None) -> list[FactStatus]:
    """The facts of `patient` screening must have confirmed again before treatment."""
    return [s for s in screening_fact_statuses(patient=patient, now=now) if s.stale]


# --- the record's history -----------------------------------------------------------------

# The fields a change lists, in the order a form shows them. Contact fields may be shown to
# anyone of the clinic; the screening facts are clinical (the chart shows them).
CONTACT_HISTORY_FIELDS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "email",
    "phone",
    "preferred_channel",
    "consent_to_contact",
    "language",
    "entered_in_error",
    "entered_in_error_reason",
)
SCREENING_HISTORY_FIELDS = (
    "fitzpatrick_type",
    "allergies",
    "allergic_to_product_components",
    "current_medications",
    "on_anticoagulants",
    "on_isotretinoin",
    "keloid_history",
    "autoimmune_disease",
    "pregnant_or_breastfeeding",
    "screening_notes",
)
HISTORY_PAGE = 10


@dataclass(frozen=True)
class FieldChange:
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class HistoryEntry:
    """One saved version of a patient's record: when, who, and what changed from -> to."""

    at: datetime
    user: Any
    created: bool
    changes: list[FieldChange]


def _shown(name: str, value: Any) -> str:
    field = Patient._meta.get_field(name)
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def patient_history(
    *,
    patient: Patient,
    fields: tuple[str, ...] = CONTACT_HISTORY_FIELDS + SCREENING_HISTORY_FIELDS,
    before: datetime | None = None,
    limit: int = HISTORY_PAGE,
) -> tuple[list[HistoryEntry], datetime | None]:
    """The latest changes of `patient`'s record (older than `before`, for keyset paging),
    newest first, each with the changed `fields` from -> to (simple_history's diff), and the
    cursor of the next older page (None at the end). Two queries at any length: the versions
    with their users, one more version than shown to diff the oldest against. Versions that
    changed none of `fields` (e.g. a derived key) are left out; pass only the contact fields
    to someone who may not read the screening facts.
    """
    versions = patient.history.select_related("history_user").order_by(
        "-history_date", "-history_id"
    )
    if before is not None:
        versions = versions.filter(history_date__lt=before)
    rows = list(versions[: limit + 1])
    entries = []
    for index, newer in enumerate(rows[:limit]):
        older = rows[index + 1] if index + 1 < len(rows) else None
        if older is None:
            if newer.history_type == "+":
                entries.append(HistoryEntry(newer.history_date, newer.history_user, True, []))
            continue
        delta = newer.diff_against(older, included_fields=fields)
        changes = [
            FieldChange(
                str(Patient._meta.get_field(c.field).verbose_name).capitalize(),
                _shown(c.field, c.old),
                _shown(c.field, c.new),
            )
            for c in sorted(delta.changes, key=lambda c: fields.index(c.field))
        ]
        if changes:
            entries.append(HistoryEntry(newer.history_date, newer.history_user, False, changes))
    more = len(rows) > limit
    return entries, rows[limit - 1].history_date if more else None
