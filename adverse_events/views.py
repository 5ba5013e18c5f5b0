"""The patient's pages (no account: a personal link) and the staff photo view.

The flow: `/r/<token>/` checks the link, keeps only its id in the browser's session and
redirects to `/r/` (so the token leaves the address bar and the history after the first
visit). Every page after that works from the session; a link that stops being live (expired,
revoked) gets the same neutral page as an unknown one. Pages speak the patient's language
(Patient.language) unless they chose the other one with the switch.

Words first: a refused photo (the form's one optional part that can fail) never drops the
report. It is saved without the photo, a red flag alarms as always, and the next page says why
the photo was not kept and offers `/r/photo/` to add one to that same submission. Every page
that tells a patient to get help shows their clinic's own numbers (`clinic_numbers`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from clinic.core.access import staff_required
from clinic.core.exceptions import ClinicError
from clinic.core.models import CLINICAL_ROLES
from patients.links import link_resolve
from patients.models import Language, LinkPurpose, PersonalLink
from treatments.recalls import notice_for_link

from . import selectors, services
from .forms import (
    AddPhotoForm,
    ChooseForm,
    ExtrasForm,
    HiddenChoiceForm,
    ReactionDetailForm,
    SubmissionIdForm,
    new_submission_id,
)
from .models import Submission
from .photos import (
    PhotoRefused,
    photo_prepare,
    refusal_message,
    refusal_reason_of_form_error,
)
from .selectors import ReportTarget

SESSION_LINK = "report_link_id"
SESSION_LANGUAGE = "report_language"
SESSION_LAST = "report_last_submission"
# {"submission": uuid, "reason": key of photos.REFUSALS}: the photo sent with that submission
# was refused, so its pages say so (in the page's language) and offer to add one.
SESSION_PHOTO_REFUSED = "report_photo_refused"
# The uuid of the submission a photo was just added to (the "add a photo" page says so).
SESSION_PHOTO_ADDED = "report_photo_added"

# Public pages are rate limited per client address (django-ratelimit, on the default cache).
# Generous enough for a patient and a shared clinic Wi-Fi, tight enough to stop a flood.
DEFAULT_RATES = {"entry": "20/m", "page": "60/m", "post": "20/m"}


def _rate(kind: str) -> str:
    return getattr(settings, "REPORT_RATE_LIMITS", {}).get(kind, DEFAULT_RATES[kind])


def client_address(group: str, request: HttpRequest) -> str:
    """The client's address: behind our proxy, the hop it appended to X-Forwarded-For."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def _language_of(request: HttpRequest, target: ReportTarget | None) -> str:
    chosen = request.session.get(SESSION_LANGUAGE)
    if chosen in Language.values:
        return chosen
    if target is not None and target.patient.language in Language.values:
        return target.patient.language
    return translation.get_language_from_request(request) or Language.EN


def _too_many(request: HttpRequest) -> HttpResponse:
    with translation.override(_language_of(request, None)):
        return render(request, "adverse_events/patient_rate_limited.html", status=429)


def _neutral(request: HttpRequest) -> HttpResponse:
    """The one page for an unknown, expired or revoked link (same status, same body)."""
    with translation.override(_language_of(request, None)):
        return render(request, "adverse_events/patient_link_invalid.html", status=404)


def rate_limited(kind: str) -> Callable:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            group = "report-post" if kind == "post" else f"report-{kind}"
            if is_ratelimited(
                request,
                group=group,
                key=client_address,
                rate=_rate(kind),
                method=("POST",) if kind == "post" else ("GET", "HEAD"),
                increment=True,
            ):
                return _too_many(request)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def patient_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Loads the link's target from the session (or answers with the neutral page), and
    renders in the patient's language. Never cached: the pages carry health answers."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        link_id = request.session.get(SESSION_LINK)
        target = selectors.report_target_for_link_id(link_id)
        if target is None:
            live = PersonalLink.objects.live().filter(pk=link_id).first() if link_id else None
            if notice_for_link(live) is not None:
                return redirect("report:recall")  # a recall link's pages are elsewhere
            request.session.pop(SESSION_LINK, None)
            return _neutral(request)
        with translation.override(_language_of(request, target)):
            return view(request, target, *args, **kwargs)

    return never_cache(wrapper)


