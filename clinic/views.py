"""Top-floor pages: the staff dashboard."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from clinic.core.access import staff_required
from clinic.core.models import Membership
from clinic.health import delivery_health

from . import dashboard as board
from .forms_triage import AcknowledgeForm


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """One page, panels by role. The front desk's panels never read clinical models."""
    user = request.user
    roles = board.dashboard_roles(user)
    context: dict = {"roles": roles, "ack_form": AcknowledgeForm()}
    if roles.clinical:
        context |= {
            "alarms": board.panel(board.alarms_unacknowledged(user=user)),
            "to_triage": board.panel(board.reports_to_triage(user=user)),
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
    return render(request, "clinic/dashboard.html", context)


@never_cache
@staff_required
def delivery_health_view(request: HttpRequest) -> JsonResponse:
    """Staff-only: delivery health of the user's clinics (counts, never patient data).
    Always 200 with `healthy` in the body; `manage.py delivery_health` exits 1 instead."""
    health = delivery_health(clinic_ids=Membership.clinic_ids_for(request.user))
    return JsonResponse(health.as_json())
