"""Duplicate patients are spotted on normalised data, and phone numbers are checked (issue 16).

Pages and API: a national number against the stored international one, a "0082" prefix,
swapped first and last names and Korean names written either way are warned; a different
person is not. An invalid number is refused on the phone field and nothing is stored.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

import patients.migrations
from patients.models import Patient
from patients.normalise import name_key
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

REGISTER = "patients:register"
API = "/api/v1/patients/"


def _form(clinic, **extra):
    return {
        "clinic": clinic.pk,
        "first_name": "Seo-yeon",
        "last_name": "Park",
        "date_of_birth": "1992-08-30",
        "email": "",
        "phone": "",
        "preferred_channel": "sms",
        "consent_to_contact": "on",
        "language": "ko",
        "fitzpatrick_type": "",
    } | extra


def _api_body(**extra):
    return {
        "first_name": "Seo-yeon",
        "last_name": "Park",
        "date_of_birth": "1992-08-30",
        "phone": "",
        "preferred_channel": "email",
        "email": "seoyeon@example.com",
        "consent_to_contact": True,
        "language": "ko",
    } | extra


def _warned(response) -> bool:
    return response.status_code == 200 and "already registered" in response.content.decode()


def _kim_minji(clinic, **fields):
    """Kim Min-ji of Seoul, registered with her number in E.164 as the service stores it."""
    return PatientFactory(
        clinic=clinic,
        **{
            "first_name": "Minji",
            "last_name": "Kim",
            "date_of_birth": "1990-04-12",
            "phone": "+821012345678",
            "email": "minji@example.com",
        }
        | fields,
    )


# --- the cases the warning used to miss ---------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["010-1234-5678", "0082 10 1234 5678", "+82 (10) 1234-5678", "01012345678"]
)
def test_the_same_phone_written_another_way_is_a_likely_duplicate(
    front_desk_client, clinic_a, typed
):
    """GIVEN Kim Min-ji with +821012345678 WHEN another name is registered with her number
    typed in national form or with 0082 THEN her record is shown and nothing is created."""
    existing = _kim_minji(clinic_a)
    response = front_desk_client.post(reverse(REGISTER), _form(clinic_a, phone=typed))
    assert _warned(response)
    assert reverse("patients:detail", kwargs={"uuid": existing.uuid}) in response.content.decode()
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    ("first_name", "last_name"),
    [
        ("Kim", "Minji"),  # family name written first
        ("KIM", " min ji"),
        ("Kím", "Mínji"),  # accents typed
    ],
)
def test_swapped_first_and_last_names_with_the_same_birth_date_are_a_likely_duplicate(
    front_desk_client, clinic_a, first_name, last_name
):
    _kim_minji(clinic_a, phone="")
    data = _form(
        clinic_a,
        first_name=first_name,
        last_name=last_name,
        date_of_birth="1990-04-12",
        phone="010-9999-0000",
    )
    assert _warned(front_desk_client.post(reverse(REGISTER), data))
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        (("민지", "김"), ("김", "민지")),  # Hangul, family name first or last
        (("김", "민지"), ("민지", "김")),
        (("", "김민지"), ("민지", "김")),  # an imported record with the whole name in one field
        (("김민지", ""), ("김", "민지")),
    ],
)
def test_a_korean_name_written_family_name_first_or_last_is_a_likely_duplicate(
    front_desk_client, clinic_a, stored, typed
):
    _kim_minji(clinic_a, first_name=stored[0], last_name=stored[1], phone="")
    data = _form(clinic_a, first_name=typed[0], last_name=typed[1], date_of_birth="1990-04-12")
    data |= {"phone": "010-9999-0000"}
    assert _warned(front_desk_client.post(reverse(REGISTER), data))
    assert Patient.objects.count() == 1


def test_after_the_warning_create_anyway_makes_exactly_one_new_record(front_desk_client, clinic_a):
    _kim_minji(clinic_a)
    data = _form(clinic_a, first_name="Kim", last_name="Minji", date_of_birth="1990-04-12")
    data["phone"] = "010-9999-0000"
    assert _warned(front_desk_client.post(reverse(REGISTER), data))
    response = front_desk_client.post(reverse(REGISTER), data | {"create_anyway": "1"})
    assert response.status_code == 302
    assert Patient.objects.count() == 2


# --- different people are not warned about ------------------------------------------------


@pytest.mark.parametrize(
    ("first_name", "last_name", "born", "phone"),
    [
        ("Minji", "Kim", "1985-01-02", "010-2222-3333"),  # same name, another person
        ("Minjee", "Kim", "1990-04-12", "010-2222-3333"),  # similar name, same birth date
        ("Jimin", "Kim", "1990-04-12", "010-2222-3333"),
        ("지민", "김", "1990-04-12", "010-2222-3333"),  # 김지민 is not 김민지
        ("Minji", "Kim", "1990-04-12", "010-1234-5679"),  # theirs is 13 April, another phone
    ],
)
def test_a_different_person_is_registered_without_a_warning(
    front_desk_client, clinic_a, first_name, last_name, born, phone
):
    _kim_minji(clinic_a, first_name="민지", last_name="김", date_of_birth="1990-04-13")
    _kim_minji(clinic_a, date_of_birth="1990-04-13", email="other@example.com")
    data = _form(
        clinic_a, first_name=first_name, last_name=last_name, date_of_birth=born, phone=phone
    )
    response = front_desk_client.post(reverse(REGISTER), data)
    assert response.status_code == 302, response.content.decode()
    assert Patient.objects.count() == 3


def test_the_api_answers_409_for_a_national_number_against_the_stored_international_one(
    front_desk_client, clinic_a
):
    existing = _kim_minji(clinic_a)
    body = _api_body(phone="010-1234-5678")
    response = front_desk_client.post(API, body, content_type="application/json")
    assert response.status_code == 409, response.json()
    assert response.json()["error"]["code"] == "possible_duplicate"
    swapped = _api_body(first_name="Kim", last_name="Minji", date_of_birth="1990-04-12")
    response = front_desk_client.post(API, swapped, content_type="application/json")
    assert response.status_code == 409
    assert Patient.objects.get() == existing


# --- phone numbers checked and stored in E.164 --------------------------------------------


@pytest.mark.parametrize("typed", ["abc", "1", "010-1234", "1-800-FLOWERS"])
def test_an_invalid_phone_is_refused_next_to_the_phone_field(front_desk_client, clinic_a, typed):
    response = front_desk_client.post(reverse(REGISTER), _form(clinic_a, phone=typed))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="id_phone_errors"' in body and 'aria-describedby="id_phone_errors"' in body
    assert "This is not a valid phone number" in body and "010-2000-0000" in body
    # One error on the field, not also "give a mobile number".
    assert "SMS is the preferred channel" not in body
    assert not Patient.objects.exists()


def test_a_national_number_is_stored_in_e164_for_the_clinics_country(
    front_desk_client, outsider_client, clinic_a, clinic_b
):
    response = front_desk_client.post(reverse(REGISTER), _form(clinic_a, phone="010-1234-5678"))
    assert response.status_code == 302
    assert Patient.objects.get(clinic=clinic_a).phone == "+821012345678"
    # The same digits at the New York clinic are not a US number.
    data = _form(clinic_b, phone="010-1234-5678")
    assert (
        "This is not a valid phone number"
        in outsider_client.post(reverse(REGISTER), data).content.decode()
    )
    response = outsider_client.post(reverse(REGISTER), data | {"phone": "(212) 555-0123"})
    assert response.status_code == 302
    patient = Patient.objects.get(clinic=clinic_b)
    assert (patient.phone, patient.phone_key) == ("+12125550123", "12125550123")


@pytest.mark.parametrize("typed", ["abc", "1"])
def test_the_api_refuses_an_invalid_phone_with_a_400_naming_the_field(
    front_desk_client, clinic_a, typed
):
    body = _api_body(phone=typed, preferred_channel="sms")
    response = front_desk_client.post(API, body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error["fields"]) == ["phone"]
    assert "not a valid phone number" in error["fields"]["phone"][0]
    assert not Patient.objects.exists()


def test_an_api_edit_stores_the_new_phone_in_e164_and_refuses_an_invalid_one(
    front_desk_client, clinic_a
):
    patient = _kim_minji(clinic_a)
    url = f"{API}{patient.uuid}/"
    response = front_desk_client.patch(url, {"phone": "abc"}, content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["phone"]
    patient.refresh_from_db()
    assert patient.phone == "+821012345678"
    response = front_desk_client.patch(
        url, {"phone": "0082 10 5555 6666"}, content_type="application/json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["phone"] == "+821055556666"


def test_an_edit_that_leaves_an_old_unreadable_number_alone_is_not_refused(
    front_desk_client, clinic_a
):
    patient = _kim_minji(clinic_a, phone="ask at the desk")
    response = front_desk_client.patch(
        f"{API}{patient.uuid}/", {"language": "en"}, content_type="application/json"
    )
    assert response.status_code == 200, response.json()


def test_the_phone_error_is_in_korean_for_a_korean_request(front_desk_client, clinic_a):
    body = _api_body(phone="abc")
    response = front_desk_client.post(
        API, body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="ko"
    )
    assert response.status_code == 400
    assert "올바른 전화번호가 아닙니다" in response.json()["error"]["fields"]["phone"][0]


def test_a_search_by_a_national_number_finds_the_stored_international_one(
    front_desk_client, clinic_a
):
    existing = _kim_minji(clinic_a)
    url = reverse("patients:detail", kwargs={"uuid": existing.uuid})
    for typed in ("010-1234-5678", "010-1234", "1234-5678", "+82 10 1234 5678"):
        response = front_desk_client.get(reverse("patients:search"), {"q": typed})
        assert url in response.content.decode(), typed
    response = front_desk_client.get(reverse("patients:search"), {"q": "010-9999"})
    assert url not in response.content.decode()


# --- existing rows ------------------------------------------------------------------------


def _normalise_migration():
    """The data migration's module and the models as it sees them (no audit managers), found
    by name: the lead may renumber it."""
    (name,) = [
        m.name
        for m in pkgutil.iter_modules(patients.migrations.__path__)
        if m.name.endswith("_normalised_phones_and_name_keys")
    ]
    state = MigrationExecutor(connection).loader.project_state(("patients", name))
    return importlib.import_module(f"patients.migrations.{name}"), state.apps


def test_the_migration_normalises_existing_phones_and_recomputes_the_name_keys(clinic_a, clinic_b):
    """GIVEN rows saved before this change (numbers as typed, the old name keys) WHEN the
    data migration runs THEN valid numbers are E.164, the rest untouched, keys recomputed."""
    rows = {
        "national": (clinic_a, "010-1234-5678", "+821012345678"),
        "0082": (clinic_a, "0082 10 2222 3333", "+821022223333"),
        "spaced": (clinic_a, "+82 10 4444 5555", "+821044445555"),
        "us": (clinic_b, "(212) 555-0123", "+12125550123"),
        "unreadable": (clinic_a, "call her mum", "call her mum"),
        "blank": (clinic_a, "", ""),
    }
    made = {}
    for label, (clinic, typed, _) in rows.items():
        patient = PatientFactory(clinic=clinic, first_name="Minji", last_name=label)
        # As an old row: the phone as typed and the old key (no save(), so no new keys).
        Patient.objects.filter(pk=patient.pk).update(phone=typed, name_key="stale", phone_key="0")
        made[label] = patient
    migration, migration_apps = _normalise_migration()
    migration.normalise_patients(migration_apps, None)
    for label, (_, _, expected) in rows.items():
        patient = Patient.objects.get(pk=made[label].pk)
        assert patient.phone == expected, label
        assert patient.phone_key == "".join(c for c in expected if c.isdigit()), label
        assert patient.name_key == name_key("Minji", label), label
        # The change is in the record's history, with why.
        latest = patient.history.first()
        assert (latest.phone, latest.history_change_reason) == (expected, migration.REASON)
