"""Forms of the safety lead's product and lot pages. They check the shape of the input and
the rules a person should see next to a field; the services stay the authority."""

from __future__ import annotations

from typing import Any

from django import forms

from clinic.core.dates import validate_any_date
from clinic.core.forms import AccessibleErrorsMixin
from clinic.core.formtokens import FormTokenMixin
from clinic.core.models import Clinic

from .models import Product, ProductForm, ProductLot, Storage
from .models import ProductSource as Source


class LotFormBase(AccessibleErrorsMixin, forms.Form):
    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        if field in self.fields:
            attrs = self.fields[field].widget.attrs
            attrs["aria-invalid"] = "true"
            attrs["aria-describedby"] = f"{self[field].auto_id}_errors"


class ProductCreateForm(LotFormBase):
    clinic = forms.ModelChoiceField(label="Clinic", queryset=Clinic.objects.none())
    name = forms.CharField(label="Product name", max_length=200)
    manufacturer = forms.CharField(label="Manufacturer", max_length=200)
    source = forms.ChoiceField(label="Source", choices=[("", "Choose…"), *Source.choices])
    form = forms.ChoiceField(label="Form", choices=[("", "Choose…"), *ProductForm.choices])
    storage = forms.ChoiceField(label="Storage", choices=[("", "Choose…"), *Storage.choices])
    unit = forms.CharField(
        label="Unit of use", max_length=30, initial="vial", help_text="What stock is counted in."
    )
    components = forms.CharField(
        label="Declared components",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Screening checks patients' allergies against these.",
    )

    def __init__(self, *args: Any, clinics: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics
        only = list(clinics[:2])
        self.only_clinic = only[0] if len(only) == 1 else None
        if self.only_clinic is not None:  # one clinic: nothing to choose
            del self.fields["clinic"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.only_clinic is not None:
            cleaned["clinic"] = self.only_clinic
        return cleaned


class LotFieldsForm(LotFormBase):
    lot_number = forms.CharField(label="Lot number", max_length=60)
    expiry_date = forms.DateField(
        label="Expiry date",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_any_date],
    )
    received_on = forms.DateField(
        label="Date received",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_any_date],
    )
    supplier = forms.CharField(label="Supplier", max_length=200, required=False)
    certificate_ref = forms.CharField(
        label="Certificate of analysis reference", max_length=120, required=False
    )

    def __init__(self, *args: Any, product: Product, lot: ProductLot | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.product, self.lot = product, lot

    def clean_lot_number(self) -> str:
        number = self.cleaned_data["lot_number"].strip()
        taken = ProductLot.objects.filter(product=self.product, lot_number__iexact=number)
        if self.lot is not None:
            taken = taken.exclude(pk=self.lot.pk)
        if taken.exists():
            raise forms.ValidationError(f"{self.product.name} already has a lot numbered {number}.")
        return number

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        expiry, received = cleaned.get("expiry_date"), cleaned.get("received_on")
        if expiry and received and expiry <= received:
            self.add_error("expiry_date", "The expiry date must come after the date received.")
        return cleaned


class LotReceiveForm(FormTokenMixin, LotFieldsForm):
    quantity = forms.IntegerField(
        label="Quantity received", min_value=1, max_value=100000, help_text="In units of use."
    )

    field_order = [
        "lot_number",
        "expiry_date",
        "received_on",
        "quantity",
        "supplier",
        "certificate_ref",
    ]


class LotCorrectForm(LotFieldsForm):
    quantity_received = forms.IntegerField(label="Quantity received", min_value=1)
    # The value the page showed travels with the form: stock taken by a session while the
    # page was open is not overwritten unless this field itself was changed.
    quantity_on_hand = forms.IntegerField(
        label="Quantity on hand", min_value=0, show_hidden_initial=True
    )
    reason = forms.CharField(
        label="Reason for the correction",
        max_length=100,
        help_text="Kept in the lot's history with your name and the time.",
    )

    field_order = [
        "lot_number",
        "expiry_date",
        "received_on",
        "quantity_received",
        "quantity_on_hand",
        "supplier",
        "certificate_ref",
        "reason",
    ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        received, on_hand = cleaned.get("quantity_received"), cleaned.get("quantity_on_hand")
        if received is not None and on_hand is not None and on_hand > received:
            # Name the field the person changed: lowering the received quantity below the
            # stock is a mistake in that field, not in the count they left alone.
            if "quantity_on_hand" in self.changed_data or "quantity_received" not in (
                self.changed_data
            ):
                self.add_error("quantity_on_hand", "A lot cannot hold more than was received.")
            else:
                self.add_error(
                    "quantity_received",
                    f"{on_hand} are on hand: the quantity received cannot be less. Correct "
                    "the quantity on hand too (count the stock).",
                )
        return cleaned


class LotStatusForm(LotFormBase):
    """The reason beside a quarantine, release or recall button (required but for release)."""

    reason = forms.CharField(
        label="Reason",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why."},
    )

    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        super().__init__(*args, prefix=action, **kwargs)
        self.action = action
        field = self.fields["reason"]
        if action == "release":
            field.required = False
            field.label = "Note (optional)"
            field.help_text = "What was checked before releasing it."
        elif action == "quarantine":
            field.label = "Why quarantine it"
            field.help_text = "From the moment you confirm, no session can record this lot."
        else:
            field.label = "Why recall it"
            field.help_text = (
                "Final: the lot can never be used again. Every patient who received it is "
                "listed on the recall page, from which you message them."
            )
