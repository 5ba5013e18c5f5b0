"""Top-floor pages: the staff dashboard."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from clinic.core.access import staff_required
from clinic.core.models import Membership
from clinic.health import delivery_health


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    memberships = Membership.objects.active().filter(user=request.user).select_related("clinic")
    return render(request, "clinic/dashboard.html", {"memberships": memberships})


@never_cache
@staff_required
def delivery_health_view(request: HttpRequest) -> JsonResponse:
    """Staff-only: delivery health of the user's clinics (counts, never patient data).
    Always 200 with `healthy` in the body; `manage.py delivery_health` exits 1 instead."""
    health = delivery_health(clinic_ids=Membership.clinic_ids_for(request.user))
    return JsonResponse(health.as_json())
