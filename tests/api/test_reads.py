"""Read resources: scoped per clinic and role, no clinical fields for the front desk,
filters and ordering, and a constant number of queries per list whatever its size."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import (
    AlarmFactory,
    AppointmentFactory,
    AssessmentFactory,
    CheckInFactory,
    MembershipFactory,
    PatientFactory,
    ProductFactory,
    ProductLotFactory,
    ReactionReportFactory,
    ReactionTermFactory,
    TreatmentSeriesFactory,
    TreatmentSessionFactory,
)
from tests.kit.queries import assert_constant_queries

pytestmark = pytest.mark.django_db


def test_the_front_desk_gets_contact_details_but_no_screening_facts(
    front_desk_client, practitioner_client, api_world
):
    url = f"/api/v1/patients/{api_world.patient.uuid}/"
    desk = front_desk_client.get(url).json()
    clinician = practitioner_client.get(url).json()
    assert desk["last_name"] == api_world.patient.last_name
    assert desk["screening"] is None
    assert "allergies" not in desk
    assert clinician["screening"]["on_anticoagulants"] == api_world.patient.on_anticoagulants


@pytest.mark.parametrize(
    "resource", ["sessions", "reactions", "alarms", "checkins", "lots", "products"]
)
def test_the_front_desk_is_refused_clinical_resources(front_desk_client, api_world, resource):
    assert front_desk_client.get(f"/api/v1/{resource}/").status_code == 403


@pytest.mark.parametrize(
    ("resource", "attr"),
    [
        ("patients", "patient"),
        ("appointments", "appointment"),
        ("series", "series"),
        ("sessions", "session"),
        ("products", "product"),
        ("lots", "lot"),
        ("reactions", "reaction"),
        ("checkins", "checkin"),
        ("alarms", "alarm"),
    ],
)
def test_another_clinic_neither_lists_nor_opens_the_record(
    outsider_client, practitioner_client, api_world, resource, attr
):
    uuid = str(getattr(api_world, attr).uuid)
    listed = outsider_client.get(f"/api/v1/{resource}/").json()["results"]
    assert uuid not in {row["id"] for row in listed}
    assert outsider_client.get(f"/api/v1/{resource}/{uuid}/").status_code == 404
    assert practitioner_client.get(f"/api/v1/{resource}/{uuid}/").json()["id"] == uuid


def test_a_reaction_carries_its_assessment(practitioner_client, api_world):
    body = practitioner_client.get(f"/api/v1/reactions/{api_world.reaction.uuid}/").json()
    assert body["term"] == api_world.term.code
    assert body["assessment"]["triage_status"] == "reviewed"
    assert body["assessment"]["severity_grade"] == 1


def test_no_integer_keys_leave_the_api(practitioner_client, api_world):
    body = practitioner_client.get(f"/api/v1/sessions/{api_world.session.uuid}/").json()
    assert body["id"] == str(api_world.session.uuid)
    assert body["lot"] == str(api_world.lot.uuid)
    assert body["patient"] == str(api_world.patient.uuid)


def test_appointments_filter_by_patient_and_status(practitioner_client, clinic_a, api_world):
    other = AppointmentFactory(clinic=clinic_a)
    by_patient = practitioner_client.get(
        "/api/v1/appointments/", {"patient": str(other.patient.uuid)}
    ).json()["results"]
    assert [row["id"] for row in by_patient] == [str(other.uuid)]
    by_status = practitioner_client.get("/api/v1/appointments/", {"status": "cancelled"}).json()[
        "results"
    ]
    assert by_status == []


def test_an_unknown_filter_value_is_a_400_naming_the_filter(practitioner_client, api_world):
    response = practitioner_client.get("/api/v1/appointments/", {"status": "nonsense"})
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_lists_order_by_an_allowed_field(practitioner_client, clinic_a):
    early = AppointmentFactory(clinic=clinic_a)
    late = AppointmentFactory(clinic=clinic_a)
    late.starts_at, late.ends_at = early.starts_at, early.ends_at
    early.starts_at = early.starts_at.replace(year=early.starts_at.year - 1)
    early.ends_at = early.ends_at.replace(year=early.ends_at.year - 1)
    early.save()
    rows = practitioner_client.get("/api/v1/appointments/", {"ordering": "starts_at"}).json()
    assert [r["id"] for r in rows["results"]][:1] == [str(early.uuid)]


def _grower(resource: str, clinic: Any, practitioner: Any):
    def grow(n: int) -> None:
        for _ in range(n):
            if resource == "clinics":
                MembershipFactory(user=practitioner, role="practitioner")
            elif resource == "patients":
                PatientFactory(clinic=clinic)
            elif resource == "appointments":
                AppointmentFactory(clinic=clinic)
            elif resource == "series":
                TreatmentSeriesFactory(clinic=clinic)
            elif resource == "sessions":
                TreatmentSessionFactory(clinic=clinic)
            elif resource == "products":
                ProductFactory(clinic=clinic)
            elif resource == "lots":
                ProductLotFactory(product__clinic=clinic)
            elif resource == "reaction-terms":
                ReactionTermFactory()
            elif resource == "reactions":
                AssessmentFactory(report=ReactionReportFactory(clinic=clinic), reviewed=True)
            elif resource == "checkins":
                CheckInFactory(session=TreatmentSessionFactory(clinic=clinic))
            elif resource == "alarms":
                AlarmFactory(clinic=clinic)

    return grow


# Pinned: session, user, OTP device, session timeout, membership checks, the page (patients
# add the clinical-clinics lookup; reaction terms check membership once more).
LIST_QUERIES = {
    "clinics": 8,
    "patients": 9,
    "appointments": 8,
    "series": 8,
    "sessions": 8,
    "products": 8,
    "lots": 8,
    "reaction-terms": 9,
    "reactions": 8,
    "checkins": 8,
    "alarms": 10,  # + reactions and submissions of the page's alarms (issue 15)
}


@pytest.mark.parametrize("resource", sorted(LIST_QUERIES))
def test_every_list_costs_a_constant_number_of_queries(
    practitioner_client, clinic_a, practitioner_a, resource
):
    assert_constant_queries(
        practitioner_client,
        f"/api/v1/{resource}/",
        _grower(resource, clinic_a, practitioner_a),
        expected=LIST_QUERIES[resource],
    )


def test_a_grouped_alarm_shows_its_reactions_severity_and_every_submission(
    practitioner_client, clinic_a
):
    """GIVEN an alarm joined by a second red-flag submit of the same session
    THEN the API lists both submissions, the red-flag reaction codes and the severity."""
    from adverse_events.models import ReactionTerm, Submission
    from tests.factories import SubmissionFactory

    breathing = ReactionTerm.objects.get(code="breathing_difficulty")
    alarm = AlarmFactory(clinic=clinic_a, severity=3, terms=[breathing])
    later = SubmissionFactory(session=alarm.session, red_flag=True)
    Submission.objects.filter(pk=later.pk).update(alarm=alarm)

    body = practitioner_client.get(f"/api/v1/alarms/{alarm.uuid}/").json()
    assert body["session"] == str(alarm.session.uuid)
    assert body["submission"] == str(alarm.submission.uuid)
    assert set(body["submissions"]) == {str(alarm.submission.uuid), str(later.uuid)}
    assert body["reactions"] == ["breathing_difficulty"] and body["severity"] == 3
