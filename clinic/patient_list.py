"""The patient list and search: one page for every role, reading the patients app (name,
phone, date of birth, reference), their sessions (the last visit) and their reactions (the
"open reactions" filter, for clinical roles only), so it lives on the top floor.

Keyset paging: a page is the rows after (or before) a boundary row named by its uuid, so no
COUNT over the table and no patient data in the URL but the search box's `q`. Every page costs
the same queries at any size: the last visit and the open-reaction flag are subqueries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import (
    BooleanField,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Lower

from clinic.core.access import visible
from clinic.core.models import CLINICAL_ROLES, Clinic, Membership
from clinic.workflows import unresolved_reactions
from patients.models import Patient
from patients.selectors import PatientQuery, patient_query
from treatments.models import SessionStatus, TreatmentSession

PAGE_SIZE = 25
# Patients never seen sort after every visit (last visit, newest first).
NEVER = datetime(1900, 1, 1, tzinfo=UTC)


class Sort:
    NAME = "name"
    LAST_VISIT = "last_visit"
    CHOICES = [(NAME, "Name"), (LAST_VISIT, "Last visit")]


class Archived:
    EXCLUDE = ""
    INCLUDE = "include"
    ONLY = "only"
    CHOICES = [
        (EXCLUDE, "Not archived"),
        (INCLUDE, "Include archived"),
        (ONLY, "Archived only"),
    ]


# Sort keys as (annotation, descending); the uuid-free integer key breaks ties.
_KEYS = {
    Sort.NAME: [("k_last", False), ("k_first", False), ("pk", False)],
    Sort.LAST_VISIT: [("k_visit", True), ("pk", True)],
}


@dataclass
class PatientPage:
    rows: list[Patient]
    query: PatientQuery | None
    # The uuids that name the next and previous pages' boundaries (None: no such page).
    next_after: uuid.UUID | None = None
    previous_before: uuid.UUID | None = None
    clinical_clinics: set[int] = field(default_factory=set)


def _annotated(user: Any) -> QuerySet[Patient]:
    last_visit = (
        TreatmentSession.objects.filter(patient=OuterRef("pk"))
        .exclude(status=SessionStatus.ENTERED_IN_ERROR)
        .order_by("-performed_at")
        .values("performed_at")[:1]
    )
    return (
        visible(Patient.objects.select_related("clinic", "archived_by"), user)
        .filter(entered_in_error=False)
        .annotate(
            last_visit=Subquery(last_visit, output_field=DateTimeField()),
            k_visit=Coalesce(
                Subquery(last_visit, output_field=DateTimeField()),
                Value(NEVER, output_field=DateTimeField()),
            ),
            k_last=Lower("last_name"),
            k_first=Lower("first_name"),
        )
    )


def _beyond(keys: list[tuple[str, bool]], boundary: Patient, *, forward: bool) -> Q:
    """Rows after `boundary` in the sort order (before it when not `forward`)."""
    match = Q()
    for i, (name, descending) in enumerate(keys):
        later = descending != forward  # "greater" in the walking direction
        step = Q(**{f"{name}__{'gt' if later else 'lt'}": getattr(boundary, name)})
        for prev, _ in keys[:i]:
            step &= Q(**{prev: getattr(boundary, prev)})
        match |= step
    return match


def _ordering(keys: list[tuple[str, bool]], *, forward: bool) -> list[Any]:
    return [F(name).desc() if descending == forward else F(name).asc() for name, descending in keys]


def patient_list_page(
    *,
    user: Any,
    q: str = "",
    clinic: Clinic | None = None,
    open_reactions: bool = False,
    archived: str = Archived.EXCLUDE,
    sort: str = Sort.NAME,
    after: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
    page_size: int = PAGE_SIZE,
    countries: set[str] | None = None,
) -> PatientPage:
    """One page of the user's clinics' patients matching the search box (`patients.selectors.
    patient_query`) and the filters. Archived patients only when asked for. The open-reaction
    filter and flag exist for clinical roles only (at the clinics where they hold one).
    `countries` (of the user's clinics, for reading phone numbers and dates) when known."""
    clinical = set(
        Membership.clinic_ids_for(user, CLINICAL_ROLES).values_list("clinic_id", flat=True)
    )
    patients = _annotated(user)
    if clinical:
        patients = patients.annotate(
            open_reaction=ExpressionWrapper(
                Q(Exists(unresolved_reactions(OuterRef("pk"))), clinic_id__in=clinical),
                output_field=BooleanField(),
            )
        )
    if countries is None:
        countries = set(visible(Clinic, user).values_list("country", flat=True))
    query = patient_query(q, countries=countries)
    if query is not None:
        patients = patients.filter(query.match)
    if clinic is not None:
        patients = patients.filter(clinic=clinic)
    if open_reactions and clinical:
        patients = patients.filter(open_reaction=True)
    if archived == Archived.EXCLUDE:
        patients = patients.filter(archived_at__isnull=True)
    elif archived == Archived.ONLY:
        patients = patients.filter(archived_at__isnull=False)

    keys = _KEYS.get(sort, _KEYS[Sort.NAME])
    forward = before is None
    boundary = patients.filter(uuid=before or after).first() if (before or after) else None
    if boundary is not None:
        patients = patients.filter(_beyond(keys, boundary, forward=forward))
    rows = list(patients.order_by(*_ordering(keys, forward=forward))[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    if not forward:
        rows.reverse()
    page = PatientPage(rows=rows, query=query, clinical_clinics=clinical)
    if rows:
        # Going forward, a next page exists when a row was left over; one came before when we
        # started from a boundary. Going back, the other way round.
        has_next = more if forward else boundary is not None
        has_previous = (boundary is not None) if forward else more
        page.next_after = rows[-1].uuid if has_next else None
        page.previous_before = rows[0].uuid if has_previous else None
    for row in rows:
        row.last_visit_on = row.clinic.local(row.last_visit).date() if row.last_visit else None
    return page
