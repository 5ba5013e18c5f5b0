"""The charts page's filters: one of the user's clinics (or all of them) and a period."""

from __future__ import annotations

from typing import Any

from django import forms

from clinic.core.models import CLINICAL_ROLES, Clinic, Membership

from .charts import DEFAULT_PERIOD, PERIODS


class ChartFilterForm(forms.Form):
    # Choices by public id (never integer keys in the query string), read once per request:
    # rendering the select does not query the clinics again.
    clinic = forms.ChoiceField(required=False)
    period = forms.ChoiceField(
        choices=[(code, label) for code, (label, _) in PERIODS.items()],
        initial=DEFAULT_PERIOD,
        required=False,
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinics = list(
            Clinic.objects.filter(pk__in=Membership.clinic_ids_for(user, CLINICAL_ROLES))
            .only("pk", "uuid", "name")
            .order_by("name")
        )
        self.fields["clinic"].choices = [("", "All my clinics")] + [
            (str(c.uuid), c.name) for c in self.clinics
        ]

    def clean_clinic(self) -> Clinic | None:
        chosen = self.cleaned_data.get("clinic")
        return next((c for c in self.clinics if str(c.uuid) == chosen), None)
