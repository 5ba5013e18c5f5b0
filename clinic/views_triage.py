"""Clinical pages behind the dashboard (namespace `triage`): acknowledge a red-flag alarm,
triage one reaction report (and print it as a MedWatch 3500), the filtered reactions list and
its streamed CSV export.

Practitioners and safety leads only: the front desk gets 403, another clinic's row 404.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from adverse_events.models import Alarm, ReactionReport
from adverse_events.services import alarm_acknowledge, assessment_record
from clinic.core.access import active_clinic, held_clinics, staff_required, visible_or_404
from clinic.core.csvcells import csv_safe
from clinic.core.exceptions import ClinicError
from clinic.core.models import CLINICAL_ROLES

from .dashboard import reactions_filtered, reports_loaded, triage_context
from .forms import show_error
from .forms_triage import AcknowledgeForm, AssessmentForm, ReactionFilterForm

clinical = staff_required(roles=CLINICAL_ROLES)
LIST_LIMIT = 100


@require_POST
@clinical
def acknowledge(request: HttpRequest, uuid: Any) -> HttpResponse:
    alarm = visible_or_404(Alarm, request, uuid, roles=CLINICAL_ROLES)
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        try:
            alarm_acknowledge(alarm=alarm, user=request.user, note=form.cleaned_data["note"])
        except ClinicError as error:
            messages.warning(request, error.message)
        else:
            messages.success(request, "Alarm acknowledged.")
    else:
        messages.error(request, "The note is too long (1,000 characters at most).")
    return redirect("dashboard")


def _report(request: HttpRequest, uuid: Any) -> ReactionReport:
    return visible_or_404(reports_loaded(), request, uuid, roles=CLINICAL_ROLES)


def _initial(assessment: Any) -> dict[str, Any]:
    fields = AssessmentForm.base_fields
    return {name: getattr(assessment, name) for name in fields}


@clinical
def triage(request: HttpRequest, uuid: Any) -> HttpResponse:
    report = _report(request, uuid)
    context = triage_context(report=report, user=request.user)
    status = 200
    if request.method == "POST":
        form = AssessmentForm(request.POST)
        if form.is_valid():
            try:
                assessment_record(report=report, user=request.user, **form.cleaned_data)
            except ClinicError as error:
                show_error(form, error)
            else:
                messages.success(request, "Assessment recorded.")
                return redirect("triage:report", uuid=report.uuid)
        status = 400
    else:
        form = AssessmentForm(initial=_initial(context.assessment))
    return render(
        request,
        "clinic/triage.html",
        {"ctx": context, "report": report, "form": form},
        status=status,
    )


def _filters(request: HttpRequest) -> tuple[ReactionFilterForm, dict[str, Any]]:
    form = ReactionFilterForm(request.GET or None, user=request.user)
    if form.is_bound and form.is_valid():
        return form, form.cleaned_data
    if form.is_bound:
        form.mark_invalid_fields()
    return form, {}


def _active_clinic_default(request: HttpRequest, form: ReactionFilterForm) -> Any:
    """Unfiltered, a clinician of several clinics sees the active clinic (the header's pick);
    "All my clinics" in the clinic filter shows every one. None: no default."""
    if form.is_bound:
        return None
    clinical_clinics = held_clinics(request, CLINICAL_ROLES)
    active = active_clinic(request)
    if len(clinical_clinics) < 2 or active not in clinical_clinics:
        return None
    form.fields["clinic"].initial = str(active.uuid)
    return active


@clinical
def reactions(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    invalid = form.is_bound and not form.is_valid()
    export_query = request.GET.urlencode()
    default = _active_clinic_default(request, form)
    if default is not None:
        filters = {"clinic": default.id}
        export_query = urlencode({"clinic": default.uuid})
    reports = reactions_filtered(user=request.user, filters=filters)
    rows = [] if invalid else list(reports[:LIST_LIMIT])
    total = 0 if invalid else reports.count()
    return render(
        request,
        "clinic/triage_list.html",
        {
            "form": form,
            "rows": rows,
            "total": total,
            "limit": LIST_LIMIT,
            "invalid": invalid,
            "export_query": export_query,
        },
        status=400 if invalid else 200,
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_HEADER = [
    "report",
    "clinic",
    "onset",
    "reaction",
    "described as",
    "ongoing",
    "ended",
    "patient severity",
    "grade",
    "triage",
    "outcome",
    "causality",
    "practitioner",
    "session date ({zone})",
    "delivery method",
    "product",
    "lot",
    "source",
    "clinic time zone",
]


def _csv_rows(reports: Any, zones: list[str]) -> Iterator[str]:
    """Session dates are the clinic's own date (a session at 00:01 in Seoul is that day, not
    the UTC day before). One zone is named in the header; an export spanning clinics in
    several zones says so there, and each row names its clinic's zone in the last column."""
    writer = csv.writer(_Echo())
    zone = zones[0] if len(zones) == 1 else "each clinic's time zone"
    yield writer.writerow([name.format(zone=zone) for name in CSV_HEADER])
    for r in reports.iterator(chunk_size=500):
        a = getattr(r, "assessment", None)
        yield writer.writerow(
            [
                r.uuid,
                csv_safe(r.clinic.name),
                r.onset_date.isoformat(),
                csv_safe(r.term.name),
                csv_safe(r.other_text),
                "yes" if r.ongoing else "no",
                r.ended_on.isoformat() if r.ended_on else "",
                r.get_patient_severity_display(),
                a.severity_grade if a and a.severity_grade else "",
                a.triage_status if a else "new",
                a.outcome if a else "",
                a.causality if a else "",
                csv_safe(r.session.practitioner.display_name),
                r.clinic.local(r.session.performed_at).date().isoformat(),
                r.session.get_delivery_method_display(),
                csv_safe(r.session.lot.product.name),
                csv_safe(r.session.lot.lot_number),
                r.get_source_display(),
                r.clinic.time_zone,
            ]
        )


