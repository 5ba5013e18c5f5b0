"""Booking pages: series templates (safety lead), booking a series with proposals and the
nearest free slot, the day/week calendar, an appointment with its actions, and a series'
iCalendar download. Every page reasons in the clinic's local time (`clinic.activate()`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from clinic.core.access import active_clinic, staff_required, visible, visible_or_404
from clinic.core.dates import CALENDAR
from clinic.core.exceptions import ClinicError
from clinic.core.forms import AccessibleErrorsMixin
from clinic.core.models import BOOKABLE_ROLES, CLINICAL_ROLES, SAFETY_LEAD_ONLY, Clinic
from clinic.core.selectors import staff_with_role
from patients.forms import DateInput, attach_error
from patients.models import Patient
from patients.services import patient_access_log

from . import booking
from .forms_booking import (
    LOCAL_INPUT,
    ClearHoldForm,
    RescheduleForm,
    SeriesTemplateForm,
)
from .models import Appointment, SeriesTemplate, TreatmentSeries


def local_input_value(clinic: Clinic, moment: datetime) -> str:
    return clinic.local(moment).strftime(LOCAL_INPUT)


# --- series templates -------------------------------------------------------------------------


@staff_required(roles=SAFETY_LEAD_ONLY)
def template_list(request: HttpRequest) -> HttpResponse:
    templates = SeriesTemplate.objects.select_related("clinic")
    templates = visible(templates, request, roles=SAFETY_LEAD_ONLY)
    return render(request, "treatments/booking_template_list.html", {"templates": templates})


def _template_form_page(request: HttpRequest, instance: SeriesTemplate | None) -> HttpResponse:
    clinics = visible(Clinic, request, roles=SAFETY_LEAD_ONLY)
    form = SeriesTemplateForm(
        request.POST if request.method == "POST" else None, instance=instance, clinics=clinics
    )
    if request.method == "POST" and form.is_valid():
        try:
            template = booking.series_template_save(template=form.save(commit=False))
        except ClinicError as exc:
            attach_error(form, exc)
        else:
            messages.success(request, f"Series template “{template.name}” saved.")
            return redirect("treatments:template_list")
    return render(
        request, "treatments/booking_template_form.html", {"form": form, "instance": instance}
    )


@staff_required(roles=SAFETY_LEAD_ONLY)
def template_new(request: HttpRequest) -> HttpResponse:
    return _template_form_page(request, None)


@staff_required(roles=SAFETY_LEAD_ONLY)
def template_edit(request: HttpRequest, uuid: Any) -> HttpResponse:
    template = visible_or_404(SeriesTemplate, request, uuid, roles=SAFETY_LEAD_ONLY)
    return _template_form_page(request, template)


# --- booking a series -------------------------------------------------------------------------


@staff_required
def patient_appointments(request: HttpRequest, patient: Any) -> HttpResponse:
    patient = visible_or_404(
        Patient.objects.select_related("clinic", "archived_by"), request, patient
    )
    series, appointments = booking.patient_appointments(patient=patient)
    with patient.clinic.activate():
        return render(
            request,
            "treatments/booking_patient.html",
            {"patient": patient, "series_list": series, "appointments": appointments},
        )


@staff_required
def series_ics(request: HttpRequest, uuid: Any) -> HttpResponse:
    series = visible_or_404(
        TreatmentSeries.objects.select_related("clinic", "patient"), request, uuid
    )
    patient_access_log(patient=series.patient, user=request.user, action="export_ics")
    response = HttpResponse(
        booking.series_ics(series=series), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="series-{series.uuid}.ics"'
    response["Cache-Control"] = "no-store"
    return response


# --- calendar ---------------------------------------------------------------------------------


class CalendarForm(AccessibleErrorsMixin, forms.Form):
    clinic = forms.ModelChoiceField(
        queryset=Clinic.objects.none(), to_field_name="uuid", empty_label=None, required=False
    )
    practitioner = forms.ModelChoiceField(
        queryset=None, to_field_name="uuid", required=False, empty_label="All practitioners"
    )
    view = forms.ChoiceField(choices=[("week", "Week"), ("day", "Day")], required=False)
    date = forms.DateField(required=False, widget=DateInput())

    # The clinic shown: the one asked for, else the active clinic (the header's pick), else
    # the first one the user works at (set by clean).
    shown_clinic: Clinic | None = None
    default_clinic_id: int | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        clinics = self.fields["clinic"].queryset
        self.shown_clinic = data.get("clinic") or self._default(clinics)
        day = data.get("date")
        if day is not None and self.shown_clinic is not None:
            try:
                CALENDAR.check(day, clinic=self.shown_clinic)
            except forms.ValidationError as error:
                self.add_error("date", error)
        return data

    def _default(self, clinics: Any) -> Clinic | None:
        if self.default_clinic_id is not None:
            return clinics.filter(pk=self.default_clinic_id).first() or clinics.first()
        return clinics.first()


@staff_required
def calendar(request: HttpRequest) -> HttpResponse:
    """Day or week of a clinic (optionally one practitioner) in the clinic's local time.
    The filters are in the query string: they carry no patient data."""
    clinics = visible(Clinic, request)
    form = CalendarForm(request.GET or None)
    form.fields["clinic"].queryset = clinics
    active = active_clinic(request)
    form.default_clinic_id = active.id if active is not None else None
    form.fields["practitioner"].queryset = staff_with_role(clinics=clinics, roles=BOOKABLE_ROLES)
    # An invalid filter (a date out of range, "abc") shows today's page with the error beside
    # its field, keeping the filters that were fine.
    invalid = form.is_bound and not form.is_valid()
    data = form.cleaned_data if form.is_bound else {}
    clinic = form.shown_clinic or form._default(clinics)
    if clinic is None:
        raise Http404("No clinic")
    practitioners = booking.practitioners_of(clinic)
    form.fields["practitioner"].queryset = practitioners
    practitioner = data.get("practitioner")
    if practitioner is not None and practitioner not in list(practitioners):
        practitioner = None
    view = data.get("view") or "week"
    practitioner = data.get("practitioner")
    today = clinic.today()
    day = data.get("date") or today
    first = day - timedelta(days=day.weekday()) if view == "week" else day
    length = 7 if view == "week" else 1
    days = [first + timedelta(days=i) for i in range(length)]
    # day_span, not at_local: some zones skip midnight itself (Cairo, Santiago, Havana).
    start, _ = clinic.day_span(days[0])
    _, end = clinic.day_span(days[-1])
    appointments = list(
        booking.calendar_appointments(
            clinic=clinic, start=start, end=end, practitioner=practitioner
        )
    )
    hours = booking.opening_labels(clinic=clinic, days=days)
    columns = [
        (d, [a for a in appointments if clinic.local(a.starts_at).date() == d], label)
        for d, label in zip(days, hours, strict=True)
    ]
    step = timedelta(days=length)

    def link(on: date) -> str:
        query = {"clinic": clinic.uuid, "view": view, "date": on.isoformat()}
        if practitioner:
            query["practitioner"] = practitioner.uuid
        return "?" + urlencode(query)

    with clinic.activate():
        return render(
            request,
            f"treatments/calendar_{view}.html",
            {
                "form": form,
                "clinic": clinic,
                "clinics": clinics,
                "practitioner": practitioner,
                "practitioners": practitioners,
                "view": view,
                "columns": columns,
                "appointments": appointments,
                "days": days,
                "hours": hours,
                "today": today,
                "prev_link": link(first - step),
                "next_link": link(first + step),
                "today_link": link(today),
            },
            status=400 if invalid else 200,
        )


# --- one appointment --------------------------------------------------------------------------


def _appointments() -> QuerySet[Appointment]:
    """Appointments with what their page shows loaded."""
    return Appointment.objects.select_related(
        "clinic", "patient", "practitioner", "series", "hold_cleared_by"
    )


def appointment_or_404(request: HttpRequest, uuid: Any) -> Appointment:
    return visible_or_404(_appointments(), request, uuid)


def _appointment_page(
    request: HttpRequest,
    appointment: Appointment,
    *,
    reschedule_form: RescheduleForm | None = None,
    hold_form: ClearHoldForm | None = None,
    nearest: datetime | None = None,
    status: int = 200,
) -> HttpResponse:
    clinic = appointment.clinic
    can_clear = request.user.memberships.filter(
        clinic=clinic, active=True, role__in=CLINICAL_ROLES
    ).exists()
    with clinic.activate():
        reschedule_form = reschedule_form or RescheduleForm(
            clinic=clinic, initial={"starts_at": clinic.local(appointment.starts_at)}
        )
        return render(
            request,
            "treatments/booking_appointment.html",
            {
                "appointment": appointment,
                "reschedule_form": reschedule_form,
                "hold_form": hold_form or ClearHoldForm(),
                "can_clear": can_clear,
                "nearest": nearest,
                "nearest_value": local_input_value(clinic, nearest) if nearest else "",
            },
            status=status,
        )


@staff_required
def appointment_detail(request: HttpRequest, uuid: Any) -> HttpResponse:
    return _appointment_page(request, appointment_or_404(request, uuid))


@require_POST
@staff_required
def appointment_reschedule(request: HttpRequest, uuid: Any) -> HttpResponse:
    appointment = appointment_or_404(request, uuid)
    clinic = appointment.clinic
    with clinic.activate():
        posted = request.POST.copy()
        if posted.get("use_slot"):
            posted["starts_at"] = posted["use_slot"]
        form = RescheduleForm(posted, clinic=clinic)
        nearest = None
        if form.is_valid():
            try:
                _, warnings = booking.appointment_reschedule(
                    appointment=appointment, starts_at=form.cleaned_data["starts_at"]
                )
            except booking.SlotConflict as exc:
                attach_error(form, exc)
                nearest = exc.slots[0].nearest if exc.slots else None
            except ClinicError as exc:
                attach_error(form, ClinicError(exc.message, field=exc.field or "starts_at"))
            else:
                messages.success(request, "Appointment moved.")
                for warning in warnings:
                    messages.warning(request, warning)
                return redirect("treatments:appointment", uuid=appointment.uuid)
    return _appointment_page(
        request, appointment, reschedule_form=form, nearest=nearest, status=400
    )


@require_POST
@staff_required(roles=CLINICAL_ROLES)
def appointment_clear_hold(request: HttpRequest, uuid: Any) -> HttpResponse:
    appointment = visible_or_404(_appointments(), request, uuid, roles=CLINICAL_ROLES)
    form = ClearHoldForm(request.POST)
    if form.is_valid():
        try:
            booking.appointment_clear_hold(
                appointment=appointment, user=request.user, reason=form.cleaned_data["reason"]
            )
        except ClinicError as exc:
            attach_error(form, exc)
        else:
            messages.success(request, "Safety hold cleared.")
            return redirect("treatments:appointment", uuid=appointment.uuid)
    return _appointment_page(request, appointment, hold_form=form, status=400)
