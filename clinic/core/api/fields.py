"""Serializer fields: references by public UUID scoped to the caller's clinics, and date-times
that must say their offset."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import django_filters
from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.core.access import scoped
from clinic.core.dates import validate_any_date

NAIVE_DATETIME = _(
    "Give the time with its UTC offset, e.g. 2026-12-08T09:30:00+09:00 (or Z for UTC): "
    "without one it could be any clinic's time."
)


def _is_naive_text(value: Any) -> bool:
    """True for an ISO date-time text (or a date alone) that carries no offset."""
    if isinstance(value, datetime):
        return timezone.is_naive(value)
    if not isinstance(value, str):
        return False
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:  # well formed but impossible (30 February): the parser says so later
        return False
    return parsed is not None and timezone.is_naive(parsed)


class AwareDateTimeField(serializers.DateTimeField):
    """A date-time input with its offset, or a 400 naming the field. DRF would read
    "2026-12-08T09:30" as UTC, nine hours off for a Seoul clinic; the API refuses to guess.

    Every serializer that takes a date-time uses this field (a test walks them all). The year
    range (1900-2100) is checked too; rules that need the clinic (booking) are the
    serializer's."""

    default_error_messages = {"naive": NAIVE_DATETIME}

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("validators", [validate_any_date])
        super().__init__(**kwargs)

    def to_internal_value(self, value: Any) -> datetime:
        if _is_naive_text(value):
            self.fail("naive")
        return super().to_internal_value(value)


class AwareIsoDateTimeFormField(IsoDateTimeField):
    """The query-string twin of AwareDateTimeField (django-filter's form field)."""

    default_error_messages = {"naive": NAIVE_DATETIME}
    default_validators = [validate_any_date]

    def to_python(self, value: Any) -> Any:
        if _is_naive_text(value):
            raise forms.ValidationError(self.error_messages["naive"], code="naive")
        return super().to_python(value)


class AwareIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """A date-time filter that refuses a value without an offset (400 naming the parameter)."""

    field_class = AwareIsoDateTimeFormField


def date_filter(**kwargs: Any) -> django_filters.DateFilter:
    """A date filter limited to 1900-2100, so a far-off year is the parameter's error."""
    return django_filters.DateFilter(validators=[validate_any_date], **kwargs)


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
