"""Front-desk forms: register a patient, close a call. Thin: services do the work."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms

from clinic.core.dates import DATE_OF_BIRTH
from clinic.core.exceptions import ClinicError
from clinic.core.forms import AccessibleErrorsMixin
from clinic.core.formtokens import FormTokenMixin
from clinic.core.models import Clinic

from .models import Channel, Fitzpatrick, Language
from .normalise import InvalidPhone, phone_e164


def attach_error(form: forms.Form, exc: ClinicError) -> None:
    """Show a service's refusal next to its field (or above the form), accessibly."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)
    if field:
        attrs = form.fields[field].widget.attrs
        attrs["aria-invalid"] = "true"
        attrs["aria-describedby"] = f"{form[field].auto_id}_errors"


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict | None = None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class PatientRegistrationForm(FormTokenMixin, AccessibleErrorsMixin, forms.Form):
    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), empty_label=None)
    first_name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    last_name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    date_of_birth = forms.DateField(widget=DateInput())
    email = forms.EmailField(required=False)
    phone = forms.CharField(
        label="Mobile phone",
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel"}),
        help_text="A number of the clinic's country (e.g. 010-1234-5678 in Korea), or + and "
        "the country code (e.g. +1 212 555 0123).",
    )
    preferred_channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.EMAIL)
    consent_to_contact = forms.BooleanField(
        label="The patient agrees to receive check-ins and reminders",
        required=False,
    )
    language = forms.ChoiceField(choices=Language.choices, initial=Language.EN)
    fitzpatrick_type = forms.TypedChoiceField(
        label="Fitzpatrick skin type (optional)",
        choices=[("", "Not recorded"), *Fitzpatrick.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    create_anyway = forms.BooleanField(required=False, widget=forms.HiddenInput())

    def __init__(self, *args: Any, clinics: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics
        if clinics.count() == 1:
            self.fields["clinic"].initial = clinics.first()
            self.fields["clinic"].widget = forms.HiddenInput()

    def clean_date_of_birth(self) -> date:
        born = self.cleaned_data["date_of_birth"]
        # The clinic's today, not the server's: at 15:30 UTC it is already tomorrow in Seoul.
        # (The clinic field comes first, so it is cleaned by now.)
        DATE_OF_BIRTH.check(born, clinic=self.cleaned_data.get("clinic"))
        return born

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        clean_contact(self, data, clinic=data.get("clinic"))
        return data


def clean_contact(form: forms.Form, data: dict[str, Any], *, clinic: Clinic | None) -> None:
    """The phone in E.164 (a national number read in `clinic`'s country) and the preferred
    channel's contact detail given: each refused on its own field."""
    phone = data.get("phone")
    if clinic and phone and "phone" not in form.errors:
        try:
            data["phone"] = phone_e164(phone, region=clinic.country)
        except InvalidPhone as exc:
            form.add_error("phone", str(exc))
    channel = data.get("preferred_channel")
    if channel == Channel.EMAIL and not data.get("email") and "email" not in form.errors:
        form.add_error("email", "Email is the preferred channel: give an email address.")
    if channel == Channel.SMS and not data.get("phone") and "phone" not in form.errors:
        form.add_error("phone", "SMS is the preferred channel: give a mobile number.")


class PatientEditForm(AccessibleErrorsMixin, forms.Form):
    """Identity, contact and consent (the front desk's part of the record). No clinical field:
    the screening facts have their own form, for clinicians."""

    first_name = forms.CharField(max_length=100)
    last_name = forms.CharField(max_length=100)
    date_of_birth = forms.DateField(widget=DateInput())
    email = forms.EmailField(required=False)
    phone = PatientRegistrationForm.base_fields["phone"]
    preferred_channel = forms.ChoiceField(choices=Channel.choices)
    consent_to_contact = forms.BooleanField(
        label="The patient agrees to receive check-ins and reminders", required=False
    )
    language = forms.ChoiceField(choices=Language.choices)
    save_anyway = forms.BooleanField(required=False, widget=forms.HiddenInput())

    FIELDS = (
        "first_name",
        "last_name",
        "date_of_birth",
        "email",
        "phone",
        "preferred_channel",
        "consent_to_contact",
        "language",
    )

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clinic = clinic

    def clean_date_of_birth(self) -> date:
        born = self.cleaned_data["date_of_birth"]
        DATE_OF_BIRTH.check(born, clinic=self.clinic)
        return born

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        clean_contact(self, data, clinic=self.clinic)
        return data

    def changes(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.FIELDS}


class ScreeningFactsForm(AccessibleErrorsMixin, forms.Form):
    """The screening facts, for clinicians. Saving confirms every fact shown."""

    fitzpatrick_type = forms.TypedChoiceField(
        label="Fitzpatrick skin type",
        choices=[("", "Not recorded"), *Fitzpatrick.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    allergies = forms.CharField(
        label="Known allergies",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    allergic_to_product_components = forms.BooleanField(
        label="Allergic to exosome product components", required=False
    )
    current_medications = forms.CharField(
        label="Current medications",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Names and doses as the patient tells them; tick the two below as well when "
        "they apply.",
    )
    on_anticoagulants = forms.BooleanField(
        label="Takes blood thinners (anticoagulants)", required=False
    )
    on_isotretinoin = forms.BooleanField(
        label="Isotretinoin (e.g. Roaccutane) now or in the last 6 months", required=False
    )
    keloid_history = forms.BooleanField(label="History of keloids", required=False)
    autoimmune_disease = forms.BooleanField(label="Autoimmune disease", required=False)
    pregnant_or_breastfeeding = forms.BooleanField(
        label="Pregnant or breastfeeding", required=False
    )
    screening_notes = forms.CharField(
        label="Other notes",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def changes(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class CallDoneForm(AccessibleErrorsMixin, forms.Form):
    outcome = forms.CharField(
        label="Outcome of the call",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
