"""Reads for the patient form and the staff photo view (querysets with their joins done)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce

from clinic.core.access import visible
from clinic.core.models import CLINICAL_ROLES, Clinic
from patients.models import LinkPurpose, Patient, PatientAccess, PersonalLink
from treatments.models import CheckIn, TreatmentSession

from .models import ReactionReport, ReactionTerm, Submission, SubmissionPhoto, TriageStatus


@dataclass(frozen=True)
class ReportTarget:
    """What a patient's link answers: a session (and, for a check-in link, that check-in)."""

    link: PersonalLink
    session: TreatmentSession
    checkin: CheckIn | None

    @property
    def patient(self) -> Patient:
        return self.session.patient

    @property
    def clinic(self) -> Clinic:
        return self.session.clinic

    @property
    def treatment_date(self) -> date:
        """The session's date as the clinic's calendar has it."""
        return self.clinic.local(self.session.performed_at).date()


def report_target(link: PersonalLink) -> ReportTarget | None:
    """The session (and check-in) a live link reports on, or None if it reports on nothing."""
    sessions = TreatmentSession.objects.select_related("patient", "clinic", "lot")
    if link.purpose == LinkPurpose.CHECKIN:
        checkin = (
            CheckIn.objects.select_related("session__patient", "session__clinic", "session__lot")
            .filter(link=link)
            .order_by("-due_at", "-pk")
            .first()
        )
        if checkin is None:
            return None
        return ReportTarget(link=link, session=checkin.session, checkin=checkin)
    if link.purpose == LinkPurpose.SESSION_REPORT:
        session = sessions.filter(report_link=link).first()
        if session is None:
            return None
        return ReportTarget(link=link, session=session, checkin=None)
    return None


def report_target_for_link_id(link_id: int | None) -> ReportTarget | None:
    """The target of the link a patient's browser session holds, if that link is still live."""
    if not link_id:
        return None
    link = PersonalLink.objects.live().filter(pk=link_id).first()
    return report_target(link) if link is not None else None


def reaction_terms() -> QuerySet[ReactionTerm]:
    """The vocabulary a patient chooses from, in display order."""
    return ReactionTerm.objects.filter(active=True).order_by("display_order", "name")


def submission_for_link(*, link: PersonalLink, submission_uuid: str | None) -> Submission | None:
    """A submission made through this link (never another patient's), with its reactions."""
    if not submission_uuid:
        return None
    try:
        wanted = uuid.UUID(str(submission_uuid))
    except ValueError:
        return None
    return (
        Submission.objects.filter(link=link, uuid=wanted)
        .select_related("clinic")
        .prefetch_related("reactions__term", "photos")
        .first()
    )


def photo_for_staff(*, user: Any, photo_uuid: uuid.UUID) -> SubmissionPhoto | None:
    """A photo the user may see (clinical roles of its clinic); the read is recorded."""
    photo = (
        visible(SubmissionPhoto, user, roles=CLINICAL_ROLES)
        .select_related("submission")
        .filter(uuid=photo_uuid)
        .first()
    )
    if photo is not None:
        PatientAccess.objects.create(
            patient_id=photo.submission.patient_id, user=user, action="photo_view"
        )
    return photo


# --- the triage order ------------------------------------------------------------------------

# A report waiting for triage: no assessment yet, or one still in "new".
UNTRIAGED = Q(assessment__isnull=True) | Q(assessment__triage_status=TriageStatus.NEW)
# A red-flag reaction whose alarm nobody has acknowledged yet.
OPEN_RED_FLAG = Q(
    term__red_flag=True,
    submission__alarm__isnull=False,
    submission__alarm__acknowledged_at__isnull=True,
)


def triage_ordered(reports: QuerySet[ReactionReport]) -> QuerySet[ReactionReport]:
    """Reports in the order a clinician should look at them.

    Untriaged reports come first: open red flags, then by severity (the practitioner's grade
    once assessed, the patient's own rating before that), severe before moderate before mild,
    and within each group oldest first, so nothing waits forever behind newer ones. Reports
    already triaged follow, latest first. Every key is a column or a CASE over the row and its
    joins, so the order needs no count or subquery and a page stays one query.
    """
    return reports.annotate(
        triage_group=Case(
            When(UNTRIAGED & OPEN_RED_FLAG, then=Value(0)),
            When(UNTRIAGED, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        ),
        triage_severity=Case(
            When(
                UNTRIAGED,
                then=Coalesce(F("assessment__severity_grade"), F("patient_severity")),
            ),
            default=Value(0),
            output_field=IntegerField(),
        ),
        waiting_since=Case(When(UNTRIAGED, then=F("created_at")), default=None),
    ).order_by(
        "triage_group",
        "-triage_severity",
        F("waiting_since").asc(nulls_last=True),
        "-created_at",
        "-pk",
    )
