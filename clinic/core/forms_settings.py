"""Forms of a clinic's settings pages. Every error names its field."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.utils.translation import gettext_lazy as _

from .clinic_settings import WEEKDAYS
from .dates import BOOKING
from .forms import AccessibleErrorsMixin
from .formtokens import FormTokenMixin
from .models import Clinic

PHONE = re.compile(r"^\+?[0-9 ()\-]{3,30}$")


def _phone_ok(value: str, *, minimum: int) -> bool:
    return bool(PHONE.match(value)) and sum(c.isdigit() for c in value) >= minimum


class BasicsForm(AccessibleErrorsMixin, forms.ModelForm):
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=[(z, z) for z in sorted(available_timezones())],
        help_text=_("Every time the clinic's staff and patients see is on this clock."),
    )

    class Meta:
        model = Clinic
        fields = [
            "name",
            "country",
            "time_zone",
            "address",
            "phone",
            "emergency_number",
            "staff_language",
            "on_call_email",
            "on_call_sms",
        ]
        labels = {
            "name": _("Clinic name"),
            "country": _("Country code"),
            "address": _("Address"),
            "phone": _("Phone for patients"),
            "emergency_number": _("Emergency number"),
            "staff_language": _("Language of staff messages"),
            "on_call_email": _("On-call email for red-flag alerts"),
            "on_call_sms": _("On-call mobile for red-flag alerts"),
        }
        help_texts = {
            "country": _("Two letters (KR, US): the default region of phone numbers."),
            "emergency_number": _(
                "The local emergency number patients are told to call (the ambulance number of "
                "the clinic's country). Every page and message for patients reads it here."
            ),
            "staff_language": _("On-call alerts and other messages to this clinic's staff."),
            "on_call_sms": _("Optional. An international number, e.g. +82 10 1234 5678."),
        }
        widgets = {"address": forms.Textarea(attrs={"rows": 3})}

    def clean_country(self) -> str:
        value = (self.cleaned_data.get("country") or "").strip().upper()
        if not (len(value) == 2 and value.isascii() and value.isalpha()):
            raise forms.ValidationError(_("Country code: give two letters, e.g. KR or US."))
        return value

    def clean_phone(self) -> str:
        value = (self.cleaned_data.get("phone") or "").strip()
        if not _phone_ok(value, minimum=6):
            raise forms.ValidationError(
                _("Phone for patients: digits, spaces and a leading +, e.g. +82 2 555 0100.")
            )
        return value

    def clean_emergency_number(self) -> str:
        value = (self.cleaned_data.get("emergency_number") or "").strip()
        if not (value.isdigit() and 2 <= len(value) <= 6):
            raise forms.ValidationError(_("Emergency number: 2 to 6 digits only."))
        return value

    def clean_on_call_sms(self) -> str:
        value = (self.cleaned_data.get("on_call_sms") or "").strip()
        if value and not (value.startswith("+") and _phone_ok(value, minimum=8)):
            raise forms.ValidationError(
                _("On-call mobile: an international number starting with +, e.g. +82 10 1234 5678.")
            )
        return value


class HoursForm(AccessibleErrorsMixin, forms.Form):
    """Opening and closing time per weekday; both empty means closed that day."""

    def __init__(self, *args: Any, hours: dict | None = None, **kwargs: Any) -> None:
        hours = hours or {}
        initial = {}
        for day, _name in WEEKDAYS:
            span = hours.get(day) or ["", ""]
            initial[f"opens_{day}"], initial[f"closes_{day}"] = span
        super().__init__(*args, initial=initial, **kwargs)
        for day, name in WEEKDAYS:
            for part, label in (("opens", _("opens")), ("closes", _("closes"))):
                self.fields[f"{part}_{day}"] = forms.TimeField(
                    label=f"{_(name)} {label}",
                    required=False,
                    input_formats=["%H:%M"],
                    widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                )

    def rows(self) -> list[tuple[str, Any, Any]]:
        return [(_(name), self[f"opens_{d}"], self[f"closes_{d}"]) for d, name in WEEKDAYS]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        hours = {}
        for day, name in WEEKDAYS:
            opens, closes = cleaned.get(f"opens_{day}"), cleaned.get(f"closes_{day}")
            if f"opens_{day}" in self.errors or f"closes_{day}" in self.errors:
                continue
            if opens is None and closes is None:
                continue
            if opens is None or closes is None:
                missing = f"opens_{day}" if opens is None else f"closes_{day}"
                self.add_error(
                    missing,
                    _("%(day)s: give both times, or leave both empty when closed.")
                    % {"day": _(name)},
                )
            elif opens >= closes:
                self.add_error(
                    f"closes_{day}",
                    _("%(day)s: the closing time must be after the opening time.")
                    % {"day": _(name)},
                )
            else:
                hours[day] = [f"{opens:%H:%M}", f"{closes:%H:%M}"]
        cleaned["opening_hours"] = hours
        return cleaned


class ClosureForm(AccessibleErrorsMixin, FormTokenMixin):
    starts_on = forms.DateField(
        label=_("Closed from"), widget=forms.DateInput(attrs={"type": "date"})
    )
    ends_on = forms.DateField(
        label=_("Closed until"), widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = forms.CharField(label=_("Reason (optional)"), max_length=200, required=False)

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic

    # A closure matters only where appointments can be booked: the booking range.
    def clean_starts_on(self) -> date:
        value = self.cleaned_data["starts_on"]
        BOOKING.check(value, clinic=self.clinic)
        return value

    def clean_ends_on(self) -> date:
        value = self.cleaned_data["ends_on"]
        BOOKING.check(value, clinic=self.clinic)
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        starts, ends = cleaned.get("starts_on"), cleaned.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error(
                "ends_on", _("Closed until: the last day must be on or after the first.")
            )
        return cleaned


class CheckInSettingsForm(AccessibleErrorsMixin, forms.Form):
    quiet_hours_start = forms.TimeField(
        label=_("Quiet hours start"),
        input_formats=["%H:%M"],
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    quiet_hours_end = forms.TimeField(
        label=_("Quiet hours end"),
        input_formats=["%H:%M"],
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("No message goes to a patient in between; it waits until the end."),
    )
    reminder_hours = forms.IntegerField(
        label=_("Reminder after (hours)"),
        min_value=1,
        max_value=168,
        help_text=_("An unanswered check-in is reminded once after this many hours."),
    )
    call_hours = forms.IntegerField(
        label=_("Call task after the reminder (hours)"),
        min_value=1,
        max_value=168,
        help_text=_("Still unanswered this long after the reminder, the front desk calls."),
    )

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "quiet_hours_start": data["quiet_hours_start"],
            "quiet_hours_end": data["quiet_hours_end"],
            "checkin_reminder_delay": timedelta(hours=data["reminder_hours"]),
            "checkin_call_delay": timedelta(hours=data["call_hours"]),
        }


class PlanStepForm(AccessibleErrorsMixin, forms.Form):
    label = forms.CharField(label=_("Label"), max_length=60)
    days = forms.IntegerField(
        label=_("Days after the session"),
        min_value=1,
        max_value=365,
        error_messages={
            "min_value": _("Days after the session: at least 1."),
            "max_value": _("Days after the session: at most 365."),
        },
    )

    def clean_label(self) -> str:
        value = (self.cleaned_data.get("label") or "").strip()
        if not value:
            raise forms.ValidationError(_("Label: give the step a name, e.g. Day 3."))
        return value

    @property
    def offset(self) -> timedelta:
        return timedelta(days=self.cleaned_data["days"])


class PlanStepAddForm(FormTokenMixin, PlanStepForm):
    """A new step: a double-clicked "Add step" adds it once."""
