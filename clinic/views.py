"""Top-floor pages: the staff dashboard, and its live part (the alarm panel, the triage
count and the practitioner's day list), which an open dashboard polls with htmx every
DASHBOARD_POLL_SECONDS."""

from dataclasses import replace
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from clinic.core import selectors as core_selectors
from clinic.core.access import (
    active_clinic,
    held_roles,
    in_active_clinic,
    is_verified,
    staff_required,
    visible,
)
from clinic.core.middleware import signed_out_poll_response
from clinic.core.models import ALL_ROLES, CLINICAL_ROLES, MANAGER_ONLY, Clinic, Membership, Role
from clinic.health import delivery_health

from . import dashboard as board
from .forms_triage import AcknowledgeForm


@staff_required(roles=ALL_ROLES)
def dashboard(request: HttpRequest) -> HttpResponse:
    """One page, panels by role. The front desk's panels never read clinical models; a
    manager's staff panel reads no patient data at all."""
    user = request.user
    roles = _for_active_clinic(board.dashboard_roles(user), request)
    context: dict = {"roles": roles, "ack_form": AcknowledgeForm()}

    def panel(queryset: Any) -> board.Panel:
        # A user of several clinics sees the clinic picked in the header.
        return board.panel(in_active_clinic(queryset, request))

    if roles.clinical:
        context |= _live(request) | {
            "prolonged": panel(board.reactions_prolonged(user=user)),
            "sessions": panel(board.sessions_today(user=user)),
            "response": board.checkin_response_rate(
                user=user, narrow=lambda qs: in_active_clinic(qs, request)
            ),
            "signals": panel(board.lots_with_open_signals(user=user)),
        }
    if roles.front_desk:
        context |= {
            "appointments": panel(board.appointments_today(user=user)),
            "calls": panel(board.calls_open(user=user)),
            "to_book": board.series_to_book_panel(
                user=user, narrow=lambda qs: in_active_clinic(qs, request)
            ),
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


def _for_active_clinic(roles: board.Roles, request: HttpRequest) -> board.Roles:
    """Times on the dashboard in the active clinic's zone (a user of several clinics)."""
    clinic = active_clinic(request)
    return replace(roles, time_zone=clinic.time_zone) if clinic is not None else roles


def _live(request: HttpRequest) -> dict[str, Any]:
    """What the poll refreshes: open alarms, the triage queue and its count, and when."""
    user = request.user
    return {
        "alarms": board.panel(in_active_clinic(board.alarms_unacknowledged(user=user), request)),
        "to_triage": board.panel(in_active_clinic(board.reports_to_triage(user=user), request)),
        # The practitioner's own day: arrivals the front desk marks show on the next poll.
        "day": board.panel(
            in_active_clinic(board.practitioner_day(user=user), request), limit=board.DAY_LIMIT
        ),
        "open_statuses": board.DAY_OPEN_STATUSES,
        "updated_at": timezone.now(),
        "poll_seconds": settings.DASHBOARD_POLL_SECONDS,
    }


@never_cache
def dashboard_live(request: HttpRequest) -> HttpResponse:
    """The alarm panel, triage count and day list for the dashboard's poll (clinicians only).

    A poll after the session ended gets "signed out; not updating" with htmx's stop-polling
    status (286), never the login page inside the panel.
    """
    if not request.user.is_authenticated or not is_verified(request.user):
        return signed_out_poll_response()
    # From the memberships read once per request (which the active clinic needs anyway), so
    # a poll costs no query for them beyond that one.
    held = held_roles(request)
    active = active_clinic(request)
    roles = board.Roles(
        clinical=bool(held & CLINICAL_ROLES),
        front_desk=Role.FRONT_DESK in held,
        manager=Role.MANAGER in held,
        time_zone=active.time_zone if active is not None else "UTC",
    )
    if not roles.clinical:
        return HttpResponse("Clinical roles only.", status=403)
    context = _live(request) | {"roles": roles, "ack_form": AcknowledgeForm(), "oob": True}
    return render(request, "clinic/dashboard_live.html", context)
