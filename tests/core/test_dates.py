"""The date rules (clinic/core/dates.py) and "today" as the clinic's date, not the server's.

15:30 UTC is already tomorrow in Seoul (00:30); 02:00 UTC is still yesterday in New York
(21:00). A rule that compared with the server's date got both wrong."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from clinic.core.dates import ANY_DATE, BOOKING, CALENDAR, DATE_OF_BIRTH
from patients.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

SEOUL_AFTER_MIDNIGHT = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)  # Seoul: 8 Dec, 00:30
NEW_YORK_EVENING = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # New York: 7 Dec, 21:00


def _refused(rule, value, clinic) -> bool:
    try:
        rule.check(value, clinic=clinic)
    except ValidationError:
        return True
    return False


# --- the clinic's clock ----------------------------------------------------------------------


def test_today_is_the_clinics_date(clinic_a, clinic_b):
    with time_machine.travel(SEOUL_AFTER_MIDNIGHT, tick=False):
        assert clinic_a.today() == date(2026, 12, 8)
        assert clinic_b.today() == date(2026, 12, 7)
    with time_machine.travel(NEW_YORK_EVENING, tick=False):
        assert clinic_a.today() == date(2026, 12, 8)
        assert clinic_b.today() == date(2026, 12, 7)


# --- the rules -------------------------------------------------------------------------------


@time_machine.travel(SEOUL_AFTER_MIDNIGHT, tick=False)
def test_a_date_of_birth_runs_from_1900_to_the_clinics_today(clinic_a, clinic_b):
    assert not _refused(DATE_OF_BIRTH, date(1900, 1, 1), clinic_a)
    assert _refused(DATE_OF_BIRTH, date(1899, 12, 31), clinic_a)
    assert not _refused(DATE_OF_BIRTH, date(2026, 12, 8), clinic_a)
    assert _refused(DATE_OF_BIRTH, date(2026, 12, 9), clinic_a)
    # The same moment is still 7 December in New York.
    assert _refused(DATE_OF_BIRTH, date(2026, 12, 8), clinic_b)
    assert not _refused(DATE_OF_BIRTH, date(2026, 12, 7), clinic_b)


@time_machine.travel(SEOUL_AFTER_MIDNIGHT, tick=False)
def test_a_future_date_of_birth_says_it_is_in_the_future(clinic_a):
    with pytest.raises(ValidationError) as caught:
        DATE_OF_BIRTH.check(date(2026, 12, 9), clinic=clinic_a)
    assert "cannot be in the future" in caught.value.messages[0]


@time_machine.travel(SEOUL_AFTER_MIDNIGHT, tick=False)
def test_booking_runs_from_a_year_back_to_two_years_ahead(clinic_a):
    assert not _refused(BOOKING, date(2025, 12, 8), clinic_a)
    assert _refused(BOOKING, date(2025, 12, 7), clinic_a)
    assert not _refused(BOOKING, date(2028, 12, 8), clinic_a)
    assert _refused(BOOKING, date(2028, 12, 9), clinic_a)


@time_machine.travel(SEOUL_AFTER_MIDNIGHT, tick=False)
def test_a_booking_time_is_judged_by_its_date_on_the_clinics_clock(clinic_a):
    # 15:30 UTC on 8 Dec 2028 is 00:30 on 9 Dec 2028 in Seoul: one day too far.
    assert _refused(BOOKING, datetime(2028, 12, 8, 15, 30, tzinfo=UTC), clinic_a)
    assert not _refused(BOOKING, datetime(2028, 12, 8, 14, 30, tzinfo=UTC), clinic_a)


def test_a_time_too_far_out_to_convert_is_out_of_range_not_an_overflow(clinic_a):
    end_of_time = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    assert _refused(BOOKING, end_of_time, clinic_a)  # Seoul would be in year 10000
    assert _refused(ANY_DATE, end_of_time, None)


@time_machine.travel(SEOUL_AFTER_MIDNIGHT, tick=False)
def test_the_calendar_goes_five_years_either_way(clinic_a):
    assert not _refused(CALENDAR, date(2021, 12, 8), clinic_a)
    assert _refused(CALENDAR, date(2021, 12, 7), clinic_a)
    assert not _refused(CALENDAR, date(2031, 12, 8), clinic_a)
    assert _refused(CALENDAR, date(2031, 12, 9), clinic_a)


def test_a_leap_day_today_keeps_a_range_a_year_away(clinic_a):
    with time_machine.travel(datetime(2028, 2, 29, 3, 0, tzinfo=UTC), tick=False):
        assert BOOKING.bounds(clinic_a.today()) == (date(2027, 2, 28), date(2030, 2, 28))


# --- "today" where people type dates ---------------------------------------------------------


def _register(clinic, born: date) -> dict:
    return {
        "clinic": clinic.pk,
        "first_name": "Min-ji",
        "last_name": "Kim",
        "date_of_birth": born.isoformat(),
        "email": "minji@example.com",
        "preferred_channel": "email",
        "language": "ko",
        "fitzpatrick_type": "",
    }


@time_machine.travel(SEOUL_AFTER_MIDNIGHT, tick=False)
def test_seoul_registers_a_baby_born_today_at_half_past_midnight(front_desk_client, clinic_a):
    """GIVEN 15:30 UTC, which is 00:30 on 8 December in Seoul
    WHEN the front desk registers a patient born on 8 December
    THEN the patient is registered (the server's date, 7 December, is not the rule)."""
    response = front_desk_client.post(
        reverse("patients:register"), _register(clinic_a, date(2026, 12, 8))
    )
    assert response.status_code == 302
    assert Patient.objects.get().date_of_birth == date(2026, 12, 8)


@time_machine.travel(SEOUL_AFTER_MIDNIGHT, tick=False)
def test_seoul_refuses_a_date_of_birth_tomorrow(front_desk_client, clinic_a):
    response = front_desk_client.post(
        reverse("patients:register"), _register(clinic_a, date(2026, 12, 9))
    )
    assert response.status_code == 200
    assert "cannot be in the future" in str(response.context["form"].errors["date_of_birth"])
    assert not Patient.objects.exists()


@time_machine.travel(NEW_YORK_EVENING, tick=False)
def test_new_york_refuses_the_utc_date_while_it_is_still_yesterday_there(
    client_as, practitioner_b, clinic_b
):
    client = client_as(practitioner_b)
    response = client.post(reverse("patients:register"), _register(clinic_b, date(2026, 12, 8)))
    assert "date_of_birth" in response.context["form"].errors
    response = client.post(reverse("patients:register"), _register(clinic_b, date(2026, 12, 7)))
    assert response.status_code == 302
    assert Patient.objects.get().date_of_birth == date(2026, 12, 7)


@time_machine.travel(SEOUL_AFTER_MIDNIGHT, tick=False)
def test_the_api_takes_seouls_today_as_a_date_of_birth_and_refuses_tomorrow(front_desk_client):
    body = {
        "first_name": "Min-ji",
        "last_name": "Kim",
        "preferred_channel": "email",
        "email": "minji@example.com",
        "consent_to_contact": True,
    }
    response = front_desk_client.post(
        "/api/v1/patients/", body | {"date_of_birth": "2026-12-09"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "date_of_birth" in response.json()["error"]["fields"]
    response = front_desk_client.post(
        "/api/v1/patients/", body | {"date_of_birth": "2026-12-08"}, content_type="application/json"
    )
    assert response.status_code == 201, response.json()


@time_machine.travel(NEW_YORK_EVENING, tick=False)
def test_a_patient_edited_in_new_york_is_judged_by_new_yorks_date(clinic_b):
    patient = PatientFactory(clinic=clinic_b)
    patient.date_of_birth = date(2026, 12, 7)
    patient.full_clean()
    patient.date_of_birth = date(2026, 12, 8)
    with pytest.raises(ValidationError) as caught:
        patient.full_clean()
    assert "date_of_birth" in caught.value.message_dict


@time_machine.travel(NEW_YORK_EVENING, tick=False)
def test_the_calendar_opens_on_new_yorks_today(client_as, practitioner_b, clinic_b):
    response = client_as(practitioner_b).get(reverse("treatments:calendar"), {"view": "day"})
    assert response.status_code == 200
    assert response.context["today"] == date(2026, 12, 7)


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        (DATE_OF_BIRTH, date(1899, 12, 31)),
        (DATE_OF_BIRTH, date(2999, 1, 1)),
        (BOOKING, date(2999, 1, 1)),
        (CALENDAR, date(2999, 1, 1)),
        (ANY_DATE, date(2999, 1, 1)),
    ],
)
def test_every_range_error_speaks_korean(rule, value, clinic_a):
    from django.utils import translation

    with translation.override("ko"):
        with pytest.raises(ValidationError) as caught:
            rule.check(value, clinic=clinic_a)
        [message] = caught.value.messages
    assert not re.search(r"[A-Za-z]{3,}", message), message  # no English words left
    assert "%(" not in message


def test_the_offset_error_speaks_korean(front_desk_client):
    from django.utils import translation

    from clinic.core.api.fields import NAIVE_DATETIME

    with translation.override("ko"):
        assert "오프셋" in str(NAIVE_DATETIME)
