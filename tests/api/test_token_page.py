"""The API tokens page: make a token (shown once), see it listed, revoke it."""

from __future__ import annotations

import pytest
from django.urls import reverse
from knox.models import AuthToken

pytestmark = pytest.mark.django_db


def test_a_verified_user_makes_a_token_that_works_then_revokes_it(
    practitioner_client, practitioner_a, client
):
    made = practitioner_client.post(reverse("api-tokens"))
    assert made.status_code == 201
    token = made.context["new_token"]
    assert token and token.encode() in made.content
    stored = AuthToken.objects.get(user=practitioner_a)
    assert token not in stored.digest  # only the hash is kept
    api = client.get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Token {token}")
    assert api.status_code == 200

    listed = practitioner_client.get(reverse("api-tokens"))
    assert stored.token_key.encode() in listed.content
    assert token.encode() not in listed.content  # never shown again

    asked = practitioner_client.post(
        reverse("api-token-revoke-page"), {"token_key": stored.token_key}
    )
    assert asked.status_code == 200
    assert "stops working at once" in asked.content.decode()
    assert "Keep the token" in asked.content.decode()
    assert AuthToken.objects.filter(user=practitioner_a).exists()

    revoked = practitioner_client.post(
        reverse("api-token-revoke-page"),
        {"token_key": stored.token_key, "confirm": "yes"},
        follow=True,
    )
    assert b"revoked" in revoked.content
    assert not AuthToken.objects.filter(user=practitioner_a).exists()
    assert client.get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401


def test_one_cannot_revoke_someone_elses_token(front_desk_client, practitioner_a):
    instance, _ = AuthToken.objects.create(practitioner_a)
    response = front_desk_client.post(
        reverse("api-token-revoke-page"),
        {"token_key": instance.token_key, "confirm": "yes"},
        follow=True,
    )
    assert b"No such token of yours" in response.content
    assert AuthToken.objects.filter(user=practitioner_a).count() == 1


def test_a_password_only_session_is_sent_to_log_in_with_both_factors(client, practitioner_a):
    client.force_login(practitioner_a)
    response = client.post(reverse("api-tokens"))
    assert response.status_code == 302
    assert not AuthToken.objects.filter(user=practitioner_a).exists()
