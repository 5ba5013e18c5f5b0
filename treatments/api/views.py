"""/api/v1/ appointments, series (book), sessions (log), products, lots, check-ins.

Writes call the same workflows as the pages: `clinic.workflows.session_log` (screening, lot
rules, stock) and `series_book_with_safety_hold` (all or nothing, the safety hold)."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from clinic import workflows
from clinic.api.base import ReadViewSet
from clinic.core.models import CLINICAL_ROLES
from treatments.models import (
    Appointment,
    CheckIn,
    Product,
    ProductLot,
    TreatmentSeries,
    TreatmentSession,
)

from . import filters
from .serializers import (
    AppointmentSerializer,
    CheckInSerializer,
    LotSerializer,
    ProductSerializer,
    SeriesBookSerializer,
    SeriesSerializer,
    SessionLogSerializer,
    SessionSerializer,
)


class AppointmentViewSet(ReadViewSet):
    queryset = Appointment.objects.select_related("patient", "practitioner", "series")
    serializer_class = AppointmentSerializer
    filterset_class = filters.AppointmentFilter
    ordering_fields: ClassVar[list[str]] = ["created_at", "starts_at"]


class SeriesViewSet(mixins.CreateModelMixin, ReadViewSet):
    queryset = TreatmentSeries.objects.select_related("patient", "template")
    serializer_class = SeriesSerializer
    filterset_class = filters.SeriesFilter

    @extend_schema(request=SeriesBookSerializer, responses={201: SeriesSerializer})
    def create(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        """Book every session of a series at once (first one on safety hold if needed)."""
        data = SeriesBookSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        series = workflows.series_book_with_safety_hold(**data.validated_data)
        series = self.get_queryset().get(pk=series.pk)
        return Response(SeriesSerializer(series).data, status=status.HTTP_201_CREATED)


class SessionViewSet(mixins.CreateModelMixin, ReadViewSet):
    required_roles = CLINICAL_ROLES
    queryset = TreatmentSession.objects.select_related(
        "patient", "practitioner", "appointment", "series", "lot", "signed_by"
    )
    serializer_class = SessionSerializer
    filterset_class = filters.SessionFilter
    ordering_fields: ClassVar[list[str]] = ["created_at", "performed_at"]

    @extend_schema(request=SessionLogSerializer, responses={201: SessionSerializer})
    def create(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        """Log a session: screening, lot rules, stock, report link and check-ins."""
        data = SessionLogSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        session = workflows.session_log(practitioner=request.user, **data.validated_data)
        session = self.get_queryset().get(pk=session.pk)
        return Response(SessionSerializer(session).data, status=status.HTTP_201_CREATED)


class ProductViewSet(ReadViewSet):
    required_roles = CLINICAL_ROLES
    queryset = Product.objects.select_related("clinic")
    serializer_class = ProductSerializer
    filterset_class = filters.ProductFilter


class LotViewSet(ReadViewSet):
    required_roles = CLINICAL_ROLES
    queryset = ProductLot.objects.select_related("product")
    serializer_class = LotSerializer
    filterset_class = filters.LotFilter
    ordering_fields: ClassVar[list[str]] = ["created_at", "expiry_date"]


class CheckInViewSet(ReadViewSet):
    required_roles = CLINICAL_ROLES
    queryset = CheckIn.objects.select_related("session")
    serializer_class = CheckInSerializer
    filterset_class = filters.CheckInFilter
    ordering_fields: ClassVar[list[str]] = ["created_at", "due_at"]
