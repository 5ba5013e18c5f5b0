"""Reads on patients and front-desk calls, scoped to the user's clinics."""

from __future__ import annotations

import operator
from datetime import date
from functools import reduce
from typing import Any

from django.db.models import Q, QuerySet

from clinic.core.access import visible
from clinic.core.models import Clinic

from .models import CallState, CallTask, Patient
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
