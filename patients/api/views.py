"""/api/v1/patients/: list, retrieve, register and edit (front desk and clinicians)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.response import Response

from clinic.core.access import visible
from clinic.core.api.base import ReadViewSet
from clinic.core.models import CLINICAL_ROLES, Clinic, Membership
from patients.models import Patient
from patients.services import patient_register, patient_update

from .filters import PatientFilter
from .serializers import PatientRegisterSerializer, PatientSerializer, PatientUpdateSerializer


class PatientViewSet(mixins.CreateModelMixin, ReadViewSet):
    queryset = Patient.objects.select_related("clinic")
    serializer_class = PatientSerializer
    filterset_class = PatientFilter

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "list" and "archived" not in self.request.query_params:
            # Archived patients leave lists unless asked for; their own URL still answers.
            queryset = queryset.filter(archived_at__isnull=True)
        return queryset

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        user = self.request.user
        context["clinical_clinic_ids"] = frozenset(
            Membership.objects.active()
            .filter(user=user, role__in=CLINICAL_ROLES)
            .values_list("clinic_id", flat=True)
            if user.is_authenticated
            else []
        )
        context["clinics"] = visible(Clinic, user)
        return context

    @extend_schema(request=PatientRegisterSerializer, responses={201: PatientSerializer})
    def create(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        data = PatientRegisterSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        patient = patient_register(form_token=self.idempotency_form_token(), **data.validated_data)
        out = PatientSerializer(patient, context=self.get_serializer_context())
        return self.created_response(out.data, patient)

    @extend_schema(request=PatientUpdateSerializer, responses={200: PatientSerializer})
    def partial_update(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        """Change identity, contact, consent or (clinicians) screening facts; history kept."""
        patient = self.get_object()
        data = PatientUpdateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        patient = patient_update(patient=patient, user=request.user, changes=data.validated_data)
        out = PatientSerializer(patient, context=self.get_serializer_context())
        return Response(out.data)
