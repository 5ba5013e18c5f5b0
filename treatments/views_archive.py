"""Archiving a patient (front desk and practitioners): a page that says what will be cancelled
and asks why, then `archive.patient_archive`; and unarchiving. Both lead back to the page the
role reads: the chart for a practitioner, the front-desk page for the front desk."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from clinic.core import links
from clinic.core.access import staff_required, visible_or_404
from clinic.core.exceptions import ClinicError
from clinic.core.models import ARCHIVE_ROLES, CLINICAL_ROLES
from patients.forms import attach_error
from patients.models import Patient

from . import archive
from .forms_archive import ArchiveForm

archivist = staff_required(roles=ARCHIVE_ROLES)


def _patient(request: HttpRequest, uuid: Any) -> Patient:
    patients = Patient.objects.select_related("clinic", "archived_by")
    return visible_or_404(patients, request, uuid, roles=ARCHIVE_ROLES)


def _patient_page(request: HttpRequest, patient: Patient) -> HttpResponseRedirect:
    if request.user.roles_at(patient.clinic) & CLINICAL_ROLES:
        return HttpResponseRedirect(links.url_for("patient-chart", patient.uuid))
    return HttpResponseRedirect(reverse("patients:detail", kwargs={"uuid": patient.uuid}))


def _summary(effects: archive.ArchiveEffects) -> str:
    n = len(effects.appointments)
    told = "" if effects.notice is None else " and the patient told"
    if n == 1:
        return f"1 future appointment was cancelled{told}."
    if n:
        return f"{n} future appointments were cancelled{told}."
    return "There were no future appointments to cancel."


@archivist
def patient_archive(request: HttpRequest, uuid: Any) -> HttpResponse:
    patient = _patient(request, uuid)
    if patient.archived_at is not None:
        messages.info(request, "This patient is already archived.")
        return _patient_page(request, patient)
    form = ArchiveForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            effects = archive.patient_archive(
                patient=patient, by=request.user, reason=form.cleaned_data["reason"]
            )
        except ClinicError as exc:
            attach_error(form, exc)
        else:
            messages.success(request, f"{patient} is archived. {_summary(effects)}")
            return _patient_page(request, patient)
    effects = archive.patient_archive_preview(patient=patient)
    with patient.clinic.activate():
        return render(
            request,
            "treatments/patient_archive.html",
            {"patient": patient, "form": form, "effects": effects},
            status=400 if form.errors else 200,
        )


@require_POST
@archivist
def patient_unarchive(request: HttpRequest, uuid: Any) -> HttpResponse:
    patient = _patient(request, uuid)
    try:
        archive.patient_unarchive(patient=patient, by=request.user)
    except ClinicError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{patient} is back in lists and search. Appointments cancelled by the archive "
            "stay cancelled: book again if needed.",
        )
    return _patient_page(request, patient)
