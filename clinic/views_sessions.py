"""Top-floor clinical pages: the patient chart, logging a session (with its screening), the
session page (sign, addenda, entered in error) and the printable aftercare sheet.

Practitioners and safety leads only: the front desk never reads clinical records (403), and
another clinic's patient or session is a 404. Views are thin: they call the workflow and the
services and put their errors next to the field they name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from adverse_events.views import clinic_numbers
from clinic.core.access import held_roles, staff_required, visible_or_404
from clinic.core.exceptions import ClinicError
from clinic.core.forms import confirm_page, confirmed
from clinic.core.formtokens import form_token_record, posted_token
from clinic.core.models import ARCHIVE_ROLES, CLINICAL_ROLES
from clinic.core.otp import qr_svg
from clinic.workflows import (
    held_appointment_today,
    open_appointment_today,
    screening_evaluate,
    session_log,
)
from patients.messages import emergency_words, format_date, message_language
from patients.models import Patient
from patients.selectors import patient_history
from patients.services import ARCHIVED_REFUSAL
from treatments import booking
from treatments.aftercare import INSTRUCTIONS, PROCEDURE_WORDS, session_link_url
from treatments.entered_in_error import session_follow_up_preview
from treatments.forms_booking import ClearHoldForm
from treatments.models import Appointment, SessionStatus, TreatedArea, TreatmentSession
from treatments.services import (
    SESSION_EDITABLE_FIELDS,
    session_add_addendum,
    session_mark_entered_in_error,
    session_sign,
    session_update,
)

from .forms import (
    AddendumForm,
    EnteredInErrorForm,
    SessionEditForm,
    SessionLogForm,
    SignForm,
    show_error,
)
from .selectors import (
    aftercare_message,
    lots_offered,
    patient_chart,
    session_follow_up_messages,
    session_plan,
    session_series,
    sessions_loaded,
)

clinical = staff_required(roles=CLINICAL_ROLES)


SESSION_ALREADY_SUBMITTED = gettext_lazy(
    "This form was already submitted; here is the session it created."
)


def _patient(request: HttpRequest, uuid: Any) -> Patient:
    patients = Patient.objects.select_related("clinic", "archived_by")
    return visible_or_404(patients, request, uuid, roles=CLINICAL_ROLES)


def _session(request: HttpRequest, uuid: Any) -> TreatmentSession:
    return visible_or_404(sessions_loaded(), request, uuid)


# --- the chart -----------------------------------------------------------------------------


def _cursor(request: HttpRequest, name: str) -> datetime | None:
    """A keyset cursor (an aware time, never patient data) from the query string; a bad or
    missing one means the first page."""
    try:
        moment = parse_datetime(request.GET.get(name, ""))
    except ValueError:
        return None
    return moment if moment is not None and timezone.is_aware(moment) else None


@clinical
def chart(request: HttpRequest, uuid: Any) -> HttpResponse:
    patient = _patient(request, uuid)
    history, older = patient_history(patient=patient, before=_cursor(request, "history_before"))
    return render(
        request,
        "clinic/chart.html",
        {
            "chart": patient_chart(patient=patient, user=request.user),
            "patient": patient,
            "history": history,
            "history_older": older.isoformat() if older else None,
            # The roles already read for the page guard (no query); the archive page checks
            # the role at the patient's clinic.
            "can_archive": bool(held_roles(request) & ARCHIVE_ROLES),
        },
    )


# --- logging a session ---------------------------------------------------------------------


@clinical
def session_new(request: HttpRequest, uuid: Any) -> HttpResponse:
    """Log a session without an appointment (walk-in, or an appointment booked elsewhere)."""
    return _log(request, _patient(request, uuid), appointment=None)


@clinical
def session_new_from_appointment(request: HttpRequest, uuid: Any) -> HttpResponse:
    appointments = Appointment.objects.select_related("patient__clinic", "series")
    appointment = visible_or_404(appointments, request, uuid, roles=CLINICAL_ROLES)
    # A session entered in error has let go of its appointment; never count one anyway.
    existing = (
        TreatmentSession.objects.filter(appointment=appointment)
        .exclude(status=SessionStatus.ENTERED_IN_ERROR)
        .first()
    )
    if existing is not None:
        token = posted_token(request.POST) if request.method == "POST" else None
        made = form_token_record(token=token, model=TreatmentSession, clinic=appointment.clinic)
        if made == existing:
            messages.info(request, SESSION_ALREADY_SUBMITTED)
        else:
            messages.info(request, "A session is already logged for this appointment.")
        return redirect("clinical:session", uuid=existing.uuid)
    if request.method == "GET":
        # Opening the form is the patient going in: booked or arrived becomes in treatment
        # (idempotent; a held appointment waits for its clearance).
        booking.appointment_start_treatment(appointment=appointment)
    return _log(request, appointment.patient, appointment=appointment)


HOLD_PREFIX = "hold"


def _clear_hold(request: HttpRequest, appointment: Appointment, form: ClearHoldForm) -> bool:
    """Clear the appointment's safety hold from a clinical page; errors go beside the fields."""
    if not form.is_valid():
        return False
    try:
        booking.appointment_clear_hold(
            appointment=appointment, user=request.user, reason=form.cleaned_data["reason"]
        )
    except ClinicError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return False
    messages.success(request, "Safety hold cleared; the reason is kept with your name.")
    return True


