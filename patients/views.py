"""Front-desk pages: register (with the duplicate check), a patient's page, calls. (The patient
list and search is a top-floor page: clinic/views_patients.py.)"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clinic.core.access import staff_required, visible, visible_or_404
from clinic.core.exceptions import ClinicError
from clinic.core.models import ARCHIVE_ROLES, CLINICAL_ROLES, Clinic

from . import selectors, services
from .forms import CallDoneForm, PatientRegistrationForm, attach_error
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
