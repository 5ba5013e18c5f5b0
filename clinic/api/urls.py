"""The API router (mounted at /api/v1/, namespace "api") and the schema pages under /api/."""

from django.urls import path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import SimpleRouter

from adverse_events.api.views import AlarmViewSet, ReactionTermViewSet, ReactionViewSet
from patients.api.views import PatientViewSet
from treatments.api.views import CheckInViewSet, LotViewSet, ProductViewSet

from .auth import TokenIssueView, TokenRevokeAllView, TokenRevokeView
from .clinics import ClinicViewSet
from .docs import RedocView
from .pages import token_revoke, tokens
from .workflows import AppointmentWorkflowViewSet, SeriesWorkflowViewSet, SessionWorkflowViewSet

app_name = "api"

router = SimpleRouter()
router.register("clinics", ClinicViewSet, basename="clinic")
router.register("patients", PatientViewSet, basename="patient")
router.register("appointments", AppointmentWorkflowViewSet, basename="appointment")
router.register("series", SeriesWorkflowViewSet, basename="series")
router.register("sessions", SessionWorkflowViewSet, basename="session")
router.register("products", ProductViewSet, basename="product")
router.register("lots", LotViewSet, basename="lot")
router.register("reaction-terms", ReactionTermViewSet, basename="reaction-term")
router.register("reactions", ReactionViewSet, basename="reaction")
router.register("checkins", CheckInViewSet, basename="checkin")
router.register("alarms", AlarmViewSet, basename="alarm")

urlpatterns = [
    path("auth/token/", TokenIssueView.as_view(), name="token"),
    path("auth/token/revoke/", TokenRevokeView.as_view(), name="token-revoke"),
    path("auth/token/revoke-all/", TokenRevokeAllView.as_view(), name="token-revoke-all"),
    *router.urls,
]

# Mounted at /api/ (no namespace): the OpenAPI schema and its viewers, from local assets.
schema_urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("tokens/", tokens, name="api-tokens"),
    path("tokens/revoke/", token_revoke, name="api-token-revoke-page"),
]
