"""The API's writes that run a workflow of several apps, on the top floor beside
clinic/workflows.py: log a session (`session_log`: screening, lot rules, stock), book a series
(`series_book_with_safety_hold`: all or nothing, the safety hold) and arrive
(`appointment_confirm_with_safety_hold`: arrival re-checks the hold).

Each viewset extends the treatments app's read viewset, so scoping, roles, filters and the
response shapes stay the treatments app's; only the workflow call lives up here."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from clinic import workflows
from treatments.api.serializers import (
    AppointmentSerializer,
    SeriesBookSerializer,
    SeriesSerializer,
    SessionLogSerializer,
    SessionSerializer,
)
from treatments.api.views import AppointmentViewSet, SeriesViewSet, SessionViewSet


class AppointmentWorkflowViewSet(AppointmentViewSet):
    @extend_schema(request=None, responses={200: AppointmentSerializer})
    @action(detail=True, methods=["post"])
    def arrive(self, request: Any, uuid: str | None = None) -> Response:
        """The patient is here. A reaction reported since booking puts the appointment on
        safety hold (`safety_hold` true, `hold_cleared_at` null) until a clinician clears it."""
        appointment = workflows.appointment_confirm_with_safety_hold(appointment=self.get_object())
        return self._fresh(appointment)


class SeriesWorkflowViewSet(mixins.CreateModelMixin, SeriesViewSet):
    @extend_schema(request=SeriesBookSerializer, responses={201: SeriesSerializer})
    def create(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        """Book every session of a series at once (first one on safety hold if needed)."""
        data = SeriesBookSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        series = workflows.series_book_with_safety_hold(
            form_token=self.idempotency_form_token(), **data.validated_data
        )
        fresh = self.get_queryset().get(pk=series.pk)
        return self.created_response(SeriesSerializer(fresh).data, series)


class SessionWorkflowViewSet(mixins.CreateModelMixin, SessionViewSet):
    @extend_schema(request=SessionLogSerializer, responses={201: SessionSerializer})
    def create(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        """Log a session: screening, lot rules, stock, report link and check-ins."""
        data = SessionLogSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        session = workflows.session_log(
            practitioner=request.user,
            form_token=self.idempotency_form_token(),
            **data.validated_data,
        )
        fresh = self.get_queryset().get(pk=session.pk)
        return self.created_response(SessionSerializer(fresh).data, session)
