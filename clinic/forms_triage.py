"""Forms of the dashboard and triage pages: acknowledging an alarm, recording an assessment,
and the reactions filters (which hold no patient data, so they travel in a GET query)."""

from __future__ import annotations

from typing import Any

from django import forms

from adverse_events.models import Causality, Outcome, ReactionTerm, SeverityGrade, TriageStatus
from clinic.core.dates import validate_any_date
from clinic.core.models import BOOKABLE_ROLES, CLINICAL_ROLES, Clinic, Membership, User
from clinic.core.selectors import staff_with_role
from treatments.models import DeliveryMethod, Product, ProductLot

from .forms import ClinicalForm


class AcknowledgeForm(ClinicalForm):
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=1000,
        widget=forms.TextInput(attrs={"placeholder": "e.g. called the patient, sent to A&E"}),
    )


def _blank(choices: Any, label: str = "—") -> list[tuple[Any, str]]:
    return [("", label), *choices]


class AssessmentForm(ClinicalForm):
    triage_status = forms.ChoiceField(label="Triage status", choices=TriageStatus.choices)
    severity_grade = forms.TypedChoiceField(
        label="Severity grade (CTCAE)",
        choices=_blank(SeverityGrade.choices, "Not graded yet"),
        coerce=int,
        empty_value=None,
        required=False,
    )
    serious_death = forms.BooleanField(label="Resulted in death", required=False)
    serious_life_threatening = forms.BooleanField(label="Life-threatening", required=False)
    serious_hospitalisation = forms.BooleanField(label="Hospitalisation", required=False)
    serious_disability = forms.BooleanField(label="Disability / incapacity", required=False)
    serious_medically_important = forms.BooleanField(label="Medically important", required=False)
    outcome = forms.ChoiceField(label="Outcome", choices=_blank(Outcome.choices), required=False)
    causality = forms.ChoiceField(
        label="Causality (WHO-UMC)", choices=_blank(Causality.choices), required=False
    )
    action_taken = forms.CharField(
        label="Action taken", required=False, max_length=5000, widget=forms.Textarea({"rows": 3})
    )
    notes = forms.CharField(
        label="Assessment notes",
        required=False,
        max_length=5000,
        widget=forms.Textarea({"rows": 3}),
    )

    SERIOUSNESS = (
        "serious_death",
        "serious_life_threatening",
        "serious_hospitalisation",
        "serious_disability",
        "serious_medically_important",
    )


class ReactionFilterForm(forms.Form):
    """Filters of the reactions list. Choices are limited to the user's clinics."""

    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), required=False)
    practitioner = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    product = forms.ModelChoiceField(queryset=Product.objects.none(), required=False)
    lot = forms.ModelChoiceField(queryset=ProductLot.objects.none(), required=False)
    term = forms.ModelChoiceField(
        label="Reaction", queryset=ReactionTerm.objects.all(), required=False
    )
    severity = forms.TypedChoiceField(
        label="Severity grade",
        choices=_blank(SeverityGrade.choices, "Any"),
        coerce=int,
        empty_value=None,
        required=False,
    )
    delivery_method = forms.ChoiceField(
        label="Delivery method", choices=_blank(DeliveryMethod.choices, "Any"), required=False
    )
    onset_from = forms.DateField(
        label="Onset from",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_any_date],
    )
    onset_to = forms.DateField(
        label="Onset to",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_any_date],
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        clinic_ids = Membership.clinic_ids_for(user, CLINICAL_ROLES)
        self.fields["clinic"].queryset = Clinic.objects.filter(pk__in=clinic_ids)
        self.fields["practitioner"].queryset = staff_with_role(
            clinics=clinic_ids, roles=BOOKABLE_ROLES
        )
        self.fields["product"].queryset = Product.objects.filter(clinic__in=clinic_ids)
        self.fields["lot"].queryset = ProductLot.objects.filter(
            product__clinic__in=clinic_ids
        ).select_related("product")
        for name, field in self.fields.items():
            if isinstance(field, forms.ModelChoiceField):
                field.empty_label = "Any"
                field.to_field_name = "pk" if name == "term" else "uuid"
        self.fields["term"].to_field_name = "code"
        self.fields["clinic"].empty_label = "All my clinics"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("onset_from"), data.get("onset_to")
        if start and end and start > end:
            self.add_error("onset_to", "The end of the range is before its start.")
        return data

    def mark_invalid_fields(self) -> None:
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"{self[name].auto_id}_errors"
