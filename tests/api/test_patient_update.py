"""PATCH /api/v1/patients/<id>/ through patients.services.patient_update."""

from __future__ import annotations

import pytest

from patients.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _patch(client, patient, data, **extra):
    return client.patch(
        f"/api/v1/patients/{patient.uuid}/", data, content_type="application/json", **extra
    )


def test_the_front_desk_corrects_contact_details_and_the_old_ones_stay_in_history(
    front_desk_client, front_desk_a, clinic_a
):
    patient = PatientFactory(clinic=clinic_a, email="old@example.com", preferred_channel="email")
    response = _patch(
        front_desk_client,
        patient,
        {"phone": " +82 10 5555 0000 ", "preferred_channel": "sms", "language": "ko"},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["preferred_channel"] == "sms"
    assert response.json()["screening"] is None  # still no clinical fields for the front desk
    patient.refresh_from_db()
    assert (patient.phone, patient.preferred_channel, patient.language) == (
        "+821055550000",  # stored in E.164
        "sms",
        "ko",
    )
    assert patient.email == "old@example.com"  # not sent, not changed
    latest, before = patient.history.all()[:2]
    assert latest.history_user == front_desk_a
    assert before.preferred_channel == "email"


def test_the_front_desk_may_not_change_screening_facts(front_desk_client, clinic_a):
    patient = PatientFactory(clinic=clinic_a)
    response = _patch(front_desk_client, patient, {"on_anticoagulants": True, "language": "ko"})
    assert response.status_code == 403
    assert "on_anticoagulants" in response.json()["error"]["fields"]
    patient.refresh_from_db()
    assert patient.on_anticoagulants is False and patient.language != "ko"


def test_a_practitioner_records_screening_facts(practitioner_client, clinic_a):
    patient = PatientFactory(clinic=clinic_a)
    response = _patch(
        practitioner_client,
        patient,
        {"fitzpatrick_type": 4, "on_anticoagulants": True, "allergies": "  latex "},
    )
    assert response.status_code == 200, response.json()
    screening = response.json()["screening"]
    assert screening["fitzpatrick_type"] == 4 and screening["on_anticoagulants"] is True
    assert Patient.objects.get(pk=patient.pk).allergies == "latex"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"date_of_birth": "1850-01-01"}, "date_of_birth"),
        ({"date_of_birth": "not a date"}, "date_of_birth"),
        ({"first_name": ""}, "first_name"),
        ({"email": "not-an-email"}, "email"),
        ({"preferred_channel": "pigeon"}, "preferred_channel"),
        ({"fitzpatrick_type": 9}, "fitzpatrick_type"),
        ({"preferred_channel": "sms", "phone": ""}, "phone"),
        ({"email": ""}, "email"),  # email is the preferred channel
    ],
)
def test_bad_input_is_a_400_naming_the_field(practitioner_client, clinic_a, body, field):
    patient = PatientFactory(clinic=clinic_a, email="a@example.com", preferred_channel="email")
    response = _patch(practitioner_client, patient, body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"], response.json()
    patient.refresh_from_db()
    assert patient.email == "a@example.com" and patient.preferred_channel == "email"


def test_withdrawing_consent_clears_when_it_was_given(front_desk_client, clinic_a):
    patient = PatientFactory(clinic=clinic_a, consent_to_contact=True)
    patient.refresh_from_db()
    assert patient.consent_recorded_at is not None
    assert _patch(front_desk_client, patient, {"consent_to_contact": False}).status_code == 200
    patient.refresh_from_db()
    assert patient.consent_to_contact is False and patient.consent_recorded_at is None
    assert not patient.can_receive("email")


def test_another_clinics_patient_is_a_404_and_unchanged(outsider_client, clinic_a):
    patient = PatientFactory(clinic=clinic_a, first_name="Mina")
    response = _patch(outsider_client, patient, {"first_name": "Changed"})
    assert response.status_code == 404
    assert Patient.objects.get(pk=patient.pk).first_name == "Mina"


def test_a_record_entered_in_error_is_not_edited(practitioner_client, clinic_a):
    patient = PatientFactory(
        clinic=clinic_a, entered_in_error=True, entered_in_error_reason="Duplicate"
    )
    response = _patch(practitioner_client, patient, {"first_name": "Changed"})
    assert response.status_code == 400
    assert Patient.objects.get(pk=patient.pk).first_name != "Changed"


def test_put_is_not_offered(practitioner_client, clinic_a):
    patient = PatientFactory(clinic=clinic_a)
    response = practitioner_client.put(
        f"/api/v1/patients/{patient.uuid}/", {}, content_type="application/json"
    )
    assert response.status_code == 405


def test_a_practitioner_records_current_medications_and_isotretinoin_and_confirms_them(
    practitioner_client, practitioner_a, clinic_a
):
    patient = PatientFactory(clinic=clinic_a)
    response = _patch(
        practitioner_client,
        patient,
        {"current_medications": " Isotretinoin 20 mg daily ", "on_isotretinoin": True},
    )
    assert response.status_code == 200, response.json()
    screening = response.json()["screening"]
    assert screening["current_medications"] == "Isotretinoin 20 mg daily"
    assert screening["on_isotretinoin"] is True
    # The facts sent are confirmed by the caller; the others are not.
    confirmed = {c.fact: c.confirmed_by for c in patient.fact_confirmations.all()}
    assert confirmed == {"current_medications": practitioner_a, "on_isotretinoin": practitioner_a}


def test_the_front_desk_reads_no_new_facts_and_may_not_set_them(front_desk_client, clinic_a):
    patient = PatientFactory(clinic=clinic_a, current_medications="Warfarin")
    assert _patch(front_desk_client, patient, {"on_isotretinoin": True}).status_code == 403
    assert _patch(front_desk_client, patient, {"current_medications": ""}).status_code == 403
    body = front_desk_client.get(f"/api/v1/patients/{patient.uuid}/").json()
    assert body["screening"] is None and "Warfarin" not in str(body)
    patient.refresh_from_db()
    assert patient.on_isotretinoin is False and patient.current_medications == "Warfarin"
    assert not patient.fact_confirmations.exists()


def test_a_patch_that_changes_nothing_adds_no_history_row(practitioner_client, clinic_a):
    patient = PatientFactory(clinic=clinic_a)
    first = _patch(practitioner_client, patient, {"on_isotretinoin": True, "language": "ko"})
    assert first.status_code == 200
    versions = patient.history.count()
    again = _patch(practitioner_client, patient, {"on_isotretinoin": True, "language": "ko"})
    assert again.status_code == 200
    assert patient.history.count() == versions
