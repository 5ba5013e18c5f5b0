"""Appointments, series, sessions, products, lots and check-ins over the API."""

from __future__ import annotations

from rest_framework import serializers

from clinic.api.fields import ScopedRef, ref
from clinic.core.models import User
from patients.models import Patient
from treatments.models import (
    Appointment,
    CheckIn,
    DeliveryMethod,
    LaserType,
    Product,
    ProductLot,
    SeriesTemplate,
    TreatmentSeries,
    TreatmentSession,
)


class AppointmentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    patient = ref()
    practitioner = ref()
    series = ref(allow_null=True)

    class Meta:
        model = Appointment
        fields = [
            "id",
            "patient",
            "practitioner",
            "series",
            "sequence",
            "starts_at",
            "ends_at",
            "status",
            "safety_hold",
            "hold_cleared_at",
            "front_desk_note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SeriesSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    patient = ref()
    template = ref(allow_null=True)

    class Meta:
        model = TreatmentSeries
        fields = [
            "id",
            "patient",
            "template",
            "indication",
            "sessions_planned",
            "interval_weeks",
            "maintenance_interval_months",
            "status",
            "maintenance_due_on",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SeriesBookSerializer(serializers.Serializer):
    """Input of booking a whole series (clinic.workflows.series_book_with_safety_hold)."""

    patient = ScopedRef(Patient)
    practitioner = serializers.UUIDField(help_text="A practitioner of the patient's clinic.")
    template = ScopedRef(SeriesTemplate)
    starts = serializers.ListField(child=serializers.DateTimeField(), min_length=1, max_length=24)

    def validate_practitioner(self, value: object) -> User:
        user = User.objects.filter(uuid=value, is_active=True).first()
        if user is None:
            raise serializers.ValidationError("No such practitioner.")
        return user


class SessionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    patient = ref()
    practitioner = ref()
    appointment = ref(allow_null=True)
    series = ref(allow_null=True)
    lot = ref()
    signed_by = ref(allow_null=True)
    laser_type = serializers.ChoiceField(
        choices=LaserType.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = TreatmentSession
        fields = [
            "id",
            "patient",
            "practitioner",
            "appointment",
            "series",
            "performed_at",
            "delivery_method",
            "needle_depth_mm",
            "laser_device",
            "laser_type",
            "fluence_j_cm2",
            "passes",
            "treated_areas",
            "lot",
            "units_used",
            "volume_ml",
            "screening",
            "screening_override_reason",
            "warnings_acknowledged",
            "aftercare_given",
            "notes",
            "status",
            "signed_at",
            "signed_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SessionLogSerializer(serializers.Serializer):
    """Input of logging a session (clinic.workflows.session_log: screening, lot rules)."""

    patient = ScopedRef(Patient)
    lot = ScopedRef(ProductLot)
    appointment = ScopedRef(Appointment, required=False, allow_null=True, default=None)
    delivery_method = serializers.ChoiceField(choices=DeliveryMethod.choices)
    treated_areas = serializers.ListField(child=serializers.CharField(max_length=40), min_length=1)
    units_used = serializers.IntegerField(min_value=1, max_value=100, default=1)
    volume_ml = serializers.DecimalField(
        max_digits=5, decimal_places=2, required=False, allow_null=True, default=None
    )
    needle_depth_mm = serializers.DecimalField(
        max_digits=3, decimal_places=2, required=False, allow_null=True, default=None
    )
    laser_device = serializers.CharField(
        max_length=120, required=False, allow_blank=True, default=""
    )
    laser_type = serializers.ChoiceField(
        choices=LaserType.choices, required=False, allow_blank=True, default=""
    )
    fluence_j_cm2 = serializers.DecimalField(
        max_digits=6, decimal_places=2, required=False, allow_null=True, default=None
    )
    passes = serializers.IntegerField(
        min_value=1, max_value=50, required=False, allow_null=True, default=None
    )
    screening_answers = serializers.DictField(
        child=serializers.BooleanField(), required=False, default=dict
    )
    screening_override_reason = serializers.CharField(required=False, allow_blank=True, default="")
    warnings_acknowledged = serializers.BooleanField(default=False)
    aftercare_given = serializers.BooleanField(default=True)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    performed_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ProductSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    clinic = ref()

    class Meta:
        model = Product
        fields = [
            "id",
            "clinic",
            "name",
            "manufacturer",
            "source",
            "form",
            "storage",
            "unit",
            "components",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class LotSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    product = ref()

    class Meta:
        model = ProductLot
        fields = [
            "id",
            "product",
            "lot_number",
            "expiry_date",
            "received_on",
            "quantity_received",
            "quantity_on_hand",
            "supplier",
            "certificate_ref",
            "status",
            "status_reason",
            "status_changed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CheckInSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    session = ref()

    class Meta:
        model = CheckIn
        fields = [
            "id",
            "session",
            "step_code",
            "step_label",
            "due_at",
            "state",
            "sent_at",
            "reminded_at",
            "answered_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