def _log(request: HttpRequest, patient: Patient, *, appointment: Appointment | None) -> Any:
    if patient.archived_at is not None:
        messages.error(request, ARCHIVED_REFUSAL)
        return redirect("clinical:chart", uuid=patient.uuid)
    data = request.POST if request.method == "POST" else None
    hold_form = ClearHoldForm(prefix=HOLD_PREFIX)
    if data is not None and appointment is not None and "clear_hold" in data:
        # The hold's own form on this page: clear it, then log the session.
        hold_form = ClearHoldForm(data, prefix=HOLD_PREFIX)
        if _clear_hold(request, appointment, hold_form):
            return redirect(request.path)
        data = None
    plan = session_plan(appointment=appointment)
    form = SessionLogForm(data, clinic=patient.clinic, initial=plan.initial)
    if data is not None and form.is_valid():
        try:
            session = session_log(
                practitioner=request.user,
                patient=patient,
                appointment=appointment,
                form_token=form.token(),
                **form.workflow_kwargs(),
            )
        except (ClinicError, ValidationError) as error:
            show_error(form, error)
        else:
            if session.already_submitted:
                messages.info(request, SESSION_ALREADY_SUBMITTED)
                return redirect("clinical:session", uuid=session.uuid)
            messages.success(request, "Session saved. Print the aftercare sheet for the patient.")
            return redirect("clinical:aftercare", uuid=session.uuid)
    method = form.data.get("delivery_method", "") if form.is_bound else plan.initial_method
    lot_options = lots_offered(clinic=patient.clinic, product=plan.product)
    return render(
        request,
        "clinic/session_log.html",
        {
            "patient": patient,
            "appointment": appointment,
            "form": form,
            "screening": screening_evaluate(
                patient=patient, delivery_method=method, answers=form.answers()
            ),
            "plan": plan,
            "lot_options": lot_options,
            "planned_lots": [lot for lot in lot_options if lot.product == plan.product],
            "hold_form": hold_form,
            # A walk-in while today's appointment is held: the way to clear that hold.
            "held_today": held_appointment_today(patient=patient) if appointment is None else None,
            # A walk-in while the patient has an open appointment today: log against it.
            "open_today": open_appointment_today(patient=patient) if appointment is None else None,
        },
        status=200,
    )


@clinical
@require_POST
def screening_panel(request: HttpRequest, uuid: Any) -> HttpResponse:
    """The screening findings for the method and answers typed so far (HTMX refresh)."""
    patient = _patient(request, uuid)
    form = SessionLogForm(request.POST, clinic=patient.clinic)
    screening = screening_evaluate(
        patient=patient,
        delivery_method=request.POST.get("delivery_method", ""),
        answers=form.answers(),
    )
    return render(
        request, "clinic/session_screening.html", {"patient": patient, "screening": screening}
    )


# --- the session page ----------------------------------------------------------------------


