"""schemathesis against the OpenAPI schema, for each role: no 5xx, responses match the schema.

Reads (GET) and writes (POST, PATCH): a write's `{uuid}` is pointed at a real record of the
role's clinic (a random one would only ever be a 404), so generated bodies reach the
serializers and services; a 4xx with the one error body is a fine answer. The token endpoints
are left out (revoking the fuzzing token would turn the rest into 401s).

CI runs the `fuzz` tier once on PostgreSQL. Examples are bounded (a few per operation) so the
whole run stays around a minute or two per role.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api.conftest import build_world

# transaction=True: requests run in autocommit as in production, so a refused query (a
# DataError answered 400) does not poison a test-wide transaction.
pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = 8


@pytest.fixture
def wsgi_app():
    # Like Django's test client: keep the test's connection (and its transaction) open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _schema(app: Any, method: str | list[str]) -> Any:
    document = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(_plain(document))
    schema.app = app
    return schema.include(method=method).exclude(path_regex="/auth/")


def _plain(value: Any) -> Any:
    """The generator's output with lazy strings and enums as plain JSON values."""
    import json

    from rest_framework.utils.encoders import JSONEncoder

    return json.loads(json.dumps(value, cls=JSONEncoder))


def _real_ids(world: Any) -> dict[str, str]:
    """The public id of the world's record behind each `/api/v1/<resource>/{uuid}/` path."""
    return {
        "patients": world.patient.uuid,
        "appointments": world.appointment.uuid,
        "series": world.series.uuid,
        "sessions": world.session.uuid,
        "products": world.product.uuid,
        "lots": world.lot.uuid,
        "reaction-terms": world.term.uuid,
        "reactions": world.reaction.uuid,
        "checkins": world.checkin.uuid,
        "alarms": world.alarm.uuid,
    }


def _fuzz(schema: Any, token: str, ids: dict[str, Any] | None = None) -> list[str]:
    failures = []
    headers = {"Authorization": f"Token {token}"}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def run(case: Any) -> None:
            if ids and case.path_parameters and "uuid" in case.path_parameters:
                resource = case.path.split("/")[3]  # /api/v1/<resource>/{uuid}/...
                case.path_parameters["uuid"] = str(ids[resource])
            response = case.call(headers=headers)
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            run()
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return failures


@pytest.mark.parametrize("role", ["practitioner_a", "front_desk_a", "safety_lead_a"])
def test_get_endpoints_answer_without_server_errors_and_match_the_schema(
    request, role, clinic_a, clinic_b, practitioner_a, wsgi_app
):
    build_world(clinic_a, clinic_b, practitioner_a)
    user = request.getfixturevalue(role)
    _, token = AuthToken.objects.create(user)
    failures = _fuzz(_schema(wsgi_app, "GET"), token)
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("role", ["practitioner_a", "front_desk_a", "safety_lead_a"])
def test_writing_endpoints_answer_without_server_errors_and_match_the_schema(
    request, role, clinic_a, clinic_b, practitioner_a, wsgi_app
):
    world = build_world(clinic_a, clinic_b, practitioner_a)
    user = request.getfixturevalue(role)
    _, token = AuthToken.objects.create(user)
    failures = _fuzz(_schema(wsgi_app, ["POST", "PATCH"]), token, _real_ids(world))
    assert not failures, "\n\n".join(failures)
