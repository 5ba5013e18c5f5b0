"""Archiving a patient: the reason, asked on the page that says what will be cancelled."""

from __future__ import annotations

from django import forms

from clinic.core.forms import AccessibleErrorsMixin


class ArchiveForm(AccessibleErrorsMixin, forms.Form):
    reason = forms.CharField(
        label="Why is the patient archived?",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say why the patient is archived."},
        help_text="For example: moved away, asked to stop treatment, duplicate record.",
    )