def _session_page(request: HttpRequest, session: TreatmentSession, **forms: Any) -> HttpResponse:
    context = {
        "session": session,
        "area_labels": [TreatedArea(a).label for a in session.treated_areas],
        "aftercare_message": aftercare_message(session),
        "sign_form": forms.get("sign_form") or SignForm(),
        "addendum_form": forms.get("addendum_form") or AddendumForm(),
        "error_form": forms.get("error_form") or EnteredInErrorForm(),
        "hold_form": forms.get("hold_form") or ClearHoldForm(prefix=HOLD_PREFIX),
        "follow_up": session_follow_up_messages(session),
        "series": session_series(session),
    }
    return render(request, "clinic/session_detail.html", context)


@clinical
def session_detail(request: HttpRequest, uuid: Any) -> HttpResponse:
    return _session_page(request, _session(request, uuid))


@clinical
def session_edit(request: HttpRequest, uuid: Any) -> HttpResponse:
    session = _session(request, uuid)
    data = request.POST if request.method == "POST" else None
    initial = {name: getattr(session, name) for name in SESSION_EDITABLE_FIELDS}
    form = SessionEditForm(data, session=session, initial=initial)
    if data is not None and form.is_valid():
        try:
            session_update(
                session=session, **{n: form.cleaned_data[n] for n in SESSION_EDITABLE_FIELDS}
            )
        except (ClinicError, ValidationError) as error:
            show_error(form, error)
        else:
            messages.success(request, "Session updated.")
            return redirect("clinical:session", uuid=session.uuid)
    return render(request, "clinic/session_edit.html", {"session": session, "form": form})


@clinical
@require_POST
def session_sign_view(request: HttpRequest, uuid: Any) -> HttpResponse:
    session = _session(request, uuid)
    form = SignForm(request.POST)
    if form.is_valid():
        try:
            session_sign(session=session, user=request.user)
        except ClinicError as error:
            form.add_error("confirm", error.message)
        else:
            messages.success(request, "Session signed. It is now locked; correct it by addenda.")
            return redirect("clinical:session", uuid=session.uuid)
    return _session_page(request, session, sign_form=form)


@clinical
@require_POST
def session_addendum(request: HttpRequest, uuid: Any) -> HttpResponse:
    session = _session(request, uuid)
    form = AddendumForm(request.POST)
    if form.is_valid():
        try:
            addendum = session_add_addendum(
                session=session,
                author=request.user,
                text=form.cleaned_data["text"],
                form_token=form.token(),
            )
        except (ClinicError, ValidationError) as error:
            show_error(form, error)
        else:
            if addendum.already_submitted:
                messages.info(
                    request, _("This form was already submitted; here is the addendum it added.")
                )
            else:
                messages.success(request, "Addendum added.")
            return redirect("clinical:session", uuid=session.uuid)
    return _session_page(request, session, addendum_form=form)


def _confirm_entered_in_error(
    request: HttpRequest, session: TreatmentSession, form: EnteredInErrorForm
) -> HttpResponse:
    """Say what marking the session entered in error will stop, counted now, before it does."""
    will = session_follow_up_preview(session=session)
    effects = [
        ngettext(
            "%(count)d unsent message to the patient will be stopped.",
            "%(count)d unsent messages to the patient will be stopped.",
            will.messages,
        )
        % {"count": will.messages},
        ngettext(
            "%(count)d open check-in will be cancelled.",
            "%(count)d open check-ins will be cancelled.",
            will.checkins,
        )
        % {"count": will.checkins},
        ngettext(
            "%(count)d personal link will stop working.",
            "%(count)d personal links will stop working.",
            will.links,
        )
        % {"count": will.links},
        ngettext(
            "%(count)d front-desk call will be cancelled.",
            "%(count)d front-desk calls will be cancelled.",
            will.calls,
        )
        % {"count": will.calls},
    ]
    if will.notices:
        effects.append(
            ngettext(
                "The session leaves %(count)d unsent recall notice.",
                "The session leaves %(count)d unsent recall notices.",
                will.notices,
            )
            % {"count": will.notices}
        )
    if will.frees_appointment:
        effects.append(
            _("Its appointment goes back to arrived, so the correct session can be logged.")
        )
    return confirm_page(
        request,
        heading=_("Mark this session entered in error?"),
        effects=effects,
        action_url=reverse("clinical:session_entered_in_error", kwargs={"uuid": session.uuid}),
        form=form,
        fields=["reason"],
        # Ticked on the session page already: the confirmation page is the second ask.
        hidden=[("understood", "on")],
        confirm_label=_("Yes, mark entered in error"),
        back_url=reverse("clinical:session", kwargs={"uuid": session.uuid}),
        back_label=_("Keep the session"),
    )


