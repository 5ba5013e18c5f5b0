"""Patients over the API. The front desk gets identity and contact; the screening facts go
only to clinicians of the patient's clinic (`screening` is null for everyone else)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.core.api.fields import ClinicChoiceMixin
from patients.models import SCREENING_FIELDS, Channel, Fitzpatrick, Language, Patient


class ScreeningFactsSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = list(SCREENING_FIELDS)
        read_only_fields = fields


class PatientSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    clinic = serializers.SlugRelatedField(slug_field="uuid", read_only=True)
    screening = serializers.SerializerMethodField(
        help_text="Screening facts; null unless you are a clinician of the patient's clinic."
    )

    class Meta:
        model = Patient
        fields = [
            "id",
            "clinic",
            "first_name",
            "last_name",
            "date_of_birth",
            "email",
            "phone",
            "preferred_channel",
            "consent_to_contact",
            "language",
            "entered_in_error",
            "archived_at",
            "archived_reason",
            "screening",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ScreeningFactsSerializer(allow_null=True))
    def get_screening(self, patient: Patient) -> dict[str, Any] | None:
        clinical = self.context.get("clinical_clinic_ids", frozenset())
        if patient.clinic_id not in clinical:
            return None
        return ScreeningFactsSerializer(patient).data


class PatientRegisterSerializer(ClinicChoiceMixin, serializers.Serializer):
    """Input of a registration (patients.services.patient_register)."""

    clinic = serializers.UUIDField(
        required=False, help_text="Needed only when you work at more than one clinic."
    )
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100)
    date_of_birth = serializers.DateField()
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    preferred_channel = serializers.ChoiceField(choices=Channel.choices)
    consent_to_contact = serializers.BooleanField()
    language = serializers.ChoiceField(choices=Language.choices, default=Language.EN)
    fitzpatrick_type = serializers.ChoiceField(
        choices=Fitzpatrick.choices, required=False, allow_null=True, default=None
    )
    create_anyway = serializers.BooleanField(
        default=False, help_text="Register although a likely duplicate exists."
    )


class PatientUpdateSerializer(serializers.Serializer):
    """Input of a PATCH (patients.services.patient_update): send only what changes.

    Screening facts are for clinicians of the patient's clinic; the front desk gets 403. Each
    screening fact sent is confirmed by the caller now, changed or not."""

    first_name = serializers.CharField(max_length=100, required=False)
    last_name = serializers.CharField(max_length=100, required=False)
    date_of_birth = serializers.DateField(required=False)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    preferred_channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    consent_to_contact = serializers.BooleanField(required=False)
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    fitzpatrick_type = serializers.ChoiceField(
        choices=Fitzpatrick.choices, required=False, allow_null=True
    )
    allergies = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    allergic_to_product_components = serializers.BooleanField(required=False)
    current_medications = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    on_anticoagulants = serializers.BooleanField(required=False)
    on_isotretinoin = serializers.BooleanField(
        required=False, help_text="Isotretinoin now or in the last 6 months."
    )
    keloid_history = serializers.BooleanField(required=False)
    autoimmune_disease = serializers.BooleanField(required=False)
    pregnant_or_breastfeeding = serializers.BooleanField(required=False)
    screening_notes = serializers.CharField(required=False, allow_blank=True, max_length=4000)
