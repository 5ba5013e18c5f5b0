"""Booking pages that run a workflow of several apps, on the top floor beside
clinic/workflows.py: booking a series (`series_book_with_safety_hold`: all or nothing, the
safety hold) and an appointment's status (arrival re-checks the hold through
`appointment_confirm_with_safety_hold`). Their URL names stay in the `treatments` namespace
(clinic/urls.py adds them there); the rest of the booking pages live in
treatments/views_booking.py, whose helpers these share."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from clinic import workflows
from clinic.core.access import staff_required, visible_or_404
from clinic.core.exceptions import ClinicError
from clinic.core.forms import confirm_page, confirmed
from patients.forms import attach_error
from patients.models import Patient
from patients.services import ARCHIVED_REFUSAL
from treatments import booking
from treatments.forms_booking import BookingForm, SessionTimesForm
from treatments.models import SeriesTemplate, TreatmentSeries
from treatments.views_booking import appointment_or_404, local_input_value

# --- booking a series -------------------------------------------------------------------------


def _signature(data: dict[str, Any]) -> str:
    return "|".join(
        str(v)
        for v in (
            data["template"].pk,
            data["practitioner"].pk,
            data["first_date"].isoformat(),
            data["first_time"].strftime("%H:%M"),
        )
    )


def _show_slots(times_form: SessionTimesForm, slots: list[booking.Slot]) -> None:
    for slot in slots:
        if slot.problem and not times_form.has_error(f"start_{slot.sequence}"):
            attach_error(times_form, ClinicError(slot.problem, field=f"start_{slot.sequence}"))


@staff_required
def book(request: HttpRequest, patient: Any) -> HttpResponse:
    patient = visible_or_404(
        Patient.objects.select_related("clinic").filter(entered_in_error=False), request, patient
    )
    if patient.archived_at is not None:
        messages.error(request, ARCHIVED_REFUSAL)
        return redirect("patients:detail", uuid=patient.uuid)
    clinic = patient.clinic
    with clinic.activate():
        form = BookingForm(
            request.POST if request.method == "POST" else None,
            clinic=clinic,
            templates=SeriesTemplate.objects.filter(clinic=clinic, active=True),
            practitioners=booking.practitioners_of(clinic),
        )
        times_form, slots, signature = None, [], ""
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            template, practitioner = data["template"], data["practitioner"]
            signature = _signature(data)
            use_slot = request.POST.get("use_slot", "")
            same_request = request.POST.get("proposed_for") == signature
            if not same_request or (request.POST.get("action") == "propose" and not use_slot):
                try:
                    first = clinic.at_local(data["first_date"], data["first_time"])
                except ClinicError as exc:
                    attach_error(form, ClinicError(exc.message, field="first_time"))
                else:
                    slots = booking.series_propose(
                        clinic=clinic,
                        practitioner=practitioner,
                        template=template,
                        first_start=first,
                    )
                    times_form = SessionTimesForm(
                        {
                            f"start_{s.sequence}": local_input_value(clinic, s.starts_at)
                            for s in slots
                        },
                        clinic=clinic,
                        sessions=template.sessions_planned,
                    )
            else:
                posted = request.POST.copy()
                if use_slot:
                    number, _, value = use_slot.partition("|")
                    posted[f"start_{number}"] = value
                times_form = SessionTimesForm(
                    posted, clinic=clinic, sessions=template.sessions_planned
                )
                if times_form.is_valid():
                    starts = times_form.starts()
                    if request.POST.get("action") == "book" and not use_slot:
                        try:
                            series = workflows.series_book_with_safety_hold(
                                patient=patient,
                                practitioner=practitioner,
                                template=template,
                                starts=starts,
                                form_token=form.token(),
                            )
                        except booking.SlotConflict as exc:
                            slots = exc.slots
                        except ClinicError as exc:
                            attach_error(form, exc)
                            slots = []
                        else:
                            return _booked(request, series)
                    else:
                        slots = booking.slots_check(
                            clinic=clinic,
                            practitioner=practitioner,
                            template=template,
                            starts=starts,
                        )
            if times_form is not None and times_form.is_bound:
                times_form.is_valid()
                _show_slots(times_form, slots)
        rows = []
        if times_form is not None:
            by_number = {s.sequence: s for s in slots}
            for n in range(1, len(times_form.fields) + 1):
                slot = by_number.get(n)
                nearest = slot.nearest if slot and slot.problem else None
                rows.append(
                    {
                        "field": times_form[f"start_{n}"],
                        "slot": slot,
                        "nearest_value": (
                            f"{n}|{local_input_value(clinic, nearest)}" if nearest else ""
                        ),
                        "nearest": nearest,
                    }
                )
        return render(
            request,
            "treatments/booking_series.html",
            {
                "patient": patient,
                "form": form,
                "times_form": times_form,
                "rows": rows,
                "signature": signature,
                "all_clear": bool(rows) and all(r["slot"] and r["slot"].ok for r in rows),
            },
        )


def _booked(request: HttpRequest, series: TreatmentSeries) -> HttpResponse:
    if series.already_submitted:
        note = gettext("This form was already submitted; here are the appointments it booked.")
        messages.info(request, note)
        return redirect("treatments:patient_appointments", patient=series.patient.uuid)
    messages.success(request, f"Booked {series.sessions_planned} sessions of {series.indication}.")
    if series.appointments.filter(safety_hold=True).exists():
        messages.warning(
            request, "The first session needs practitioner clearance before treatment."
        )
    return redirect("treatments:patient_appointments", patient=series.patient.uuid)


# --- an appointment's status -----------------------------------------------------------------


ACTIONS = {
    "arrived": (
        "Marked arrived.",
        lambda a: workflows.appointment_confirm_with_safety_hold(appointment=a),
    ),
    "no_show": ("Marked as a no-show.", lambda a: booking.appointment_mark_no_show(appointment=a)),
    "cancel": (
        "Appointment cancelled; its reminder will not be sent.",
        lambda a: booking.appointment_cancel(appointment=a),
    ),
}


@require_POST
@staff_required
def appointment_status(request: HttpRequest, uuid: Any) -> HttpResponse:
    appointment = appointment_or_404(request, uuid)
    name = request.POST.get("action", "")
    if name in NEEDS_CONFIRMATION and not confirmed(request):
        # Cancel and no-show cannot be undone: a normal page says what will happen first (the
        # day list's htmx button only marks arrivals, so this page is never swapped into a row).
        return _confirm_status(request, appointment, name)
    if request.headers.get("HX-Request"):
        return _status_row(request, appointment)
    action = ACTIONS.get(name)
    if action is None:
        messages.error(request, "Choose arrived, no-show or cancel.")
    else:
        done, run = action
        try:
            appointment = run(appointment)
        except ClinicError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, done)
            if appointment.hold_open:
                messages.warning(
                    request, "This session needs practitioner clearance before treatment."
                )
    return redirect("treatments:appointment", uuid=appointment.uuid)


# Arrived stays one click: it is reversible and the day list marks arrivals in place.
NEEDS_CONFIRMATION = ("cancel", "no_show")


def _confirm_status(request: HttpRequest, appointment: Any, name: str) -> HttpResponse:
    when = date_format(appointment.clinic.local(appointment.starts_at), "D j M, H:i")
    facts = {
        "when": when,
        "patient": str(appointment.patient),
        "practitioner": appointment.practitioner.display_name,
    }
    if name == "cancel":
        heading = gettext("Cancel this appointment?")
        effects = [
            gettext(
                "The appointment on %(when)s with %(patient)s (%(practitioner)s) will be "
                "cancelled and the patient's reminder withdrawn."
            )
            % facts,
            gettext("The time becomes free for other bookings."),
        ]
        label = gettext("Yes, cancel the appointment")
    else:
        heading = gettext("Mark this appointment as a no-show?")
        effects = [
            gettext(
                "The appointment on %(when)s with %(patient)s (%(practitioner)s) will be "
                "recorded as a no-show and the patient's reminder withdrawn."
            )
            % facts,
        ]
        label = gettext("Yes, mark no-show")
    return confirm_page(
        request,
        heading=heading,
        effects=effects,
        action_url=reverse("treatments:appointment_status", kwargs={"uuid": appointment.uuid}),
        hidden=[("action", name)],
        confirm_label=label,
        back_url=reverse("treatments:appointment", kwargs={"uuid": appointment.uuid}),
        back_label=gettext("Keep the appointment"),
    )


def _status_row(request: HttpRequest, appointment: Any) -> HttpResponse:
    """The front desk's day list marks an arrival in place (htmx): the same action, answered
    with the appointment's row, its refusal beside it."""
    action = ACTIONS.get(request.POST.get("action", ""))
    error = ""
    if action is None:
        error = "Choose arrived, no-show or cancel."
    else:
        try:
            appointment = action[1](appointment)
        except ClinicError as exc:
            error = exc.message
    return render(request, "clinic/dashboard_appointment.html", {"a": appointment, "error": error})


# Added to the `treatments` namespace by clinic/urls.py: the names and paths are the booking
# pages' own (docs/security.md keys its role matrix on them).
urlpatterns = [
    path("book/<uuid:patient>/", book, name="book"),
    path("appointments/<uuid:uuid>/status/", appointment_status, name="appointment_status"),
]