@clinical
@require_POST
def session_entered_in_error(request: HttpRequest, uuid: Any) -> HttpResponse:
    session = _session(request, uuid)
    form = EnteredInErrorForm(request.POST)
    if form.is_valid() and not confirmed(request):
        return _confirm_entered_in_error(request, session, form)
    if form.is_valid():
        try:
            done = session_mark_entered_in_error(
                session=session, user=request.user, reason=form.cleaned_data["reason"]
            )
        except ClinicError as error:
            form.add_error("reason", error.message)
        else:
            stopped, calls = len(done.follow_up.stopped), done.follow_up.calls_cancelled
            messages.success(
                request,
                f"Session marked entered in error: {stopped} unsent message"
                f"{'s' if stopped != 1 else ''} stopped, {calls} front-desk call"
                f"{'s' if calls != 1 else ''} cancelled, its check-ins cancelled and its "
                "personal links ended.",
            )
            if done.follow_up.notices_withdrawn:
                messages.info(
                    request,
                    f"{done.follow_up.notices_withdrawn} recall notice(s) withdrawn: the patient "
                    "has no other session with the recalled lot.",
                )
            if done.appointment_freed is not None:
                messages.info(
                    request,
                    "Its appointment is open again (arrived): log the correct session from it.",
                )
            unit = session.lot.product.unit
            if done.units_not_returned:
                messages.warning(
                    request,
                    f"{done.units_returned} of {session.units_used} {unit}(s) went back to lot "
                    f"{session.lot.lot_number}: its received quantity was corrected to "
                    f"{session.lot.quantity_received}, so {done.units_not_returned} could not "
                    "be returned. The lot's history records it; count the stock.",
                )
            else:
                messages.info(
                    request,
                    f"{done.units_returned} {unit}(s) went back to lot {session.lot.lot_number}.",
                )
            return redirect("clinical:session", uuid=session.uuid)
    return _session_page(request, session, error_form=form)


@clinical
@require_POST
def session_clear_hold(request: HttpRequest, uuid: Any) -> HttpResponse:
    """Clear the safety hold of the session's appointment (left open by a session logged
    before holds blocked it): its own step, with a reason and a confirmation."""
    session = _session(request, uuid)
    form = ClearHoldForm(request.POST, prefix=HOLD_PREFIX)
    if session.appointment is None:
        form.is_valid()
        form.add_error(None, "This session has no appointment.")
    elif _clear_hold(request, session.appointment, form):
        return redirect("clinical:session", uuid=session.uuid)
    return _session_page(request, session, hold_form=form)


@clinical
def session_aftercare(request: HttpRequest, uuid: Any) -> HttpResponse:
    """The printable aftercare sheet, with the session's personal link as a QR code.

    The printed part is the patient's, so it is rendered in the patient's language (dates as
    that language writes them, in the clinic's zone) and names the clinic's own emergency
    number and phone; the page around it (back link, message state) stays the staff's."""
    session = _session(request, uuid)
    url = session_link_url(session)
    clinic, patient = session.clinic, session.patient
    language = message_language(patient.language)
    with translation.override(language):
        sheet = render_to_string(
            "clinic/session_aftercare_sheet.html",
            {
                "session": session,
                "patient": patient,
                "clinic": clinic,
                "language": language,
                "treated_on": format_date(session.performed_at, language=language, clinic=clinic),
                "procedure": PROCEDURE_WORDS.get(session.delivery_method, ""),
                "instructions": INSTRUCTIONS,
                "emergency": emergency_words(clinic),
                **clinic_numbers(clinic),
                "link_url": url,
                "qr_svg": qr_svg(url) if url else "",
            },
            request=request,
        )
    return render(
        request,
        "clinic/session_aftercare.html",
        {"session": session, "sheet": sheet, "aftercare_message": aftercare_message(session)},
    )
