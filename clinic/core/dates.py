"""The sane range of every date a person types: one place for the rules.

A date far outside what the clinic could mean (year 1 or 9999) used to reach arithmetic or
the database and answer 500; a date of birth was compared with the server's day instead of
the clinic's. Forms, API serializers and query-string parsing all check their dates here,
against the clinic's own today (`Clinic.today()`), so each rule is written once and the
error names the field that broke it.

    DATE_OF_BIRTH   1 January 1900 up to the clinic's today
    BOOKING         one year back up to two years ahead (appointments and series)
    CALENDAR        five years either side (calendar navigation)
    ANY_DATE        1900 up to 2100 (lot dates, filters and other plain dates)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from .models import Clinic


def _years_from(day: date, years: int) -> date:
    """The same calendar day `years` later (28 February for 29 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class DateRule:
    """A range of dates, each end computed from the clinic's today."""

    earliest: Callable[[date], date]
    latest: Callable[[date], date]
    # Formatted with the range's first and last day, e.g. "between %(earliest)s and %(latest)s".
    message: str | Promise
    # When a date after the range deserves its own words ("cannot be in the future").
    late_message: str | Promise | None = None

    def bounds(self, today: date) -> tuple[date, date]:
        return self.earliest(today), self.latest(today)

    def check(self, value: date | datetime, *, clinic: Clinic | None) -> None:
        """Raise ValidationError (code "date_range") unless `value` lies in the range.

        A date-time is judged by its date on the clinic's wall clock; one too far out even to
        convert is out of range too. Without a clinic (a filter across clinics) only the fixed
        ANY_DATE range makes sense."""
        day = local_date(value, clinic) if isinstance(value, datetime) else value
        first, last = self.bounds(clinic.today() if clinic is not None else timezone.localdate())
        if day is None or not first <= day <= last:
            late = day is not None and day > last and self.late_message is not None
            raise ValidationError(
                self.late_message if late else self.message,
                code="date_range",
                params={
                    "earliest": date_format(first, "DATE_FORMAT"),
                    "latest": date_format(last, "DATE_FORMAT"),
                },
            )


def local_date(value: datetime, clinic: Clinic | None) -> date | None:
    """The date of `value` on the clinic's clock (a naive value is taken as that clock);
    None when converting it would leave the years a computer can hold (1 to 9999)."""
    if value.tzinfo is None:
        return value.date()
    try:
        zone = clinic.zone if clinic is not None else UTC
        return value.astimezone(zone).date()
    except (OverflowError, ValueError):
        return None


DATE_OF_BIRTH = DateRule(
    earliest=lambda today: date(1900, 1, 1),
    latest=lambda today: today,
    message=_("Give a date of birth between %(earliest)s and today (%(latest)s)."),
    late_message=_("A date of birth cannot be in the future: today is %(latest)s at the clinic."),
)
BOOKING = DateRule(
    earliest=lambda today: _years_from(today, -1),
    latest=lambda today: _years_from(today, 2),
    message=_(
        "Appointments can be booked from one year back to two years ahead: "
        "between %(earliest)s and %(latest)s."
    ),
)
CALENDAR = DateRule(
    earliest=lambda today: _years_from(today, -5),
    latest=lambda today: _years_from(today, 5),
    message=_("The calendar shows five years either side of today: %(earliest)s to %(latest)s."),
)
ANY_DATE = DateRule(
    earliest=lambda today: date(1900, 1, 1),
    latest=lambda today: date(2100, 12, 31),
    message=_("Give a date between %(earliest)s and %(latest)s."),
)


def validate_any_date(value: date | datetime) -> None:
    """Field validator for dates no clinic rule covers (lot dates, filters): 1900 to 2100."""
    ANY_DATE.check(value, clinic=None)
