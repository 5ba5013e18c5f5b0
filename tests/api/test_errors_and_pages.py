"""One error body everywhere, constraint violations as 409, cursor pages without COUNT(*)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from adverse_events.models import Assessment
from clinic.core.api.errors import api_exception_handler
from clinic.core.api.pagination import ClinicCursorPagination
from clinic.core.exceptions import RuleViolation
from clinic.core.models import IdempotencyRecord
from tests.factories import AssessmentFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _shape(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_missing_fields_are_a_400_naming_each_field(front_desk_client):
    response = front_desk_client.post("/api/v1/patients/", {}, content_type="application/json")
    assert response.status_code == 400
    error = _shape(response.json())
    assert error["code"] == "invalid"
    assert {"first_name", "last_name", "date_of_birth"} <= set(error["fields"])


def test_a_rule_violation_keeps_its_status_code_and_field():
    response = api_exception_handler(RuleViolation("Lot expired.", field="lot"), {})
    assert response.status_code == 400
    assert response.data == {
        "error": {
            "code": "rule_violation",
            "message": "Lot expired.",
            "fields": {"lot": ["Lot expired."]},
        }
    }


def test_a_django_validation_error_is_a_400_with_its_fields():
    exc = ValidationError({"onset_date": ["The start date cannot be in the future."]})
    response = api_exception_handler(exc, {})
    assert response.status_code == 400
    assert response.data["error"]["fields"] == {
        "onset_date": ["The start date cannot be in the future."]
    }


def test_a_check_constraint_refusal_is_a_409_with_the_constraints_message(clinic_a):
    assessment = AssessmentFactory(report__clinic=clinic_a)
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        Assessment.objects.filter(pk=assessment.pk).update(severity_grade=9)
    response = api_exception_handler(caught.value, {})
    assert response.status_code == 409
    assert response.data["error"]["code"] == "assessment_grade_1_to_4"
    assert response.data["error"]["message"] == "Severity grade is 1 to 4."


def test_a_unique_constraint_refusal_is_a_409_with_the_constraints_message(practitioner_a):
    row = {"user": practitioner_a, "key": "k", "request_hash": "h", "status_code": 201}
    IdempotencyRecord.objects.create(**row)
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        IdempotencyRecord.objects.create(**row)
    response = api_exception_handler(caught.value, {})
    assert response.status_code == 409
    assert response.data["error"]["message"] == "This Idempotency-Key was already used."


def test_an_unknown_integrity_error_is_still_a_409_not_a_500():
    response = api_exception_handler(IntegrityError("something odd"), {})
    assert response.status_code == 409
    _shape(response.data)


def test_another_clinics_patient_is_a_404_in_the_error_body(practitioner_client, clinic_b):
    other = PatientFactory(clinic=clinic_b)
    response = practitioner_client.get(f"/api/v1/patients/{other.uuid}/")
    assert response.status_code == 404
    assert _shape(response.json())["code"] == "not_found"


def test_anonymous_calls_get_a_401_in_the_error_body(client):
    response = client.get("/api/v1/patients/")
    assert response.status_code == 401
    assert _shape(response.json())["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_a_page_size_above_the_cap_is_cut_to_200():
    request = Request(APIRequestFactory().get("/api/v1/patients/", {"page_size": "100000"}))
    assert ClinicCursorPagination().get_page_size(request) == 200


def test_pages_follow_the_cursor_and_never_count_rows(practitioner_client, clinic_a):
    PatientFactory.create_batch(3, clinic=clinic_a)
    with CaptureQueriesContext(connection) as ctx:
        first = practitioner_client.get("/api/v1/patients/", {"page_size": 2}).json()
    assert not [q for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(first["results"]) == 2 and first["next"]
    second = practitioner_client.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    ids = {p["id"] for p in first["results"]} | {p["id"] for p in second["results"]}
    assert len(ids) == 3


def test_a_value_the_database_cannot_store_is_a_400_not_a_500():
    from django.db import DataError

    response = api_exception_handler(DataError("time zone displacement out of range"), {})
    assert response.status_code == 400
    assert _shape(response.data)["code"] == "invalid"
