"""Serializer fields for references by public UUID, scoped to the caller's clinics."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.core.access import scoped


def ref(*, allow_null: bool = False, source: str | None = None) -> serializers.Field:
    """A read-only reference shown as the object's public UUID (or null when `allow_null`).

    Give `source` ("series") when the serializer field has another name than the relation.
    """
    if not allow_null:
        return serializers.SlugRelatedField(slug_field="uuid", read_only=True, source=source)
    return _NullableUUID(read_only=True, allow_null=True, source=source)


class _NullableUUID(serializers.UUIDField):
    """Reads `<relation>.uuid`, or null when the relation is empty."""

    def bind(self, field_name: str, parent: Any) -> None:
        relation = self.source or field_name
        self.source = f"{relation}.uuid"
        super().bind(field_name, parent)


@extend_schema_field(OpenApiTypes.UUID)
class ScopedRef(serializers.Field):
    """Input: the public UUID of a `model` row the caller may see (else "not found")."""

    default_error_messages = {
        "invalid": "Not a valid id.",
        "not_found": "No such record at your clinic.",
    }

    def __init__(self, model: type, *, roles: Any = None, queryset: Any = None, **kwargs: Any):
        self.model = model
        self.roles = roles
        self.base_queryset = queryset
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        try:
            value = uuid.UUID(str(data))
        except (TypeError, ValueError, AttributeError):
            self.fail("invalid")
        qs = self.base_queryset if self.base_queryset is not None else self.model.objects.all()
        found = scoped(qs, self.context["request"].user, self.roles).filter(uuid=value).first()
        if found is None:
            self.fail("not_found")
        return found

    def to_representation(self, value: Any) -> str:
        return str(value.uuid)


class ClinicChoiceMixin:
    """A serializer input `clinic` (public UUID) chosen among `context["clinics"]`, the clinics
    where the caller may do this; optional when there is exactly one of them."""

    clinic_refusal = "You have no role at this clinic."

    def validate_clinic(self, value: Any) -> Any:
        clinic = self.context["clinics"].filter(uuid=value).first()  # type: ignore[attr-defined]
        if clinic is None:
            raise serializers.ValidationError(self.clinic_refusal)
        return clinic

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)  # type: ignore[misc]
        if "clinic" not in attrs:
            clinics = list(self.context["clinics"][:2])  # type: ignore[attr-defined]
            if len(clinics) != 1:
                raise serializers.ValidationError({"clinic": ["Say which clinic."]})
            attrs["clinic"] = clinics[0]
        return attrs
