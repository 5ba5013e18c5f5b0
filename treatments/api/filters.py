"""Explicit filters for the treatments resources (ids are public UUIDs, never patient data)."""

import django_filters

from clinic.core.api.fields import AwareIsoDateTimeFilter, date_filter
from treatments.models import (
    Appointment,
    CheckIn,
    Product,
    ProductLot,
    TreatmentSeries,
    TreatmentSession,
)


class AppointmentFilter(django_filters.FilterSet):
    patient = django_filters.UUIDFilter(field_name="patient__uuid")
    practitioner = django_filters.UUIDFilter(field_name="practitioner__uuid")
    series = django_filters.UUIDFilter(field_name="series__uuid")
    starts_after = AwareIsoDateTimeFilter(field_name="starts_at", lookup_expr="gte")
    starts_before = AwareIsoDateTimeFilter(field_name="starts_at", lookup_expr="lt")

    class Meta:
        model = Appointment
        fields = ["status", "safety_hold"]


class SeriesFilter(django_filters.FilterSet):
    patient = django_filters.UUIDFilter(field_name="patient__uuid")

    class Meta:
        model = TreatmentSeries
        fields = ["status"]


class SessionFilter(django_filters.FilterSet):
    patient = django_filters.UUIDFilter(field_name="patient__uuid")
    practitioner = django_filters.UUIDFilter(field_name="practitioner__uuid")
    lot = django_filters.UUIDFilter(field_name="lot__uuid")
    performed_after = AwareIsoDateTimeFilter(field_name="performed_at", lookup_expr="gte")
    performed_before = AwareIsoDateTimeFilter(field_name="performed_at", lookup_expr="lt")

    class Meta:
        model = TreatmentSession
        fields = ["status", "delivery_method"]


class ProductFilter(django_filters.FilterSet):
    class Meta:
        model = Product
        fields = ["active", "source", "form"]


class LotFilter(django_filters.FilterSet):
    product = django_filters.UUIDFilter(field_name="product__uuid")
    expires_before = date_filter(field_name="expiry_date", lookup_expr="lt")

    class Meta:
        model = ProductLot
        fields = ["status"]


class CheckInFilter(django_filters.FilterSet):
    session = django_filters.UUIDFilter(field_name="session__uuid")
    due_after = AwareIsoDateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = AwareIsoDateTimeFilter(field_name="due_at", lookup_expr="lt")

    class Meta:
        model = CheckIn
        fields = ["state"]
