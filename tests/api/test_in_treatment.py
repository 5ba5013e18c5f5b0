""" "In treatment" in the API: appointments carry it, filter on it, the schema lists it, and a
session logged through the API against an appointment in treatment completes it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.factories import AppointmentFactory, PatientFactory
from tests.kit.world import default_plan, released_lot
from treatments.models import AppointmentStatus, TreatmentSession

pytestmark = pytest.mark.django_db


def test_an_appointment_in_treatment_reads_and_filters_as_in_treatment(front_desk_client, clinic_a):
    patient = PatientFactory(clinic=clinic_a)
    chair = AppointmentFactory(patient=patient, status=AppointmentStatus.IN_TREATMENT)
    AppointmentFactory(patient=patient)
    found = front_desk_client.get("/api/v1/appointments/", {"status": "in_treatment"}).json()
    assert [a["id"] for a in found["results"]] == [str(chair.uuid)]
    assert found["results"][0]["status"] == "in_treatment"


def test_an_unknown_status_filter_is_refused_naming_the_field(front_desk_client, clinic_a):
    response = front_desk_client.get("/api/v1/appointments/", {"status": "in_the_chair"})
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_the_schema_lists_in_treatment_among_the_appointment_statuses(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(target))
    assert "in_treatment" in target.read_text()


def test_a_session_logged_against_an_appointment_in_treatment_completes_it(
    practitioner_client, practitioner_a, clinic_a
):
    default_plan(clinic_a)
    patient, lot = PatientFactory(clinic=clinic_a), released_lot(clinic_a)
    now = timezone.now()
    appointment = AppointmentFactory(
        patient=patient,
        practitioner=practitioner_a,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        status=AppointmentStatus.IN_TREATMENT,
    )
    response = practitioner_client.post(
        "/api/v1/sessions/",
        {
            "patient": str(patient.uuid),
            "appointment": str(appointment.uuid),
            "lot": str(lot.uuid),
            "delivery_method": "microneedling",
            "needle_depth_mm": "0.50",
            "treated_areas": ["cheeks"],
            "warnings_acknowledged": True,
        },
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 201, response.json()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.COMPLETED
    assert TreatmentSession.objects.get(appointment=appointment).patient == patient
