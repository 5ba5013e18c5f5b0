"""Patient filters: no names, phone numbers or other patient data in query strings."""

import django_filters

from clinic.core.api.fields import AwareIsoDateTimeFilter
from patients.models import Patient


class PatientFilter(django_filters.FilterSet):
    created_after = AwareIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = AwareIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Patient
        fields = ["language", "preferred_channel", "entered_in_error"]
