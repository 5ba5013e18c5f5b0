"""The OpenAPI schema generates without a warning and serves to staff only."""

from __future__ import annotations

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert "/api/v1/sessions/" in text and "/api/v1/auth/token/" in text


def test_no_integer_primary_key_is_in_the_schema(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(target))
    assert "{id}" not in target.read_text()  # every path parameter is the public uuid


def test_the_schema_and_its_viewers_are_for_verified_staff(practitioner_client, client):
    for url in ("/api/schema/", "/api/docs/", "/api/redoc/"):
        assert practitioner_client.get(url).status_code == 200
        assert client.get(url).status_code == 403
