"""Booking forms: series templates, booking a series, rescheduling, clearing a hold.

Date-time fields are read in the current time zone, which the booking views set to the
clinic's own (`clinic.activate()`), so what the front desk types is the clinic's wall clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms

from clinic.core.dates import BOOKING
from clinic.core.forms import AccessibleErrorsMixin
from clinic.core.formtokens import FormTokenMixin
from clinic.core.models import Clinic
from patients.forms import DateInput

from .models import SeriesTemplate

LOCAL_INPUT = "%Y-%m-%dT%H:%M"


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict | None = None):
        super().__init__(attrs=attrs, format=LOCAL_INPUT)


def local_datetime_field(label: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label, input_formats=[LOCAL_INPUT, "%Y-%m-%d %H:%M"], widget=LocalDateTimeInput()
    )


class SeriesTemplateForm(AccessibleErrorsMixin, forms.ModelForm):
    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), empty_label=None)

    class Meta:
        model = SeriesTemplate
        fields = [
            "clinic",
            "name",
            "indication",
            "sessions_planned",
            "interval_weeks",
            "min_interval_weeks",
            "max_interval_weeks",
            "maintenance_interval_months",
            "session_minutes",
            "active",
        ]
        labels = {
            "interval_weeks": "Interval (weeks)",
            "min_interval_weeks": "Shortest allowed interval (weeks)",
            "max_interval_weeks": "Longest allowed interval (weeks)",
            "maintenance_interval_months": "Maintenance after the course (months)",
            "session_minutes": "Session length (minutes)",
        }

    def __init__(self, *args: Any, clinics: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics
        if self.instance.pk or clinics.count() == 1:
            self.fields["clinic"].initial = (
                self.instance.clinic if self.instance.pk else clinics.first()
            )
            self.fields["clinic"].widget = forms.HiddenInput()
        if self.instance.pk:
            self.fields["clinic"].disabled = True


class BookingForm(FormTokenMixin, AccessibleErrorsMixin, forms.Form):
    """Step one: template, practitioner, first date and time (clinic local time)."""

    template = forms.ModelChoiceField(
        label="Series", queryset=SeriesTemplate.objects.none(), empty_label="Choose a series"
    )
    practitioner = forms.ModelChoiceField(queryset=None, empty_label="Choose a practitioner")
    first_date = forms.DateField(label="First session: date", widget=DateInput())
    first_time = forms.TimeField(
        label="First session: time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )

    def __init__(
        self, *args: Any, clinic: Clinic, templates: Any, practitioners: Any, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields["template"].queryset = templates
        self.fields["practitioner"].queryset = practitioners

    def clean_first_date(self) -> Any:
        value = self.cleaned_data["first_date"]
        BOOKING.check(value, clinic=self.clinic)
        return value


class SessionTimesForm(AccessibleErrorsMixin, forms.Form):
    """Step two: one local date-time per session, prefilled with the proposal."""

    def __init__(self, *args: Any, clinic: Clinic, sessions: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        for n in range(1, sessions + 1):
            self.fields[f"start_{n}"] = local_datetime_field(f"Session {n}")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in list(self.fields):
            if data.get(name) is not None:
                try:
                    BOOKING.check(data[name], clinic=self.clinic)
                except forms.ValidationError as error:
                    self.add_error(name, error)
        return data

    def starts(self) -> list[datetime]:
        return [self.cleaned_data[f"start_{n}"] for n in range(1, len(self.fields) + 1)]


class RescheduleForm(AccessibleErrorsMixin, forms.Form):
    starts_at = local_datetime_field("New date and time")

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clinic = clinic

    def clean_starts_at(self) -> datetime:
        value = self.cleaned_data["starts_at"]
        BOOKING.check(value, clinic=self.clinic)
        return value


class ClearHoldForm(AccessibleErrorsMixin, forms.Form):
    reason = forms.CharField(
        label="Why treatment may go ahead",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    # Clearing cannot be undone: the person says so first.
    confirm = forms.BooleanField(
        label="I have reviewed the patient's reactions and alarms; treatment may go ahead",
        error_messages={"required": "Tick the box to confirm before clearing the hold."},
    )
