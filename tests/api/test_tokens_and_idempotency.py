"""API tokens (issued from a two-factor session, hashed, expiring, revocable, dead with the
user) and Idempotency-Key replays."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from clinic.core.models import IdempotencyRecord
from patients.models import Patient

pytestmark = pytest.mark.django_db


def _issue(client: Client) -> str:
    response = client.post("/api/v1/auth/token/")
    assert response.status_code == 201, response.content
    return response.json()["token"]


def _with_token(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {token}")


def test_a_verified_session_gets_a_token_that_works_and_is_stored_hashed(practitioner_client):
    token = _issue(practitioner_client)
    assert _with_token(token).get("/api/v1/sessions/").status_code == 200
    stored = AuthToken.objects.get()
    assert token not in (stored.digest, stored.token_key)
    assert stored.digest != token


def test_a_password_only_session_gets_no_token(client, practitioner_a):
    client.force_login(practitioner_a)  # no second factor
    response = client.post("/api/v1/auth/token/")
    assert response.status_code == 403
    assert not AuthToken.objects.exists()


def test_a_token_cannot_mint_another_token(practitioner_client):
    token = _issue(practitioner_client)
    assert _with_token(token).post("/api/v1/auth/token/").status_code in (401, 403)
    assert AuthToken.objects.count() == 1


def test_a_token_expires_after_thirty_days(practitioner_client):
    token = _issue(practitioner_client)
    with time_machine.travel(timezone.now() + timedelta(days=30, minutes=1)):
        assert _with_token(token).get("/api/v1/patients/").status_code == 401


def test_a_revoked_token_is_refused(practitioner_client):
    token = _issue(practitioner_client)
    assert _with_token(token).post("/api/v1/auth/token/revoke/").status_code == 204
    assert _with_token(token).get("/api/v1/patients/").status_code == 401


def test_revoke_all_ends_every_token_of_the_user(practitioner_client, front_desk_client):
    mine = [_issue(practitioner_client), _issue(practitioner_client)]
    theirs = _issue(front_desk_client)
    response = practitioner_client.post("/api/v1/auth/token/revoke-all/")
    assert response.status_code == 200 and response.json() == {"revoked": 2}
    assert all(_with_token(t).get("/api/v1/patients/").status_code == 401 for t in mine)
    assert _with_token(theirs).get("/api/v1/patients/").status_code == 200


def test_a_deactivated_users_token_is_dead(practitioner_client, practitioner_a):
    token = _issue(practitioner_client)
    practitioner_a.is_active = False
    practitioner_a.save()
    assert _with_token(token).get("/api/v1/patients/").status_code == 401


def test_a_token_keeps_the_users_role_and_clinic(front_desk_client, clinic_b):
    token = _issue(front_desk_client)
    assert _with_token(token).get("/api/v1/sessions/").status_code == 403
    from tests.factories import PatientFactory

    other = PatientFactory(clinic=clinic_b)
    assert _with_token(token).get(f"/api/v1/patients/{other.uuid}/").status_code == 404


BODY = {
    "first_name": "Mina",
    "last_name": "Park",
    "date_of_birth": "1990-04-01",
    "preferred_channel": "email",
    "email": "mina@example.com",
    "consent_to_contact": True,
    "language": "en",
}


def _post(client, body, key):
    return client.post(
        "/api/v1/patients/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


def test_the_same_key_replays_the_first_response_without_a_second_record(front_desk_client):
    """GIVEN a registration sent with an Idempotency-Key
    WHEN the same request is sent again with the same key
    THEN the first response comes back (same status and body) and one patient exists."""
    first = _post(front_desk_client, BODY, "abc-1")
    second = _post(front_desk_client, BODY, "abc-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Patient.objects.count() == 1


def test_the_same_key_with_another_body_is_a_422(front_desk_client):
    assert _post(front_desk_client, BODY, "abc-2").status_code == 201
    other = _post(front_desk_client, BODY | {"first_name": "Jisoo"}, "abc-2")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Patient.objects.count() == 1


def test_keys_belong_to_one_user(front_desk_client, practitioner_client):
    assert _post(front_desk_client, BODY, "shared").status_code == 201
    # Another user with the same key is a new request: here the duplicate check answers.
    assert _post(practitioner_client, BODY, "shared").status_code == 409


def test_a_key_is_forgotten_after_24_hours(front_desk_client):
    assert _post(front_desk_client, BODY, "abc-3").status_code == 201
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = _post(front_desk_client, BODY, "abc-3")
    assert again.status_code == 409  # a new request: the duplicate check answers now
