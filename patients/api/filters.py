"""Patient filters: no names, phone numbers or other patient data in query strings."""

import django_filters

from clinic.core.api.fields import AwareIsoDateTimeFilter
from patients.models import Patient


class PatientFilter(django_filters.FilterSet):
    # Archived patients leave the list unless asked for (the list leaves them out when this
    # parameter is absent: PatientViewSet.get_queryset).
    archived = django_filters.ChoiceFilter(
        choices=[
            ("exclude", "Not archived (the default)"),
            ("include", "Archived too"),
            ("only", "Archived only"),
        ],
        method="filter_archived",
        help_text="Archived patients: left out unless `include` or `only`.",
    )
    created_after = AwareIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = AwareIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Patient
        fields = ["language", "preferred_channel", "entered_in_error"]

    def filter_archived(self, queryset, name, value):
        if value == "include":
            return queryset
        return queryset.filter(archived_at__isnull=value != "only")
