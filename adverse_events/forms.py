"""The patient's forms: plain HTML forms that work without JavaScript.

The form has two steps: choose the reactions (a checklist of the vocabulary in plain words),
then describe each one (its own prefix, e.g. `redness-onset_date`) with an optional photo and
free text. Every step carries the same hidden `submission_id`, minted on the first GET: that
is what makes a double tap, a back-button resubmit or a second tab record one submission.

Errors are linked to their inputs (`aria-describedby`, `aria-invalid`) by `AccessibleBoundField`.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django import forms
from django.forms.boundfield import BoundField
from django.utils.translation import gettext_lazy as _

from clinic.core.dates import validate_any_date

from .models import ReactionTerm
from .services import ReactionInput


class AccessibleBoundField(BoundField):
    """Points each input at its hint and its error message (WCAG 1.3.1, 3.3.1)."""

    def build_widget_attrs(self, attrs: dict[str, Any], widget: Any = None) -> dict[str, Any]:
        attrs = super().build_widget_attrs(attrs, widget)
        described = []
        if self.help_text and self.auto_id:
            described.append(f"{self.auto_id}_helptext")
        if self.errors and self.auto_id:
            described.append(f"{self.auto_id}_error")
            attrs["aria-invalid"] = "true"
        if described:
            attrs["aria-describedby"] = " ".join(described)
        return attrs


class PatientForm(forms.Form):
    bound_field_class = AccessibleBoundField
    # Django's own "required" wording is for staff; patients get plainer words.
    required_message = _("Please answer this question.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.error_messages["required"] = self.required_message

    def first_error_anchor(self, name: str) -> str:
        """The id a link in the error summary jumps to (the first radio of a group)."""
        bound = self[name]
        if isinstance(bound.field.widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
            return f"{bound.auto_id}_0"
        return bound.auto_id


def new_submission_id() -> uuid.UUID:
    return uuid.uuid4()


class SubmissionIdForm(PatientForm):
    """The one-tap "all fine" answer: only the submission id."""

    submission_id = forms.UUIDField(widget=forms.HiddenInput)


class ChooseForm(PatientForm):
    """Step 1: which reactions."""

    submission_id = forms.UUIDField(widget=forms.HiddenInput)
    terms = forms.MultipleChoiceField(
        label=_("What have you noticed? Choose all that apply."),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, terms: list[ReactionTerm], language: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.term_rows = {t.code: t for t in terms}
        self.fields["terms"].choices = [(t.code, t.label_for(language)) for t in terms]
        self.fields["terms"].error_messages["required"] = _(
            "Choose at least one reaction, or go back and answer 'all fine'."
        )

    def chosen_terms(self) -> list[ReactionTerm]:
        return [self.term_rows[code] for code in self.cleaned_data["terms"]]


class HiddenChoiceForm(ChooseForm):
    """Step 2 carries step 1's answer along in hidden fields."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["terms"].widget = forms.MultipleHiddenInput()


YES_NO = [("yes", _("Yes")), ("no", _("No"))]
SEVERITY = [
    ("1", _("Mild: I notice it, but it does not get in my way")),
    ("2", _("Moderate: it gets in the way of my usual day")),
    ("3", _("Severe: it is hard to look after myself")),
]
STATUS = [("ongoing", _("Still going")), ("ended", _("It has ended"))]


class ReactionDetailForm(PatientForm):
    """Step 2: one reaction's details, prefixed with its term code."""

    onset_date = forms.DateField(
        label=_("When did it start?"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter a date, for example 2025-03-14.")},
        validators=[validate_any_date],
    )
    status = forms.ChoiceField(
        label=_("Is it still going?"), choices=STATUS, widget=forms.RadioSelect
    )
    ended_on = forms.DateField(
        label=_("If it has ended: when did it end?"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter a date, for example 2025-03-14.")},
        validators=[validate_any_date],
    )
    patient_severity = forms.ChoiceField(
        label=_("How bad is it?"), choices=SEVERITY, widget=forms.RadioSelect
    )
    stopped_activities = forms.ChoiceField(
        label=_("Did it stop you doing your normal activities?"),
        choices=YES_NO,
        widget=forms.RadioSelect,
    )
    sought_care = forms.ChoiceField(
        label=_("Did you see a doctor, nurse or pharmacist about it?"),
        choices=YES_NO,
        widget=forms.RadioSelect,
    )
    other_text = forms.CharField(
        label=_("Describe it in a few words"), max_length=200, required=False
    )

    def __init__(self, *args: Any, term: ReactionTerm, language: str, today: date, **kwargs: Any):
        kwargs.setdefault("prefix", term.code)
        super().__init__(*args, **kwargs)
        self.term = term
        self.term_label = term.label_for(language)
        if term.is_other:
            self.fields["other_text"].required = True
            self.fields["other_text"].error_messages["required"] = _(
                "Describe the reaction in a few words."
            )
        else:
            del self.fields["other_text"]
        # The clinic's today, not the server's: Seoul is a day ahead of UTC each morning.
        for name in ("onset_date", "ended_on"):
            self.fields[name].widget.attrs["max"] = today.isoformat()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (
            data.get("status") == "ended"
            and not data.get("ended_on")
            and not self.has_error("ended_on")
        ):
            self.add_error("ended_on", _("Give the end date, or choose 'still going'."))
        return data

    def to_input(self) -> ReactionInput:
        data = self.cleaned_data
        ongoing = data["status"] == "ongoing"
        return ReactionInput(
            term=self.term,
            onset_date=data["onset_date"],
            ongoing=ongoing,
            ended_on=None if ongoing else data["ended_on"],
            patient_severity=int(data["patient_severity"]),
            stopped_activities=data["stopped_activities"] == "yes",
            sought_care=data["sought_care"] == "yes",
            other_text=data.get("other_text", ""),
        )


class ExtrasForm(PatientForm):
    """Step 2's end: an optional photo and anything else in the patient's words."""

    photo = forms.FileField(
        label=_("A photo (optional)"),
        required=False,
        help_text=_("JPEG, PNG or WebP, up to 10 MB. Only your clinic's care team sees it."),
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )
    free_text = forms.CharField(
        label=_("Anything else you want to tell us? (optional)"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class AddPhotoForm(PatientForm):
    """The "add a photo" step after a report was sent: one photo, checked like the form's."""

    photo = forms.FileField(
        label=_("Your photo"),
        help_text=ExtrasForm.base_fields["photo"].help_text,
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["photo"].error_messages["required"] = _("Choose a photo to add.")
