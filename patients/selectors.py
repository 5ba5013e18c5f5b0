"""Reads on patients and front-desk calls, scoped to the user's clinics."""

from __future__ import annotations

import operator
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import reduce
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from clinic.core.access import visible
from clinic.core.models import Clinic

from .models import (
    REFERENCE_LENGTH,
    SCREENING_FACTS_MAX_AGE_DAYS,
    SCREENING_FIELDS,
    CallState,
    CallTask,
    Patient,
    ScreeningFact,
    ScreeningFactConfirmation,
)
from .normalise import name_key, name_part, phone_e164_or_none, phone_key, phone_search_keys


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


# Dates of birth as each country's staff write them; ISO (YYYY-MM-DD) everywhere.
DATE_FORMATS: dict[str, tuple[str, ...]] = {
    "KR": ("%Y.%m.%d", "%Y/%m/%d"),
    "US": ("%m/%d/%Y",),
}
_REFERENCE = re.compile(rf"(?:ref\.?\s*|#)?([0-9a-f]{{{REFERENCE_LENGTH}}})", re.IGNORECASE)
_PHONE_LIKE = re.compile(r"\+?[\d\s()\-./]+")
# Fewer digits than this are not searched as (part of) a phone number.
PHONE_MIN_DIGITS = 4


@dataclass(frozen=True)
class PatientQuery:
    """What a search box's text was read as: the filter, and in words for the page."""

    match: Q
    understood: tuple[str, ...]


def _date_of_birth(text: str, countries: Iterable[str]) -> date | None:
    # "2026. 12. 07." (as Koreans often write it) is 2026.12.07.
    compact = re.sub(r"\s+", "", text).rstrip(".")
    formats = ["%Y-%m-%d"]
    for country in sorted({(c or "").upper() for c in countries}):
        formats += DATE_FORMATS.get(country, ())
    for fmt in formats:
        try:
            return datetime.strptime(compact, fmt).date()
        except ValueError:
            continue
    return None


def _reference(text: str) -> Q | None:
    found = _REFERENCE.fullmatch(text.strip())
    if not found:
        return None
    # The uuid's index answers a range: every uuid starting with these 8 hex digits.
    start = found.group(1).lower()
    low, high = uuid.UUID(start + "0" * 24), uuid.UUID(start + "f" * 24)
    return Q(uuid__gte=low, uuid__lte=high)


def _phone(text: str, regions: Iterable[str]) -> Q | None:
    if not _PHONE_LIKE.fullmatch(text) or len(phone_key(text)) < PHONE_MIN_DIGITS:
        return None
    regions = {r for r in regions if r}
    # A whole number, however written, is one E.164 key: an indexed equality.
    full = {e164 for r in regions | {""} if (e164 := phone_e164_or_none(text, region=r))}
    if full:
        return Q(phone_key__in=sorted(phone_key(n) for n in full))
    keys = phone_search_keys(text, regions=regions)
    return reduce(operator.or_, (Q(phone_key__contains=key) for key in sorted(keys)))


def patient_query(q: str, *, countries: Iterable[str]) -> PatientQuery | None:
    """Read the search box: a patient's reference (the first 8 characters of their uuid), a
    phone number in any format (a national number read in each of `countries`, the user's
    clinics' countries, as registration reads it), a date of birth in those countries' usual
    formats, or a name: every word a part of the name, in either order, accents and case
    ignored (`name_key`). Words that are dates narrow a name ("kim 1990-04-02").
    None when there is nothing to search for."""
    text = unicodedata.normalize("NFKC", q or "").strip()
    if not text:
        return None
    countries = list(countries)
    # A date first: "2026.12.07" and "1990-04-02" look like phone digits too.
    born = _date_of_birth(text, countries)
    if born is not None:
        return PatientQuery(Q(date_of_birth=born), (f"date of birth {born:%Y-%m-%d}",))
    reference, phone = _reference(text), _phone(text, countries)
    if reference is not None or phone is not None:
        understood = ("reference",) if reference is not None else ()
        understood += ("phone number",) if phone is not None else ()
        matches = [m for m in (reference, phone) if m is not None]
        if text.isalpha():
            # "Fabeccad" is a reference and could be a name.
            matches.append(Q(name_key__contains=name_part(text)))
            understood = ("name", *understood)
        return PatientQuery(reduce(operator.or_, matches), understood)
    match, understood = Q(), []
    for word in text.split():
        day = _date_of_birth(word, countries)
        if day is not None:
            match &= Q(date_of_birth=day)
            understood.append(f"date of birth {day:%Y-%m-%d}")
        elif part := name_part(word):
            match &= Q(name_key__contains=part)
            if "name" not in understood:
                understood.insert(0, "name")
    if not understood:
        # Only punctuation: nothing to look for, so nothing matches (never the whole list).
        return PatientQuery(Q(pk__in=[]), ())
    return PatientQuery(match, tuple(understood))


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
    fields: tuple[str, ...] = CONTACT_HISTORY_FIELDS + SCREENING_FIELDS,
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