def clinic_numbers(clinic: Any) -> dict[str, str]:
    """The clinic's own numbers for a patient page, as shown and as tel: targets. Never a
    number from a template or a translation: a clinic without an emergency number gets
    "call your local emergency number" (the templates' fallback when it is blank)."""
    return {
        "clinic_name": clinic.name,
        "clinic_phone": clinic.phone,
        "clinic_tel": clinic.phone_tel,
        "emergency_number": clinic.emergency_number,
        "emergency_tel": clinic.emergency_tel,  # "" when the clinic has none
    }


def _context(target: ReportTarget, **extra: Any) -> dict[str, Any]:
    return {
        "first_name": target.patient.first_name,
        "treatment_date": target.treatment_date,
        **clinic_numbers(target.clinic),
        "languages": Language.choices,
        **extra,
    }


# --- the entry: token -> session -----------------------------------------------------------


def no_referrer(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The URL with the token is never sent on as a referrer, whatever the global policy
    (which is "same-origin" so that form posts keep their Origin for the CSRF check)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapper


def _destination(link: PersonalLink | None) -> str | None:
    """Where a live link leads: a recall link to its recall notice, a report or check-in
    link to the report form; None when it leads nowhere (the neutral page)."""
    if link is None:
        return None
    if link.purpose == LinkPurpose.RECALL:
        return "report:recall" if notice_for_link(link) is not None else None
    return "report:start" if selectors.report_target(link) is not None else None


@never_cache
@no_referrer
@require_GET
@rate_limited("entry")
def entry(request: HttpRequest, token: str) -> HttpResponse:
    link = link_resolve(token)
    destination = _destination(link)
    if link is None or destination is None:
        request.session.pop(SESSION_LINK, None)
        return _neutral(request)
    # A new session key: nothing from before (or from another patient's link) carries over.
    request.session.cycle_key()
    for key in (SESSION_LINK, SESSION_LAST, SESSION_LANGUAGE):
        request.session.pop(key, None)
    request.session[SESSION_LINK] = link.pk
    services.link_mark_used(link=link)
    return redirect(destination)


# --- the pages -----------------------------------------------------------------------------


@require_GET
@rate_limited("page")
@patient_page
def start(request: HttpRequest, target: ReportTarget) -> HttpResponse:
    form = SubmissionIdForm(initial={"submission_id": new_submission_id()})
    return render(request, "adverse_events/patient_start.html", _context(target, form=form))


@require_POST
@rate_limited("post")
@patient_page
def all_fine(request: HttpRequest, target: ReportTarget) -> HttpResponse:
    form = SubmissionIdForm(request.POST)
    if not form.is_valid():
        return redirect("report:start")
    return _record(
        request,
        target,
        submission_id=form.cleaned_data["submission_id"],
        all_fine=True,
        on_error=lambda error: redirect("report:start"),
    )


@require_http_methods(["GET", "POST"])
@rate_limited("post")
@rate_limited("page")
@patient_page
def report(request: HttpRequest, target: ReportTarget) -> HttpResponse:
    language = translation.get_language()
    terms = list(selectors.reaction_terms())
    if request.method == "GET":
        choose = ChooseForm(
            initial={"submission_id": new_submission_id()}, terms=terms, language=language
        )
        return _choose_page(request, target, choose)
    if request.POST.get("step") != "details":
        choose = ChooseForm(request.POST, terms=terms, language=language)
        if not choose.is_valid():
            if choose.has_error("submission_id"):
                return redirect("report:report")
            return _choose_page(request, target, choose)
        return _details_page(request, target, choose, bound=False)

    choose = HiddenChoiceForm(request.POST, terms=terms, language=language)
    if not choose.is_valid():
        return redirect("report:report")
    return _details_page(request, target, choose, bound=True)


def _choose_page(request: HttpRequest, target: ReportTarget, choose: ChooseForm) -> HttpResponse:
    errors = []
    if choose.errors:
        errors = [(choose.first_error_anchor("terms"), e) for e in choose.errors.get("terms", [])]
    return render(
        request,
        "adverse_events/patient_choose.html",
        _context(target, form=choose, errors=errors, terms_field=choose["terms"]),
    )


def _details_page(
    request: HttpRequest, target: ReportTarget, choose: ChooseForm, *, bound: bool
) -> HttpResponse:
    language = translation.get_language()
    data = request.POST if bound else None
    today = target.clinic.today()
    details = [
        ReactionDetailForm(data, term=term, language=language, today=today)
        for term in choose.chosen_terms()
    ]
    extras = ExtrasForm(data, request.FILES if bound else None)
    hidden = HiddenChoiceForm(
        initial={
            "submission_id": choose.cleaned_data["submission_id"],
            "terms": choose.cleaned_data["terms"],
        },
        terms=list(selectors.reaction_terms()),
        language=language,
    )

    def page(status: int = 200) -> HttpResponse:
        errors = _summary(details, extras)
        red_flag = any(d.term.red_flag for d in details)
        return render(
            request,
            "adverse_events/patient_details.html",
            _context(
                target,
                hidden=hidden,
                details=details,
                extras=extras,
                errors=errors,
                red_flag=red_flag,
                photo_lost=bound and bool(request.FILES.get("photo")) and bool(errors),
            ),
            status=status,
        )

    if not bound:
        return page()
    details_valid = all([d.is_valid() for d in details])
    extras_valid = extras.is_valid()
    # Words first: the photo is the one optional part that can be refused. When it is the only
    # thing wrong, the report is saved without it (a red flag still raises its alarm now) and
    # the next page says why the photo was not kept and offers to add one.
    refused: str | None = None
    if not extras_valid and set(extras.errors) == {"photo"}:
        refused = refusal_reason_of_form_error(extras.errors.as_data()["photo"][0].code)
        extras_valid = True
    if not (details_valid and extras_valid):
        return page()
    photo = None
    upload = extras.cleaned_data.get("photo") if refused is None else None
    if upload:
        try:
            photo = photo_prepare(upload)
        except PhotoRefused as error:
            refused = error.reason

    def show_error(error: ClinicError) -> HttpResponse:
        _attach_error(error, details, extras)
        if refused and not extras.has_error("photo"):
            extras.add_error("photo", refusal_message(refused))
        return page()

    return _record(
        request,
        target,
        submission_id=choose.cleaned_data["submission_id"],
        all_fine=False,
        reactions=[d.to_input() for d in details],
        free_text=extras.cleaned_data.get("free_text", ""),
        photo=photo,
        on_error=show_error,
        photo_refused=refused,
    )


def _record(
    request: HttpRequest,
    target: ReportTarget,
    *,
    submission_id: uuid.UUID,
    all_fine: bool,
    on_error: Callable[[ClinicError], HttpResponse],
    photo_refused: str | None = None,
    **answers: Any,
) -> HttpResponse:
    try:
        recorded = services.submission_record(
            link=target.link,
            submission_id=submission_id,
            all_fine=all_fine,
            language=translation.get_language(),
            **answers,
        )
    except ClinicError as error:
        if error.field in ("link", "submission_id"):
            return _neutral(request)
        return on_error(error)
    submission = recorded.submission
    request.session[SESSION_LAST] = str(submission.uuid)
    request.session.pop(SESSION_PHOTO_ADDED, None)
    if photo_refused and not submission.photos.exists():
        request.session[SESSION_PHOTO_REFUSED] = {
            "submission": str(submission.uuid),
            "reason": photo_refused,
        }
    else:
        request.session.pop(SESSION_PHOTO_REFUSED, None)
    # Redirect after POST: a reload or the back button never posts again.
    return redirect("report:urgent" if submission.red_flag else "report:thanks")


def _attach_error(
    error: ClinicError, details: list[ReactionDetailForm], extras: ExtrasForm
) -> None:
    """Put a service's error next to its field ("reactions.1.ended_on" -> form 1's field)."""
    field = error.field or ""
    parts = field.split(".")
    if len(parts) == 3 and parts[0] == "reactions" and parts[1].isdigit():
        index, name = int(parts[1]), parts[2]
        if index < len(details) and name in details[index].fields:
            details[index].add_error(name, error.message)
            return
    if field in extras.fields:
        extras.add_error(field, error.message)
        return
    extras.add_error(None, error.message)


def _summary(details: list[ReactionDetailForm], extras: ExtrasForm) -> list[tuple[str, str]]:
    """(anchor id, message) for the error summary at the top of the page."""
    found: list[tuple[str, str]] = []
    for form in [*details, extras]:
        for name, messages in form.errors.items():
            anchor = form.first_error_anchor(name) if name in form.fields else "photo-section"
            label = form.fields[name].label if name in form.fields else ""
            prefix = f"{form.term_label}: " if isinstance(form, ReactionDetailForm) else ""
            for message in messages:
                found.append((anchor, f"{prefix}{label} {message}" if label else message))
    return found


def _photo_note(request: HttpRequest, submission: Submission) -> dict[str, Any]:
    """What the confirmation pages say about a refused photo of this submission (if any)."""
    refused = request.session.get(SESSION_PHOTO_REFUSED) or {}
    if refused.get("submission") != str(submission.uuid):
        return {"photo_refused": ""}
    message = refusal_message(refused.get("reason")) or refusal_message("not_a_photo")
    return {"photo_refused": message}


@require_GET
@rate_limited("page")
@patient_page
def thanks(request: HttpRequest, target: ReportTarget) -> HttpResponse:
    submission = selectors.submission_for_link(
        link=target.link, submission_uuid=request.session.get(SESSION_LAST)
    )
    if submission is None:
        return redirect("report:start")
    return render(
        request,
        "adverse_events/patient_thanks.html",
        _context(
            target,
            submission=submission,
            language=translation.get_language(),
            **_photo_note(request, submission),
        ),
    )


@require_GET
@rate_limited("page")
@patient_page
def urgent(request: HttpRequest, target: ReportTarget) -> HttpResponse:
    submission = selectors.submission_for_link(
        link=target.link, submission_uuid=request.session.get(SESSION_LAST)
    )
    if submission is None or not submission.red_flag:
        return redirect("report:thanks" if submission else "report:start")
    return render(
        request,
        "adverse_events/patient_urgent.html",
        _context(target, submission=submission, **_photo_note(request, submission)),
    )


@require_http_methods(["GET", "POST"])
@rate_limited("post")
@rate_limited("page")
@patient_page
def add_photo(request: HttpRequest, target: ReportTarget) -> HttpResponse:
    """Add a photo to the report just sent through this link (SESSION_LAST, checked against
    the link): an addition with its own time, never an edit of what the patient wrote."""
    submission = selectors.submission_for_link(
        link=target.link, submission_uuid=request.session.get(SESSION_LAST)
    )
    if submission is None or submission.all_fine:
        return redirect("report:start")
    posted = request.method == "POST"
    form = AddPhotoForm(request.POST if posted else None, request.FILES if posted else None)
    if posted and form.is_valid():
        try:
            services.submission_photo_add(
                link=target.link,
                submission=submission,
                photo=photo_prepare(form.cleaned_data["photo"]),
            )
        except ClinicError as error:
            if error.field == "link":
                return _neutral(request)
            form.add_error("photo", error.message)
        else:
            request.session.pop(SESSION_PHOTO_REFUSED, None)
            request.session[SESSION_PHOTO_ADDED] = str(submission.uuid)
            # Redirect after POST: a reload never adds the photo twice.
            return redirect("report:photo")
    added = request.session.get(SESSION_PHOTO_ADDED) == str(submission.uuid)
    errors = [(form.first_error_anchor("photo"), e) for e in form.errors.get("photo", [])]
    return render(
        request,
        "adverse_events/patient_add_photo.html",
        _context(
            target,
            submission=submission,
            form=form,
            errors=errors,
            added=added and request.method == "GET",
            back=reverse("report:urgent" if submission.red_flag else "report:thanks"),
            **_photo_note(request, submission),
        ),
    )


@require_POST
@rate_limited("post")
def language(request: HttpRequest) -> HttpResponse:
    """The language switch: remembered for this browser session only."""
    chosen = request.POST.get("language")
    if chosen in Language.values:
        request.session[SESSION_LANGUAGE] = chosen
    back = request.POST.get("next", "")
    if not (
        back.startswith(reverse("report:start"))
        and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})
    ):
        back = reverse("report:start")
    return redirect(back)


# --- staff: a patient's photo --------------------------------------------------------------


@never_cache
@require_GET
@staff_required(roles=CLINICAL_ROLES)
def photo(request: HttpRequest, uuid: uuid.UUID) -> HttpResponse:
    found = selectors.photo_for_staff(user=request.user, photo_uuid=uuid)
    if found is None:
        raise Http404("No such photo.")
    response = FileResponse(
        found.image.open("rb"),
        content_type=found.content_type,
        as_attachment=False,
        filename=f"photo-{found.uuid}.{found.extension}",
    )
    response["Cache-Control"] = "no-store, private"
    return response
