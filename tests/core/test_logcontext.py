"""Every log line says which request, user, clinic or Celery task it belongs to, as one JSON
object per line (or plain text for the demo), and a request id travels in and out."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from celery import shared_task
from django.urls import reverse

from clinic.core.logcontext import ContextFilter
from clinic.core.logformat import JsonFormatter, PlainFormatter
from clinic.core.logredact import RedactTokensFilter
from tests.factories import PatientFactory
from tests.infra._processes import demo_env, manage

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def json_log():
    """The configured console handler (settings.LOGGING), writing JSON into a buffer."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, ContextFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous, formatter = handler.setStream(stream), handler.formatter
    handler.setFormatter(JsonFormatter())
    yield stream
    handler.setStream(previous)
    handler.setFormatter(formatter)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_request_gets_an_id_in_its_response(client, db):
    response = client.get(reverse("healthz-live"))
    assert HEX_ID.match(response["X-Request-ID"])
    assert client.get(reverse("healthz-live"))["X-Request-ID"] != response["X-Request-ID"]


def test_a_well_formed_incoming_id_is_kept(client, db):
    response = client.get(reverse("healthz-live"), HTTP_X_REQUEST_ID="edge-4f2a:9b1c.77_x")
    assert response["X-Request-ID"] == "edge-4f2a:9b1c.77_x"


@pytest.mark.parametrize(
    "incoming", ["short", "x" * 65, "Jane Doe +821012345678", "a\nb-injected-line", "<script>"]
)
def test_a_malformed_incoming_id_is_replaced(client, db, incoming):
    response = client.get(reverse("healthz-live"), HTTP_X_REQUEST_ID=incoming)
    assert HEX_ID.match(response["X-Request-ID"])


def test_a_staff_requests_log_line_carries_request_user_and_clinic(
    practitioner_client, practitioner_a, clinic_a, json_log
):
    patient = PatientFactory(clinic=clinic_a)
    # A page that names a record and then refuses: a 404 for a missing sub-record is
    # logged by Django as a warning.
    url = reverse("patients:detail", args=[patient.uuid])
    response = practitioner_client.get(url, HTTP_X_REQUEST_ID="req-123456789")
    assert response.status_code == 200
    missing = practitioner_client.get(
        reverse("treatments:appointment", args=["00000000-0000-0000-0000-000000000000"]),
        HTTP_X_REQUEST_ID="req-abcdefghi",
    )
    assert missing.status_code == 404
    records = [r for r in lines(json_log) if r.get("request_id") == "req-abcdefghi"]
    assert records, json_log.getvalue()
    record = records[-1]
    assert record["level"] == "WARNING"
    assert record["logger"] == "django.request"
    assert record["message"].startswith("Not Found: /")
    assert record["user_id"] == practitioner_a.pk
    assert record["status_code"] == 404
    assert set(record) >= {"time", "level", "logger", "message", "request_id", "user_id"}


def test_a_log_line_names_the_clinic_of_the_record_the_page_read(
    practitioner_client, clinic_a, json_log, monkeypatch
):
    from patients import views

    patient = PatientFactory(clinic=clinic_a)
    real = views.render

    def render_and_log(*args, **kwargs):
        logging.getLogger("patients.views").info("patient page shown")
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "render", render_and_log)
    practitioner_client.get(reverse("patients:detail", args=[patient.uuid]))
    shown = [r for r in lines(json_log) if r["message"] == "patient page shown"]
    assert shown and shown[-1]["clinic_id"] == clinic_a.pk


@shared_task(name="tests.core.test_logcontext.says_hello")
def says_hello() -> None:
    logging.getLogger("clinic.tasks").warning("hello from a task")


def test_a_task_logs_with_its_task_id(json_log):
    result = says_hello.apply(task_id="task-0001")
    assert result.successful()
    record = next(r for r in lines(json_log) if r["message"] == "hello from a task")
    assert record["task_id"] == "task-0001"


def test_the_formatters_redact_a_traceback_and_the_plain_one_adds_the_id():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
    try:
        raise ValueError("refused jane@example.com +821012345678 /r/abcdefghijklmnopqrstu/")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    RedactTokensFilter().filter(record)
    record.request_id, record.user_id, record.clinic_id, record.task_id = "rid-1", 7, 3, None
    for formatter in (JsonFormatter(), PlainFormatter()):
        text = formatter.format(record)
        assert "jane@example.com" not in text
        assert "821012345678" not in text
        assert "abcdefghijklmnopqrstu" not in text
        assert "[email]" in text and "[phone]" in text and "/r/[token]" in text
    assert "[rid-1]" in PlainFormatter().format(record)
    assert json.loads(JsonFormatter().format(record))["clinic_id"] == 3


def test_log_format_is_checked_at_start_up(tmp_path):
    result = manage("check", env=demo_env(tmp_path, LOG_FORMAT="xml"))
    assert result.returncode != 0
    assert "LOG_FORMAT: use json or plain" in result.stderr


def test_the_demo_logs_plain_text_and_production_json(tmp_path):
    code = "from django.conf import settings; print(settings.LOGGING['handlers']['console'])"
    demo = manage("shell", "-c", code, env=demo_env(tmp_path))
    assert "'formatter': 'plain'" in demo.stdout, demo.stderr
    json_demo = manage("shell", "-c", code, env=demo_env(tmp_path, LOG_FORMAT="json"))
    assert "'formatter': 'json'" in json_demo.stdout, json_demo.stderr


def test_an_api_calls_log_line_carries_the_token_users_id_and_the_clinic(
    practitioner_client, practitioner_a, clinic_a, json_log, monkeypatch
):
    from django.test import Client
    from rest_framework.response import Response

    from patients.api import views as api_views

    token = practitioner_client.post("/api/v1/auth/token/").json()["token"]
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    patient = PatientFactory(clinic=clinic_a)

    def retrieve_and_log(self, request, *args, **kwargs):
        self.get_object()
        logging.getLogger("patients.api").info("patient read through the API")
        return Response({})

    monkeypatch.setattr(api_views.PatientViewSet, "retrieve", retrieve_and_log)
    assert api.get(f"/api/v1/patients/{patient.uuid}/").status_code == 200
    line = next(r for r in lines(json_log) if r["message"] == "patient read through the API")
    assert line["user_id"] == practitioner_a.pk
    assert line["clinic_id"] == clinic_a.pk
