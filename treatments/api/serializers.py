"""Appointments, series, sessions, products, lots and check-ins over the API."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from clinic.core.api.fields import AwareDateTimeField, ClinicChoiceMixin, ScopedRef, ref
from clinic.core.dates import BOOKING, validate_any_date
from clinic.core.models import SAFETY_LEAD_ONLY, User
from patients.models import Patient
from treatments.models import (
    Appointment,
    CheckIn,
    DeliveryMethod,
    LaserType,
    Product,
    ProductForm,
    ProductLot,
    ProductSource,
    SeriesTemplate,
    Storage,
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
    starts = serializers.ListField(child=AwareDateTimeField(), min_length=1, max_length=24)

    def validate_practitioner(self, value: object) -> User:
        user = User.objects.filter(uuid=value, is_active=True).first()
        if user is None:
            raise serializers.ValidationError("No such practitioner.")
        return user

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        clinic = attrs["patient"].clinic
        problems = {}
        for n, start in enumerate(attrs.get("starts", [])):
            try:
                BOOKING.check(start, clinic=clinic)
            except DjangoValidationError as error:
                problems[n] = error.messages
        if problems:
            raise serializers.ValidationError({"starts": problems})
        return attrs


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
    performed_at = AwareDateTimeField(required=False, allow_null=True, default=None)


class SessionEnteredInErrorSerializer(serializers.Serializer):
    """Input of marking a session entered in error (treatments.services)."""

    reason = serializers.CharField(max_length=2000, help_text="Why it was entered in error.")


class SessionEnteredInErrorResultSerializer(serializers.Serializer):
    session = SessionSerializer()
    units_returned = serializers.IntegerField(help_text="Units put back into the lot.")
    units_not_returned = serializers.IntegerField(
        help_text="Units that did not fit: the lot's received quantity was corrected below "
        "what the return needed (the lot's history records it)."
    )
    messages_stopped = serializers.IntegerField(help_text="Unsent messages cancelled.")
    messages_already_sent = serializers.IntegerField(
        help_text="Messages that had already gone out (or were going out) to the patient."
    )
    calls_cancelled = serializers.IntegerField(
        help_text="Open front-desk call tasks about the session, cancelled."
    )
    recall_notices_withdrawn = serializers.IntegerField(
        help_text="Unsent recall notices left with no live session, withdrawn."
    )
    appointment_freed = serializers.UUIDField(
        allow_null=True,
        help_text="The appointment the session let go of (back to arrived, ready for the "
        "correct session), or null.",
    )


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


# --- writes: appointment actions, products, lots ---------------------------------------------


class RescheduleSerializer(serializers.Serializer):
    """Input of moving a booked appointment (treatments.booking.appointment_reschedule)."""

    starts_at = AwareDateTimeField(
        help_text="The new start, with its offset; the length stays the same."
    )

    def validate_starts_at(self, value: Any) -> Any:
        try:
            BOOKING.check(value, clinic=self.context["appointment"].clinic)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None
        return value


class RescheduledSerializer(serializers.Serializer):
    appointment = AppointmentSerializer()
    warnings = serializers.ListField(
        child=serializers.CharField(), help_text="E.g. an interval under the series' minimum."
    )


class ClearHoldSerializer(serializers.Serializer):
    """Input of clearing a safety hold (treatments.booking.appointment_clear_hold)."""

    reason = serializers.CharField(max_length=2000, help_text="Why treatment may go ahead.")


class ProductCreateSerializer(ClinicChoiceMixin, serializers.Serializer):
    """Input of adding a product (treatments.services.product_create); safety leads only."""

    clinic_refusal = "You are not the safety lead of this clinic."

    clinic = serializers.UUIDField(
        required=False, help_text="Needed only when you are safety lead at more than one clinic."
    )
    name = serializers.CharField(max_length=200)
    manufacturer = serializers.CharField(max_length=200)
    source = serializers.ChoiceField(choices=ProductSource.choices)
    form = serializers.ChoiceField(choices=ProductForm.choices)
    storage = serializers.ChoiceField(choices=Storage.choices)
    unit = serializers.CharField(max_length=30, required=False, default="vial")
    components = serializers.CharField(required=False, allow_blank=True, default="")


class _LotFields(serializers.Serializer):
    """The checks the lot pages make next to a field (treatments.forms_lots)."""

    lot_number = serializers.CharField(max_length=60)
    expiry_date = serializers.DateField(validators=[validate_any_date])
    received_on = serializers.DateField(validators=[validate_any_date])
    supplier = serializers.CharField(max_length=200, required=False, allow_blank=True)
    certificate_ref = serializers.CharField(max_length=120, required=False, allow_blank=True)

    def _product_and_lot(self, attrs: dict[str, Any]) -> tuple[Product, ProductLot | None]:
        raise NotImplementedError

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        product, lot = self._product_and_lot(attrs)
        number = attrs.get("lot_number", lot.lot_number if lot else "").strip()
        if "lot_number" in attrs:
            taken = ProductLot.objects.filter(product=product, lot_number__iexact=number)
            if lot is not None:
                taken = taken.exclude(pk=lot.pk)
            if taken.exists():
                raise serializers.ValidationError(
                    {"lot_number": [f"{product.name} already has a lot numbered {number}."]}
                )
        expiry = attrs.get("expiry_date", lot.expiry_date if lot else None)
        received = attrs.get("received_on", lot.received_on if lot else None)
        if expiry and received and expiry <= received:
            raise serializers.ValidationError(
                {"expiry_date": ["The expiry date must come after the date received."]}
            )
        return attrs


class LotReceiveSerializer(_LotFields):
    """Input of receiving a lot (treatments.services.lot_receive); safety leads only."""

    product = ScopedRef(Product, roles=SAFETY_LEAD_ONLY)
    quantity = serializers.IntegerField(
        min_value=1, max_value=100000, help_text="Units received, in the product's unit of use."
    )

    def _product_and_lot(self, attrs: dict[str, Any]) -> tuple[Product, ProductLot | None]:
        return attrs["product"], None


class LotCorrectSerializer(_LotFields):
    """Input of correcting a lot's receipt record (treatments.services.lot_correct): send the
    fields that change and a reason; the old values stay in the lot's history."""

    lot_number = serializers.CharField(max_length=60, required=False)
    expiry_date = serializers.DateField(required=False, validators=[validate_any_date])
    received_on = serializers.DateField(required=False, validators=[validate_any_date])
    quantity_received = serializers.IntegerField(min_value=1, max_value=100000, required=False)
    quantity_on_hand = serializers.IntegerField(min_value=0, max_value=100000, required=False)
    reason = serializers.CharField(max_length=100, help_text="Kept in the lot's history.")

    def _product_and_lot(self, attrs: dict[str, Any]) -> tuple[Product, ProductLot | None]:
        lot = self.context["lot"]
        return lot.product, lot

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        lot = self.context["lot"]
        received = attrs.get("quantity_received", lot.quantity_received)
        on_hand = attrs.get("quantity_on_hand", lot.quantity_on_hand)
        if on_hand > received:
            # Name the field that was sent: a lower received quantity alone is refused on
            # `quantity_received` (treatments.services.lot_correct checks again, locked).
            if "quantity_on_hand" in attrs:
                raise serializers.ValidationError(
                    {"quantity_on_hand": ["A lot cannot hold more than was received."]}
                )
            raise serializers.ValidationError(
                {
                    "quantity_received": [
                        f"{on_hand} are on hand: the quantity received cannot be less. "
                        "Send the counted quantity_on_hand too."
                    ]
                }
            )
        return attrs


class LotStatusSerializer(serializers.Serializer):
    """Input of quarantining or recalling a lot (treatments.services): why, in words."""

    reason = serializers.CharField(max_length=1000, help_text="Kept with the lot's status.")


class LotReleaseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class LotRecalledSerializer(serializers.Serializer):
    lot = LotSerializer()
    recall = serializers.UUIDField(help_text="The recall, with one notice per patient.")
    patients = serializers.IntegerField(help_text="How many patients received the lot.")
