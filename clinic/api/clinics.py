"""/api/v1/clinics/: the clinics the caller works at, with the numbers patients are given."""

from __future__ import annotations

from typing import ClassVar

from rest_framework import serializers

from clinic.core.api.base import ReadViewSet
from clinic.core.models import Clinic


class ClinicSerializer(serializers.ModelSerializer):
    class Meta:
        model = Clinic
        fields: ClassVar[list[str]] = [
            "uuid",
            "name",
            "country",
            "time_zone",
            "phone",
            "emergency_number",
            "staff_language",
            "address",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ClinicViewSet(ReadViewSet):
    """Every role reads the clinics it works at; settings are changed on the clinic's pages."""

    queryset = Clinic.objects.all()
    serializer_class = ClinicSerializer
