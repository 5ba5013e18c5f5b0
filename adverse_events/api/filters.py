"""Explicit filters for reactions and alarms."""

import django_filters

from adverse_events.models import Alarm, ReactionReport, ReactionTerm


class ReactionTermFilter(django_filters.FilterSet):
    class Meta:
        model = ReactionTerm
        fields = ["locality", "red_flag", "active"]


class ReactionFilter(django_filters.FilterSet):
    patient = django_filters.UUIDFilter(field_name="patient__uuid")
    session = django_filters.UUIDFilter(field_name="session__uuid")
    term = django_filters.CharFilter(field_name="term__code")
    triage_status = django_filters.CharFilter(field_name="assessment__triage_status")
    unassessed = django_filters.BooleanFilter(field_name="assessment", lookup_expr="isnull")

    class Meta:
        model = ReactionReport
        fields = ["ongoing", "source"]


class AlarmFilter(django_filters.FilterSet):
    patient = django_filters.UUIDFilter(field_name="patient__uuid")
    acknowledged = django_filters.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = Alarm
        fields = []
