"""/api/v1/ reaction terms, reactions (assess), alarms (acknowledge). Clinicians only: the
front desk never sees reaction details, assessments or alarms."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from adverse_events.models import Alarm, ReactionReport, ReactionTerm
from adverse_events.services import alarm_acknowledge, assessment_record
from clinic.core.api.base import ReadViewSet
from clinic.core.models import CLINICAL_ROLES

from . import filters
from .serializers import (
    AcknowledgeInputSerializer,
    AlarmSerializer,
    AssessInputSerializer,
    ReactionSerializer,
    ReactionTermSerializer,
)


class ReactionTermViewSet(ReadViewSet):
    required_roles = CLINICAL_ROLES
    queryset = ReactionTerm.objects.all()
    serializer_class = ReactionTermSerializer
    filterset_class = filters.ReactionTermFilter
    ordering_fields: ClassVar[list[str]] = ["created_at", "display_order"]


class ReactionViewSet(ReadViewSet):
    required_roles = CLINICAL_ROLES
    queryset = ReactionReport.objects.select_related(
        "patient", "session", "term", "assessment", "assessment__assessed_by"
    )
    serializer_class = ReactionSerializer
    filterset_class = filters.ReactionFilter
    ordering_fields: ClassVar[list[str]] = ["created_at", "onset_date"]

    @extend_schema(request=AssessInputSerializer, responses={200: ReactionSerializer})
    @action(detail=True, methods=["post"])
    def assess(self, request: Any, uuid: str | None = None) -> Response:
        """Create or update the clinician's assessment of this reaction."""
        report = self.get_object()
        data = AssessInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assessment_record(report=report, user=request.user, **data.validated_data)
        report = self.get_queryset().get(pk=report.pk)
        return Response(ReactionSerializer(report).data)


class AlarmViewSet(ReadViewSet):
    required_roles = CLINICAL_ROLES
    # Two prefetches (reactions, submissions): a constant two queries per page.
    queryset = Alarm.objects.select_related(
        "patient", "session", "submission", "acknowledged_by"
    ).prefetch_related("terms", "submissions")
    serializer_class = AlarmSerializer
    filterset_class = filters.AlarmFilter
    ordering_fields: ClassVar[list[str]] = ["created_at", "raised_at"]

    @extend_schema(request=AcknowledgeInputSerializer, responses={200: AlarmSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Any, uuid: str | None = None) -> Response:
        """Acknowledge a red-flag alarm (once)."""
        alarm = self.get_object()
        data = AcknowledgeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alarm = alarm_acknowledge(alarm=alarm, user=request.user, **data.validated_data)
        alarm = self.get_queryset().get(pk=alarm.pk)
        return Response(AlarmSerializer(alarm).data)
