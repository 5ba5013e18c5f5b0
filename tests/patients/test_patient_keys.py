"""Duplicate-detection keys are derived however a patient is written."""

from patients.models import Patient
from tests.factories import PatientFactory


def test_bulk_created_patients_get_the_same_keys_as_saved_ones(clinic_a):
    template = PatientFactory.build(
        clinic=clinic_a, first_name="Ji-Woo", last_name="Park", phone="+82 10-1234-5678"
    )
    (bulk,) = Patient.objects.bulk_create([template])
    saved = PatientFactory(
        clinic=clinic_a, first_name="jiwoo", last_name=" PARK", phone="+821012345678"
    )
    bulk.refresh_from_db()
    assert bulk.name_key == saved.name_key == "parkjiwoo"
    assert bulk.phone_key == saved.phone_key == "821012345678"
    assert bulk.consent_recorded_at is not None
