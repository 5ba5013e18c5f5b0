"""Top-floor pages: the staff dashboard, and its live part (the alarm panel and the triage
count), which an open dashboard polls with htmx every DASHBOARD_POLL_SECONDS."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from clinic.core import selectors as core_selectors
from clinic.core.access import is_verified, staff_required, visible
from clinic.core.middleware import signed_out_poll_response
from clinic.core.models import ALL_ROLES, MANAGER_ONLY, Clinic, Membership
from clinic.health import delivery_health

from . import dashboard as board
from .forms_triage import AcknowledgeForm


@staff_required(roles=ALL_ROLES)
def dashboard(request: HttpRequest) -> HttpResponse:
    """One page, panels by role. The front desk's panels never read clinical models; a
    manager's staff panel reads no patient data at all."""
    user = request.user
    roles = board.dashboard_roles(user)
    context: dict = {"roles": roles, "ack_form": AcknowledgeForm()}
    if roles.clinical:
        context |= _live(request) | {
            "prolonged": board.panel(board.reactions_prolonged(user=user)),
            "sessions": board.panel(board.sessions_today(user=user)),
            "response": board.checkin_response_rate(user=user),
            "signals": board.panel(board.lots_with_open_signals(user=user)),
        }
    if roles.front_desk:
        context |= {
            "appointments": board.panel(board.appointments_today(user=user)),
            "calls": board.panel(board.calls_open(user=user)),
            "to_book": board.panel(board.series_to_book(user=user)),
        }
    if roles.manager:
        context["staff_clinics"] = [
            (clinic, core_selectors.staff_counts(clinic=clinic))
            for clinic in visible(Clinic, request, roles=MANAGER_ONLY).order_by("name")
        ]
    return render(request, "clinic/dashboard.html", context)


@never_cache
@staff_required
def delivery_health_view(request: HttpRequest) -> JsonResponse:
    """Staff-only: delivery health of the user's clinics (counts, never patient data).
    Always 200 with `healthy` in the body; `manage.py delivery_health` exits 1 instead."""
    health = delivery_health(clinic_ids=Membership.clinic_ids_for(request.user))
    return JsonResponse(health.as_json())


def _live(request: HttpRequest) -> dict[str, Any]:
    """What the poll refreshes: open alarms, the triage queue and its count, and when."""
    user = request.user
    return {
        "alarms": board.panel(board.alarms_unacknowledged(user=user)),
        "to_triage": board.panel(board.reports_to_triage(user=user)),
        "updated_at": timezone.now(),
        "poll_seconds": settings.DASHBOARD_POLL_SECONDS,
    }


@never_cache
def dashboard_live(request: HttpRequest) -> HttpResponse:
    """The alarm panel and triage count for the dashboard's poll (clinicians only).

    A poll after the session ended gets "signed out; not updating" with htmx's stop-polling
    status (286), never the login page inside the panel.
    """
    if not request.user.is_authenticated or not is_verified(request.user):
        return signed_out_poll_response()
    roles = board.dashboard_roles(request.user)
    if not roles.clinical:
        return HttpResponse("Clinical roles only.", status=403)
    context = _live(request) | {"roles": roles, "ack_form": AcknowledgeForm(), "oob": True}
    return render(request, "clinic/dashboard_live.html", context)
