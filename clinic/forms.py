"""Forms of the top-floor clinical pages: logging a session, editing an open one, signing,
addenda and "entered in error". Thin: they check input shape and put the workflow's
RuleViolation / Conflict / ValidationError next to the field it names."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from clinic.core.exceptions import ClinicError
from clinic.core.forms import AccessibleErrorsMixin
from clinic.core.formtokens import FormTokenMixin
from treatments.models import DeliveryMethod, LaserType, ProductLot, TreatedArea

from .selectors import lots_matching_number

# Today's screening questions (the patient's standing facts are on their record).
SCREENING_QUESTIONS = {
    "active_infection": "Active skin infection at the treatment site today?",
    "pregnant_or_breastfeeding": "Pregnant or breastfeeding now?",
    "anticoagulants": "Taking blood thinners now?",
}


def show_error(form: forms.Form, error: ClinicError | ValidationError) -> None:
    """Put a service's error next to the field it names (or on top of the form)."""
    if isinstance(error, ClinicError):
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            target = name if name in form.fields and name != NON_FIELD_ERRORS else None
            for e in errors:
                form.add_error(target, e.messages)
    else:
        form.add_error(None, error.messages)
    form.mark_invalid_fields()  # type: ignore[attr-defined]


class ClinicalForm(AccessibleErrorsMixin, forms.Form):
    def mark_invalid_fields(self) -> None:
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"{self[name].auto_id}_errors"

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        if field in self.fields:
            self.mark_invalid_fields()


class SettingsMixin(forms.Form):
    """Delivery settings and treated areas, shared by logging and editing a session."""

    needle_depth_mm = forms.DecimalField(
        label="Needle depth (mm)",
        required=False,
        min_value=Decimal("0.1"),
        max_value=Decimal("3.0"),
        max_digits=3,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )
    laser_device = forms.CharField(label="Laser device", required=False, max_length=120)
    laser_type = forms.ChoiceField(
        label="Laser type", required=False, choices=[("", "Choose…"), *LaserType.choices]
    )
    fluence_j_cm2 = forms.DecimalField(
        label="Energy / fluence (J/cm²)",
        required=False,
        min_value=Decimal("0.01"),
        max_digits=6,
        decimal_places=2,
    )
    passes = forms.IntegerField(label="Passes", required=False, min_value=1, max_value=20)
    treated_areas = forms.MultipleChoiceField(
        label="Treated areas",
        choices=TreatedArea.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one treated area."},
    )
    volume_ml = forms.DecimalField(
        label="Volume (ml)",
        required=False,
        min_value=Decimal("0.01"),
        max_digits=5,
        decimal_places=2,
    )
    notes = forms.CharField(
        label="Clinical notes", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )

    def method(self) -> str:
        raise NotImplementedError

    def clean_settings(self, cleaned: dict[str, Any]) -> None:
        """Each method's own settings are required; the others are dropped."""
        method = self.method()
        if method == DeliveryMethod.MICRONEEDLING:
            if cleaned.get("needle_depth_mm") is None and "needle_depth_mm" not in self.errors:
                self.add_error("needle_depth_mm", "Microneedling needs the needle depth (mm).")
        else:
            cleaned["needle_depth_mm"] = None
        if method == DeliveryMethod.LASER:
            required = {
                "laser_device": "Name the laser device.",
                "laser_type": "Choose the laser type.",
                "fluence_j_cm2": "Give the energy / fluence.",
                "passes": "Give the number of passes.",
            }
            for name, message in required.items():
                if cleaned.get(name) in (None, "") and name not in self.errors:
                    self.add_error(name, message)
        else:
            cleaned.update(laser_device="", laser_type="", fluence_j_cm2=None, passes=None)


class SessionLogForm(FormTokenMixin, SettingsMixin, ClinicalForm):
    delivery_method = forms.ChoiceField(
        label="Delivery method", choices=[("", "Choose…"), *DeliveryMethod.choices]
    )
    lot = forms.CharField(
        label="Product lot number",
        max_length=60,
        help_text="Type or scan the number on the vial.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "list": "lot-options"}),
    )
    units_used = forms.IntegerField(label="Amount used (units)", min_value=1, max_value=100)
    active_infection = forms.BooleanField(
        label=SCREENING_QUESTIONS["active_infection"], required=False
    )
    pregnant_or_breastfeeding = forms.BooleanField(
        label=SCREENING_QUESTIONS["pregnant_or_breastfeeding"], required=False
    )
    anticoagulants = forms.BooleanField(label=SCREENING_QUESTIONS["anticoagulants"], required=False)
    screening_override_reason = forms.CharField(
        label="Reason to treat despite a hard stop",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    warnings_acknowledged = forms.BooleanField(
        label="I have discussed the screening warnings with the patient", required=False
    )
    aftercare_given = forms.BooleanField(
        label="Aftercare instructions given", required=False, initial=True
    )

    field_order = [
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
        "notes",
    ]

    def __init__(self, *args: Any, clinic: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic

    def method(self) -> str:
        return self.cleaned_data.get("delivery_method", "")

    def answers(self) -> dict[str, bool]:
        """Today's screening answers as typed so far (valid or not: for the live panel)."""
        if self.is_bound:
            return {k: self.data.get(k) in ("on", "true", "1", "True") for k in SCREENING_QUESTIONS}
        return {k: bool(self.initial.get(k)) for k in SCREENING_QUESTIONS}

    def clean_lot(self) -> ProductLot:
        number = self.cleaned_data["lot"].strip()
        lots = lots_matching_number(clinic=self.clinic, lot_number=number)
        if not lots:
            raise ValidationError(
                f"No lot numbered {number} at this clinic. Check the number on the vial.",
                code="unknown_lot",
            )
        if len(lots) > 1:
            names = ", ".join(str(lot.product) for lot in lots)
            raise ValidationError(
                f"Several products have a lot numbered {number} ({names}). "
                "Ask the safety lead to correct the lot numbers.",
                code="ambiguous_lot",
            )
        return lots[0]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self.clean_settings(cleaned)
        return cleaned

    def workflow_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        names = [
            "lot",
            "delivery_method",
            "treated_areas",
            "units_used",
            "volume_ml",
            "needle_depth_mm",
            "laser_device",
            "laser_type",
            "fluence_j_cm2",
            "passes",
            "screening_override_reason",
            "warnings_acknowledged",
            "aftercare_given",
            "notes",
        ]
        kwargs = {name: data[name] for name in names}
        kwargs["screening_answers"] = {k: data[k] for k in SCREENING_QUESTIONS}
        return kwargs


class SessionEditForm(SettingsMixin, ClinicalForm):
    """The details of an open session that may still change."""

    def __init__(self, *args: Any, session: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = session

    def method(self) -> str:
        return self.session.delivery_method

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self.clean_settings(cleaned)
        return cleaned


class SignForm(ClinicalForm):
    confirm = forms.BooleanField(
        label="I confirm this record is complete and correct",
        error_messages={"required": "Tick the box to confirm before signing."},
    )


class AddendumForm(FormTokenMixin, ClinicalForm):
    text = forms.CharField(
        label="Addendum", max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


class EnteredInErrorForm(ClinicalForm):
    reason = forms.CharField(
        label="Why was this session entered in error?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    # It cannot be undone: the person says so first. (Not `confirm`: the sign form on the
    # same page has that field, and ids must stay unique.)
    understood = forms.BooleanField(
        label="I understand this cannot be undone: the patient gets no more messages about "
        "this session and its personal links stop working",
        error_messages={"required": "Tick the box to confirm before marking the session."},
    )
