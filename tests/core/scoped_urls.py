"""A URLconf for tests of the access bases: the project's URLs plus tiny views built on them."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import include, path
from rest_framework import mixins, serializers

from clinic.core.access import ClinicScopedViewSet, staff_required, visible_or_404
from clinic.core.models import SAFETY_LEAD_ONLY, ClinicClosure, Membership
from clinic.urls import urlpatterns as project_urlpatterns


@staff_required
def any_staff(request):
    return HttpResponse("ok")


@staff_required(roles=SAFETY_LEAD_ONLY)
def safety_lead_only(request):
    return HttpResponse("ok")


@staff_required
def closure_detail(request, uuid):
    return HttpResponse(str(visible_or_404(ClinicClosure, request, uuid).pk))


class ClosureSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClinicClosure
        fields = ["uuid", "starts_on", "ends_on", "reason"]


class ClosureViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicScopedViewSet):
    queryset = ClinicClosure.objects.order_by("pk")
    serializer_class = ClosureSerializer
    pagination_class = None


class LeadClosureViewSet(ClosureViewSet):
    required_roles = SAFETY_LEAD_ONLY


def n_plus_one(request):
    # Deliberately without select_related: one clinic query per membership.
    names = [m.clinic.name for m in Membership.objects.filter(user=request.user)]
    return HttpResponse(", ".join(names))


urlpatterns = [
    path("t/any/", any_staff, name="t-any"),
    path("t/lead/", safety_lead_only, name="t-lead"),
    path("t/closure/<uuid:uuid>/", closure_detail, name="t-closure"),
    path("t/api/closures/", ClosureViewSet.as_view({"get": "list"}), name="t-api-list"),
    path(
        "t/api/closures/<uuid:uuid>/",
        ClosureViewSet.as_view({"get": "retrieve"}),
        name="t-api-detail",
    ),
    path("t/api/lead-closures/", LeadClosureViewSet.as_view({"get": "list"}), name="t-api-lead"),
    path("t/n-plus-one/", n_plus_one, name="t-n-plus-one"),
    path("", include(project_urlpatterns)),
]
