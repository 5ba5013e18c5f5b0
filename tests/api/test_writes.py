"""Writes through the API call the same workflows as the pages."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from adverse_events.models import Alarm, Assessment
from patients.models import Patient
from tests.factories import (
    AlarmFactory,
    PatientFactory,
    ReactionReportFactory,
    SeriesTemplateFactory,
)
from tests.kit.world import default_plan, logged_session, released_lot
from treatments.models import LotStatus, TreatmentSession

pytestmark = pytest.mark.django_db

SEOUL = ZoneInfo("Asia/Seoul")
MONDAY = date(2026, 2, 2)


def _post(client, url, data, **extra):
    return client.post(url, data, content_type="application/json", **extra)


def _patient_body(**changes):
    body = {
        "first_name": "Mina",
        "last_name": "Park",
        "date_of_birth": "1990-04-01",
        "phone": "+82 10 1234 5678",
        "preferred_channel": "sms",
        "consent_to_contact": True,
        "language": "ko",
    }
    return body | changes


def test_the_front_desk_registers_a_patient(front_desk_client, clinic_a):
    response = _post(front_desk_client, "/api/v1/patients/", _patient_body())
    assert response.status_code == 201, response.json()
    patient = Patient.objects.get(uuid=response.json()["id"])
    assert patient.clinic == clinic_a and patient.last_name == "Park"
    assert response.json()["screening"] is None


def test_a_likely_duplicate_is_a_409_until_create_anyway(front_desk_client, clinic_a):
    assert _post(front_desk_client, "/api/v1/patients/", _patient_body()).status_code == 201
    again = _post(front_desk_client, "/api/v1/patients/", _patient_body())
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "possible_duplicate"
    anyway = _post(front_desk_client, "/api/v1/patients/", _patient_body(create_anyway=True))
    assert anyway.status_code == 201
    assert Patient.objects.filter(clinic=clinic_a, last_name="Park").count() == 2


def test_registering_at_a_clinic_where_one_has_no_role_names_the_field(front_desk_client, clinic_b):
    response = _post(
        front_desk_client, "/api/v1/patients/", _patient_body(clinic=str(clinic_b.uuid))
    )
    assert response.status_code == 400
    assert "clinic" in response.json()["error"]["fields"]


def _session_body(patient, lot, **changes):
    body = {
        "patient": str(patient.uuid),
        "lot": str(lot.uuid),
        "delivery_method": "microneedling",
        "needle_depth_mm": "0.50",
        "treated_areas": ["cheeks"],
        "warnings_acknowledged": True,
    }
    return body | changes


def test_a_practitioner_logs_a_session_through_the_workflow(practitioner_client, clinic_a):
    default_plan(clinic_a)
    patient, lot = PatientFactory(clinic=clinic_a), released_lot(clinic_a, quantity=5)
    response = _post(practitioner_client, "/api/v1/sessions/", _session_body(patient, lot))
    assert response.status_code == 201, response.json()
    session = TreatmentSession.objects.get(uuid=response.json()["id"])
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 4  # stock taken by the workflow
    assert session.checkins.exists()  # check-ins planned by the workflow


def test_a_quarantined_lot_is_refused_next_to_the_lot_field(practitioner_client, clinic_a):
    default_plan(clinic_a)
    patient = PatientFactory(clinic=clinic_a)
    lot = released_lot(clinic_a, status=LotStatus.QUARANTINED, status_reason="Cold chain broken.")
    response = _post(practitioner_client, "/api/v1/sessions/", _session_body(patient, lot))
    assert response.status_code in (400, 409)
    assert "lot" in response.json()["error"]["fields"]
    assert not TreatmentSession.objects.exists()


def test_a_hard_stop_needs_an_override_reason(practitioner_client, clinic_a):
    default_plan(clinic_a)
    patient = PatientFactory(clinic=clinic_a, pregnant_or_breastfeeding=True)
    response = _post(
        practitioner_client, "/api/v1/sessions/", _session_body(patient, released_lot(clinic_a))
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "hard_stop"
    assert "screening_override_reason" in error["fields"]


def test_another_clinics_lot_is_not_found(practitioner_client, clinic_a, clinic_b):
    response = _post(
        practitioner_client,
        "/api/v1/sessions/",
        _session_body(PatientFactory(clinic=clinic_a), released_lot(clinic_b)),
    )
    assert response.status_code == 400
    assert "lot" in response.json()["error"]["fields"]


def test_a_clinician_assesses_a_reaction(practitioner_client, practitioner_a, clinic_a):
    default_plan(clinic_a)
    report = ReactionReportFactory(session=logged_session(practitioner_a))
    response = _post(
        practitioner_client,
        f"/api/v1/reactions/{report.uuid}/assess/",
        {"triage_status": "reviewed", "severity_grade": 2, "causality": "possible"},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["assessment"]["severity_grade"] == 2
    assessment = Assessment.objects.get(report=report)
    assert assessment.assessed_by == practitioner_a


def test_a_reviewed_assessment_without_grade_is_refused_on_its_field(
    practitioner_client, practitioner_a, clinic_a
):
    default_plan(clinic_a)
    report = ReactionReportFactory(session=logged_session(practitioner_a))
    response = _post(
        practitioner_client,
        f"/api/v1/reactions/{report.uuid}/assess/",
        {"triage_status": "reviewed"},
    )
    assert response.status_code == 400
    assert "severity_grade" in response.json()["error"]["fields"]


def test_an_alarm_is_acknowledged_once(practitioner_client, safety_lead_client, clinic_a):
    alarm = AlarmFactory(clinic=clinic_a)
    url = f"/api/v1/alarms/{alarm.uuid}/acknowledge/"
    first = _post(practitioner_client, url, {"note": "Called the patient."})
    assert first.status_code == 200
    assert first.json()["acknowledged_at"]
    second = _post(safety_lead_client, url, {})
    assert second.status_code == 409
    assert Alarm.objects.get(pk=alarm.pk).acknowledgement_note == "Called the patient."


def test_the_front_desk_cannot_acknowledge_alarms(front_desk_client, clinic_a):
    alarm = AlarmFactory(clinic=clinic_a)
    response = _post(front_desk_client, f"/api/v1/alarms/{alarm.uuid}/acknowledge/", {})
    assert response.status_code == 403
    assert Alarm.objects.get(pk=alarm.pk).acknowledged_at is None


@time_machine.travel(datetime(2026, 1, 2, tzinfo=ZoneInfo("UTC")), tick=True)
def test_the_front_desk_books_a_series_with_the_safety_hold(
    front_desk_client, practitioner_a, clinic_a
):
    """GIVEN a patient with an unresolved reaction
    WHEN the front desk books a three-session series through the API
    THEN every session is booked and the first is on safety hold."""
    template = SeriesTemplateFactory(clinic=clinic_a, sessions_planned=3, interval_weeks=4)
    patient = PatientFactory(clinic=clinic_a)
    ReactionReportFactory(patient=patient, ongoing=True)
    starts = [
        datetime.combine(MONDAY + timedelta(weeks=4 * n), time(10), tzinfo=SEOUL).isoformat()
        for n in range(3)
    ]
    response = _post(
        front_desk_client,
        "/api/v1/series/",
        {
            "patient": str(patient.uuid),
            "practitioner": str(practitioner_a.uuid),
            "template": str(template.uuid),
            "starts": starts,
        },
    )
    assert response.status_code == 201, response.json()
    appointments = front_desk_client.get(
        "/api/v1/appointments/", {"series": response.json()["id"], "ordering": "starts_at"}
    ).json()["results"]
    assert [a["safety_hold"] for a in appointments] == [True, False, False]
