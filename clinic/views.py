"""Top-floor pages: the staff dashboard."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from clinic.core.access import staff_required
from clinic.core.models import Membership


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    memberships = Membership.objects.active().filter(user=request.user).select_related("clinic")
    return render(request, "clinic/dashboard.html", {"memberships": memberships})
