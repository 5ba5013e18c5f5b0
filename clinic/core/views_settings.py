"""A clinic's settings pages: basics, opening hours and closures (the manager), and the
check-in follow-up (the manager and the safety lead: it is a clinical setting).

Every page first finds the clinic with `visible_or_404(Clinic, ..., roles=...)`, so a
manager edits only the clinics they manage and a safety lead only their clinic's check-in
plan. Removing a closure or a plan step asks first (GET shows the question, POST with
confirm=yes does it). Each page shows the settings history.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from . import clinic_settings as services
from .access import staff_required, visible, visible_or_404
from .forms import ConfirmForm
from .forms_settings import (
    BasicsForm,
    CheckInSettingsForm,
    ClosureForm,
    HoursForm,
    PlanStepAddForm,
    PlanStepForm,
)
from .models import (
    CHECKIN_SETTINGS_ROLES,
    MANAGER_ONLY,
    CheckInPlanStep,
    Clinic,
    ClinicClosure,
)

manager = staff_required(roles=MANAGER_ONLY)
checkin_settings = staff_required(roles=CHECKIN_SETTINGS_ROLES)


def _managed(request: HttpRequest, uuid: Any) -> Clinic:
    return visible_or_404(Clinic, request, uuid, roles=MANAGER_ONLY)


def _checkin_clinic(request: HttpRequest, uuid: Any) -> Clinic:
    return visible_or_404(Clinic, request, uuid, roles=CHECKIN_SETTINGS_ROLES)


def _errors(form: Any, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errs in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errs)
    else:
        form.add_error(None, error.messages)


def _render(
    request: HttpRequest,
    clinic: Clinic,
    template: str,
    context: dict,
    *,
    tab: str,
    status: int = 200,
) -> HttpResponse:
    manages = visible(Clinic, request, roles=MANAGER_ONLY).filter(pk=clinic.pk).exists()
    others = visible(Clinic, request, roles=CHECKIN_SETTINGS_ROLES).exclude(pk=clinic.pk)
    with clinic.activate():
        return render(
            request,
            template,
            {
                "clinic": clinic,
                "tab": tab,
                "manages": manages,
                "other_clinics": list(others.order_by("name")),
                "history": services.settings_history(clinic=clinic),
                **context,
            },
            status=status,
        )


@checkin_settings
@require_GET
def settings_home(request: HttpRequest) -> HttpResponse:
    """The basics of the first clinic the user manages, else the check-ins of the first
    clinic where they are the safety lead (the others are a click away)."""
    clinic = visible(Clinic, request, roles=MANAGER_ONLY).order_by("name").first()
    if clinic is not None:
        return basics(request, clinic.uuid)
    clinic = visible(Clinic, request, roles=CHECKIN_SETTINGS_ROLES).order_by("name").first()
    return checkins(request, clinic.uuid)


@manager
@require_http_methods(["GET", "POST"])
def basics(request: HttpRequest, uuid: Any) -> HttpResponse:
    clinic = _managed(request, uuid)
    # The form edits its own copy: the page keeps showing the saved clinic on an error.
    form = BasicsForm(request.POST or None, instance=_managed(request, uuid))
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.Meta.fields}
        try:
            lines = services.clinic_settings_update(
                clinic=clinic, actor=request.user, changes=changes
            )
        except ValidationError as error:
            _errors(form, error)
        else:
            messages.success(request, _("Saved.") if lines else _("Nothing changed."))
            return HttpResponseRedirect(reverse("settings:basics", args=[clinic.uuid]))
    status = 400 if request.method == "POST" else 200
    return _render(
        request, clinic, "core/settings_basics.html", {"form": form}, tab="basics", status=status
    )


@manager
@require_http_methods(["GET", "POST"])
def hours(request: HttpRequest, uuid: Any) -> HttpResponse:
    clinic = _managed(request, uuid)
    which = request.POST.get("form") if request.method == "POST" else None
    hours_form = HoursForm(request.POST if which == "hours" else None, hours=clinic.opening_hours)
    closure_form = ClosureForm(
        request.POST if which == "closure" else None, prefix="closure", clinic=clinic
    )
    if which == "hours" and hours_form.is_valid():
        try:
            services.clinic_settings_update(
                clinic=clinic,
                actor=request.user,
                changes={"opening_hours": hours_form.cleaned_data["opening_hours"]},
            )
        except ValidationError as error:
            _errors(hours_form, error)
        else:
            messages.success(
                request, _("Opening hours saved. Booking and the calendar use them now.")
            )
            return HttpResponseRedirect(reverse("settings:hours", args=[clinic.uuid]))
    if which == "closure" and closure_form.is_valid():
        try:
            data = closure_form.cleaned_data
            services.closure_add(
                clinic=clinic,
                actor=request.user,
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                reason=data["reason"],
                form_token=closure_form.token(),
            )
        except ValidationError as error:
            _errors(closure_form, error)
        else:
            messages.success(request, _("Closure added: no appointment can be booked then."))
            return HttpResponseRedirect(reverse("settings:hours", args=[clinic.uuid]))
    closures = ClinicClosure.objects.filter(clinic=clinic, ends_on__gte=clinic.today())
    return _render(
        request,
        clinic,
        "core/settings_hours.html",
        {
            "hours_form": hours_form,
            "closure_form": closure_form,
            "closures": list(visible(closures, request, roles=MANAGER_ONLY).order_by("starts_on")),
        },
        tab="hours",
        status=400 if which else 200,
    )


@manager
@require_http_methods(["GET", "POST"])
def closure_remove(request: HttpRequest, uuid: Any, closure: Any) -> HttpResponse:
    clinic = _managed(request, uuid)
    row = visible_or_404(
        ClinicClosure.objects.filter(clinic=clinic), request, closure, roles=MANAGER_ONLY
    )
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.closure_remove(closure=row, actor=request.user)
        messages.success(request, _("Closure removed: those days can be booked again."))
        return HttpResponseRedirect(reverse("settings:hours", args=[clinic.uuid]))
    return _render(
        request,
        clinic,
        "core/settings_confirm.html",
        {"form": form, "closure": row, "back": reverse("settings:hours", args=[clinic.uuid])},
        tab="hours",
        status=400 if request.method == "POST" else 200,
    )


def _plan(request: HttpRequest, clinic: Clinic) -> list[CheckInPlanStep]:
    steps = CheckInPlanStep.objects.filter(clinic=clinic, active=True)
    return list(visible(steps, request, roles=CHECKIN_SETTINGS_ROLES).order_by("offset"))


@checkin_settings
@require_http_methods(["GET", "POST"])
def checkins(request: HttpRequest, uuid: Any) -> HttpResponse:
    clinic = _checkin_clinic(request, uuid)
    which = request.POST.get("form") if request.method == "POST" else None
    settings_form = CheckInSettingsForm(
        request.POST if which == "settings" else None,
        initial={
            "quiet_hours_start": clinic.quiet_hours_start,
            "quiet_hours_end": clinic.quiet_hours_end,
            "reminder_hours": int(clinic.checkin_reminder_delay.total_seconds() // 3600),
            "call_hours": int(clinic.checkin_call_delay.total_seconds() // 3600),
        },
    )
    step_form = PlanStepAddForm(request.POST if which == "step" else None, prefix="step")
    if which == "settings" and settings_form.is_valid():
        try:
            services.clinic_settings_update(
                clinic=clinic, actor=request.user, changes=settings_form.changes()
            )
        except ValidationError as error:
            _errors(settings_form, error)
        else:
            messages.success(request, _("Check-in settings saved."))
            return HttpResponseRedirect(reverse("settings:checkins", args=[clinic.uuid]))
    if which == "step" and step_form.is_valid():
        try:
            services.plan_step_add(
                clinic=clinic,
                actor=request.user,
                label=step_form.cleaned_data["label"],
                offset=step_form.offset,
                form_token=step_form.token(),
            )
        except ValidationError as error:
            _errors(step_form, error)
        else:
            messages.success(
                request, _("Step added. Sessions logged from now on get this check-in.")
            )
            return HttpResponseRedirect(reverse("settings:checkins", args=[clinic.uuid]))
    return _render(
        request,
        clinic,
        "core/settings_checkins.html",
        {"settings_form": settings_form, "step_form": step_form, "plan": _plan(request, clinic)},
        tab="checkins",
        status=400 if which else 200,
    )


def _step(request: HttpRequest, clinic: Clinic, step: Any) -> CheckInPlanStep:
    return visible_or_404(
        CheckInPlanStep.objects.filter(clinic=clinic, active=True),
        request,
        step,
        roles=CHECKIN_SETTINGS_ROLES,
    )


@checkin_settings
@require_http_methods(["GET", "POST"])
def step_edit(request: HttpRequest, uuid: Any, step: Any) -> HttpResponse:
    clinic = _checkin_clinic(request, uuid)
    row = _step(request, clinic, step)
    form = PlanStepForm(
        request.POST or None,
        initial={"label": row.label, "days": row.offset.days},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.plan_step_change(
                step=row, actor=request.user, label=form.cleaned_data["label"], offset=form.offset
            )
        except ValidationError as error:
            _errors(form, error)
        else:
            messages.success(
                request,
                _(
                    "Step saved. Sessions logged from now on follow it; "
                    "planned check-ins keep their times."
                ),
            )
            return HttpResponseRedirect(reverse("settings:checkins", args=[clinic.uuid]))
    return _render(
        request,
        clinic,
        "core/settings_step.html",
        {"form": form, "step": row},
        tab="checkins",
        status=400 if request.method == "POST" else 200,
    )


@checkin_settings
@require_http_methods(["GET", "POST"])
def step_remove(request: HttpRequest, uuid: Any, step: Any) -> HttpResponse:
    clinic = _checkin_clinic(request, uuid)
    row = _step(request, clinic, step)
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.plan_step_remove(step=row, actor=request.user)
        messages.success(
            request, _("Step removed. Check-ins already planned from it still go out.")
        )
        return HttpResponseRedirect(reverse("settings:checkins", args=[clinic.uuid]))
    return _render(
        request,
        clinic,
        "core/settings_confirm.html",
        {"form": form, "step": row, "back": reverse("settings:checkins", args=[clinic.uuid])},
        tab="checkins",
        status=400 if request.method == "POST" else 200,
    )