@clinical
def reactions_csv(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    if form.is_bound and not form.is_valid():
        return render(
            request,
            "clinic/triage_list.html",
            {"form": form, "rows": [], "total": 0, "limit": LIST_LIMIT, "invalid": True},
            status=400,
        )
    reports = reactions_filtered(user=request.user, filters=filters)
    clinics = [filters["clinic"]] if filters.get("clinic") else list(form.fields["clinic"].queryset)
    zones = sorted({c.time_zone for c in clinics})
    response = StreamingHttpResponse(
        _csv_rows(reports, zones), content_type="text/csv; charset=utf-8"
    )
    day = clinics[0].today() if len(zones) == 1 else timezone.now().date()
    stamp = day.isoformat()
    response["Content-Disposition"] = f'attachment; filename="reactions-{stamp}.csv"'
    response["Cache-Control"] = "no-store, private"
    return response


# --- MedWatch 3500 ---------------------------------------------------------------------------


def _age_on(born: Any, on: Any) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _relation(days: int) -> str:
    """When the event began relative to the treatment, in words ("3 days after")."""
    if days == 0:
        return "the day of"
    word = "after" if days > 0 else "before"
    return f"{abs(days)} day{'' if abs(days) == 1 else 's'} {word}"


def _initials(patient: Any) -> str:
    return "".join(
        f"{part[:1].upper()}." for part in (patient.first_name, patient.last_name) if part
    )


@clinical
def medwatch(request: HttpRequest, uuid: Any) -> HttpResponse:
    """One reaction report laid out like FDA's MedWatch 3500, to print and file (or copy into
    the online form): patient by initials, the event with the assessment's seriousness and
    outcome, the suspect product with lot and expiry, the reporter. Opening it is recorded."""
    from patients.models import PatientAccess

    reports = reports_loaded().select_related("session__series", "session__clinic", "assessment")
    report = visible_or_404(reports, request, uuid, roles=CLINICAL_ROLES)
    PatientAccess.objects.create(patient_id=report.patient_id, user=request.user, action="medwatch")
    assessment = getattr(report, "assessment", None)
    session = report.session
    session_date = report.clinic.local(session.performed_at).date()
    reporter = (assessment.assessed_by if assessment and assessment.assessed_by else None) or (
        session.practitioner
    )
    serious = assessment is not None and any(
        getattr(assessment, f"serious_{name}")
        for name in (
            "death",
            "life_threatening",
            "hospitalisation",
            "disability",
            "medically_important",
        )
    )
    return render(
        request,
        "clinic/medwatch.html",
        {
            "report": report,
            "a": assessment,
            "s": session,
            "lot": session.lot,
            "product": session.lot.product,
            "clinic": report.clinic,
            "patient": report.patient,
            "initials": _initials(report.patient),
            "age": _age_on(report.patient.date_of_birth, report.onset_date),
            "session_date": session_date,
            "onset_relation": _relation((report.onset_date - session_date).days),
            "reporter": reporter,
            "serious": serious,
            "today": report.clinic.today(),
        },
    )
