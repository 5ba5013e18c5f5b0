"""The patient's recall notice, under /r/ like the report form: `/r/<token>/` with a recall
link keeps the link's id in the browser's session and redirects here. The page shows that
patient's notice only (their product, lot and treatment dates, what to watch for, the clinic's
phone) in their language, and an "I have read this" button; acknowledging twice is harmless.
A link that is not a live recall link gets the same neutral page as any unknown link."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from patients.models import Language, PersonalLink
from treatments.models import RecallNotice
from treatments.recalls import notice_for_link, recall_notice_acknowledge

from .views import SESSION_LANGUAGE, SESSION_LINK, _neutral, clinic_numbers, rate_limited


def notice_for_link_id(link_id: int | None) -> RecallNotice | None:
    if not link_id:
        return None
    return notice_for_link(PersonalLink.objects.live().filter(pk=link_id).first())


def recall_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Loads the notice of the recall link this browser session holds (or the neutral page)
    and renders in the patient's language unless they chose the other one."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        notice = notice_for_link_id(request.session.get(SESSION_LINK))
        if notice is None:
            return _neutral(request)
        chosen = request.session.get(SESSION_LANGUAGE)
        language = chosen if chosen in Language.values else notice.patient.language
        with translation.override(language):
            return view(request, notice, *args, **kwargs)

    return never_cache(wrapper)


def _context(notice: RecallNotice) -> dict[str, Any]:
    lot = notice.recall.lot
    clinic = lot.product.clinic
    dates = [
        clinic.local(performed_at).date()
        for performed_at in notice.sessions.order_by("performed_at").values_list(
            "performed_at", flat=True
        )
    ]
    return {
        "notice": notice,
        "first_name": notice.patient.first_name,
        "product_name": lot.product.name,
        "lot_number": lot.lot_number,
        "treatment_dates": dates,
        "acknowledged_on": (
            clinic.local(notice.acknowledged_at).date() if notice.acknowledged_at else None
        ),
        **clinic_numbers(clinic),
        "languages": Language.choices,
    }


@require_GET
@rate_limited("page")
@recall_page
def notice(request: HttpRequest, notice: RecallNotice) -> HttpResponse:
    return render(request, "adverse_events/patient_recall.html", _context(notice))


@require_POST
@rate_limited("post")
@recall_page
def acknowledge(request: HttpRequest, notice: RecallNotice) -> HttpResponse:
    recall_notice_acknowledge(notice=notice)
    # Redirect after POST: a reload never posts again (and posting again changes nothing).
    return redirect("report:recall")
