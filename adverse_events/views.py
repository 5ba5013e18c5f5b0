"""The patient's pages (no account: a personal link) and the staff photo view.

The flow: `/r/<token>/` checks the link, keeps only its id in the browser's session and
redirects to `/r/` (so the token leaves the address bar and the history after the first
visit). Every page after that works from the session; a link that stops being live (expired,
revoked) gets the same neutral page as an unknown one. Pages speak the patient's language
(Patient.language) unless they chose the other one with the switch.
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
    ChooseForm,
    ExtrasForm,
    HiddenChoiceForm,
    ReactionDetailForm,
    SubmissionIdForm,
    new_submission_id,
)
from .photos import photo_prepare
from .selectors import ReportTarget

SESSION_LINK = "report_link_id"
SESSION_LANGUAGE = "report_language"
SESSION_LAST = "report_last_submission"

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


def _context(target: ReportTarget, **extra: Any) -> dict[str, Any]:
    return {
        "first_name": target.patient.first_name,
        "treatment_date": target.treatment_date,
        "clinic_name": target.clinic.name,
        "clinic_phone": target.clinic.phone,
        "clinic_tel": "".join(c for c in target.clinic.phone if c.isdigit() or c == "+"),
        "languages": Language.choices,
        **extra,
    }


def _today(target: ReportTarget):
    return target.clinic.today()


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
    today = _today(target)
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
    valid = all([d.is_valid() for d in details]) & extras.is_valid()
    if not valid:
        return page()
    photo = None
    upload = extras.cleaned_data.get("photo")
    if upload:
        try:
            photo = photo_prepare(upload)
        except ClinicError as error:
            extras.add_error("photo", error.message)
            return page()

    def show_error(error: ClinicError) -> HttpResponse:
        _attach_error(error, details, extras)
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
    )


def _record(
    request: HttpRequest,
    target: ReportTarget,
    *,
    submission_id: uuid.UUID,
    all_fine: bool,
    on_error: Callable[[ClinicError], HttpResponse],
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
        _context(target, submission=submission, language=translation.get_language()),
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
    return render(request, "adverse_events/patient_urgent.html", _context(target))


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
