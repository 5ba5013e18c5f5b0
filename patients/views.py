"""Front-desk pages: register (with the duplicate check), a patient's page, editing a patient
(contact for anyone of the clinic, screening facts for clinicians), calls. (The patient list
and search is a top-floor page: clinic/views_patients.py.)"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clinic.core import links
from clinic.core.access import held_roles, staff_required, visible, visible_or_404
from clinic.core.exceptions import ClinicError
from clinic.core.models import ARCHIVE_ROLES, CLINICAL_ROLES, Clinic

from . import selectors, services
from .forms import (
    CallDoneForm,
    PatientEditForm,
    PatientRegistrationForm,
    ScreeningFactsForm,
    attach_error,
)
from .models import CallTask, Patient


@staff_required
def register(request: HttpRequest) -> HttpResponse:
    clinics = visible(Clinic, request)
    form = PatientRegistrationForm(
        request.POST if request.method == "POST" else None, clinics=clinics
    )
    matches: list[Patient] = []
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            patient = services.patient_register(**data)
        except services.DuplicateSuspected as exc:
            matches = exc.matches
        except ClinicError as exc:
            attach_error(form, exc)
        else:
            if patient.already_submitted:
                messages.info(
                    request,
                    _("This form was already submitted; here is the patient it registered."),
                )
            else:
                messages.success(request, f"{patient} is registered.")
            return redirect("patients:detail", uuid=patient.uuid)
    return render(request, "patients/register.html", {"form": form, "matches": matches})


@staff_required
def detail(request: HttpRequest, uuid: str) -> HttpResponse:
    patient = visible_or_404(Patient.objects.select_related("clinic", "archived_by"), request, uuid)
    services.patient_access_log(patient=patient, user=request.user, action="view")
    roles = request.user.roles_at(patient.clinic)
    return render(
        request,
        "patients/detail.html",
        {
            "patient": patient,
            # The chart for clinical roles; archiving for the front desk and practitioners.
            "can_chart": bool(roles & CLINICAL_ROLES),
            "can_archive": bool(roles & ARCHIVE_ROLES),
        },
    )


def _back_to(request: HttpRequest, patient: Patient, *, chart: bool = False) -> str:
    """Where an edit returns: the page it came from (`?next=`, this site only), else the
    chart (`chart`, or opened from it with `?from=chart` by a clinician), else the patient's
    front-desk page."""
    target = request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    if chart or (request.GET.get("from") == "chart" and held_roles(request) & CLINICAL_ROLES):
        return links.url_for("patient-chart", patient.uuid)
    return reverse("patients:detail", kwargs={"uuid": patient.uuid})


NO_CHANGES = "Nothing changed; the record is as it was."


@staff_required
def edit(request: HttpRequest, uuid: str) -> HttpResponse:
    """Identity, contact and consent; no clinical field is shown here (not even read-only)."""
    patient = visible_or_404(Patient.objects.select_related("clinic"), request, uuid)
    data = request.POST if request.method == "POST" else None
    initial = {name: getattr(patient, name) for name in PatientEditForm.FIELDS}
    form = PatientEditForm(data, clinic=patient.clinic, initial=initial)
    matches: list[Patient] = []
    if data is None:
        services.patient_access_log(patient=patient, user=request.user, action="edit_view")
    elif form.is_valid():
        try:
            patient = services.patient_update(
                patient=patient,
                user=request.user,
                changes=form.changes(),
                check_duplicates=not form.cleaned_data["save_anyway"],
            )
        except services.DuplicateSuspected as exc:
            matches = exc.matches
        except ClinicError as exc:
            attach_error(form, exc)
        else:
            if patient.changed_fields:
                messages.success(request, _("%(name)s's details are saved.") % {"name": patient})
            else:
                messages.info(request, _(NO_CHANGES))
            return redirect(_back_to(request, patient))
    return render(
        request,
        "patients/edit.html",
        {"patient": patient, "form": form, "matches": matches, "back": _back_to(request, patient)},
    )


@staff_required(roles=CLINICAL_ROLES)
def screening_edit(request: HttpRequest, uuid: str) -> HttpResponse:
    """The screening facts, for clinicians. Saving confirms every fact shown, changed or not."""
    patients = Patient.objects.select_related("clinic")
    patient = visible_or_404(patients, request, uuid, roles=CLINICAL_ROLES)
    data = request.POST if request.method == "POST" else None
    initial = {name: getattr(patient, name) for name in ScreeningFactsForm.base_fields}
    form = ScreeningFactsForm(data, initial=initial)
    if data is None:
        services.patient_access_log(patient=patient, user=request.user, action="screening_view")
    elif form.is_valid():
        try:
            patient = services.patient_update(
                patient=patient, user=request.user, changes=form.changes()
            )
        except ClinicError as exc:
            attach_error(form, exc)
        else:
            if patient.changed_fields:
                messages.success(request, _("Screening facts saved and confirmed."))
            else:
                messages.success(request, _("Screening facts confirmed; nothing changed."))
            return redirect(_back_to(request, patient, chart=True))
    statuses = {s.fact: s for s in selectors.screening_fact_statuses(patient=patient)}
    rows = [(form[name], statuses.get(name)) for name in form.fields]
    back = _back_to(request, patient, chart=True)
    return render(
        request,
        "patients/screening_edit.html",
        {"patient": patient, "form": form, "rows": rows, "back": back},
    )


def _calls_page(request: HttpRequest, *, failed: CallTask | None = None, form=None) -> HttpResponse:
    tasks = list(selectors.call_tasks_open(user=request.user))
    rows = [
        (t, form if failed and t.pk == failed.pk else CallDoneForm(prefix=str(t.uuid)))
        for t in tasks
    ]
    return render(request, "patients/calls.html", {"rows": rows}, status=400 if failed else 200)


@staff_required
def calls(request: HttpRequest) -> HttpResponse:
    return _calls_page(request)


@require_POST
@staff_required
def call_done(request: HttpRequest, uuid: str) -> HttpResponse:
    task = visible_or_404(CallTask, request, uuid)
    form = CallDoneForm(request.POST, prefix=str(task.uuid))
    if form.is_valid():
        try:
            services.call_task_done(task=task, user=request.user, **form.cleaned_data)
        except ClinicError as exc:
            attach_error(form, exc)
        else:
            messages.success(request, f"Call to {task.patient} marked done.")
            return redirect("patients:calls")
    return _calls_page(request, failed=task, form=form)
