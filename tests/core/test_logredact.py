"""Personal-link tokens never reach a log line: not Django's request warnings, not gunicorn's
access log."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from gunicorn.config import Config

from clinic.core.logredact import GunicornLogger, RedactTokensFilter, redact
from patients.links import link_revoke
from tests.adverse_events.patient_form_world import clear_rate_limits, session_with_link

TOKEN = "Zq3x_9aB-kLmN0pQrStUvWxYz0123456789abcdEFGH"


def test_tokens_are_replaced_and_the_named_patient_pages_are_kept():
    assert redact(f"GET /r/{TOKEN}/ HTTP/1.1") == "GET /r/[token]/ HTTP/1.1"
    assert redact(f"Not Found: /r/{TOKEN}/") == "Not Found: /r/[token]/"
    assert redact(f"/r/{TOKEN}") == "/r/[token]"
    for page in ("/r/", "/r/fine/", "/r/report/", "/r/thanks/", "/r/urgent/", "/r/language/"):
        assert redact(f"GET {page} HTTP/1.1") == f"GET {page} HTTP/1.1"
    assert redact("/dashboard/r/") == "/dashboard/r/"


@pytest.fixture
def console_log():
    """What the configured console handler writes (settings.LOGGING), captured."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactTokensFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


@pytest.mark.django_db
def test_a_dead_links_404_warning_does_not_carry_its_token(client, console_log, practitioner_a):
    clear_rate_limits()
    reached = session_with_link(practitioner_a)
    link_revoke(link=reached.session.report_link)
    response = client.get(reverse("report:entry", kwargs={"token": reached.token}))
    assert response.status_code == 404
    logged = console_log.getvalue()
    assert "Not Found: /r/[token]/" in logged
    assert reached.token not in logged
    clear_rate_limits()


def test_gunicorns_access_line_does_not_carry_the_token(settings):
    settings.LOG_FORMAT = "plain"
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s %(U)s %({raw_uri}e)s')
    logger = GunicornLogger(cfg)
    stream = io.StringIO()
    for handler in logger.access_log.handlers:
        handler.setStream(stream)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/r/{TOKEN}/",
        "PATH_INFO": f"/r/{TOKEN}/",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    resp = SimpleNamespace(status="302 Found", sent=0, headers=[])
    logger.access(resp, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    line = stream.getvalue()
    assert '"GET /r/[token]/ HTTP/1.1" 302 /r/[token]/ /r/[token]/' in line
    assert TOKEN not in line


def test_gunicorns_json_access_line_does_not_carry_the_token(settings, monkeypatch):
    settings.LOG_FORMAT = "json"
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = GunicornLogger(cfg)
    written: list[str] = []
    monkeypatch.setattr(logger.access_log, "info", lambda fmt, *args: written.append(fmt % args))
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/r/{TOKEN}/",
        "PATH_INFO": f"/r/{TOKEN}/",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    resp = SimpleNamespace(
        status="302 Found", status_code=302, sent=0, headers=[("X-Request-ID", "rid-12345678")]
    )
    logger.access(resp, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    [text] = written
    line = json.loads(text)
    assert line["message"] == "GET /r/[token]/ HTTP/1.1"
    assert line["status_code"] == 302 and line["request_id"] == "rid-12345678"
    assert line["logger"] == "gunicorn.access" and line["duration_ms"] == 3.0
    assert TOKEN not in text


def test_addresses_phones_and_database_key_values_are_masked():
    assert (
        redact("refused {'jane.doe@mail.example': (550, '')}") == "refused {'[email]': (550, '')}"
    )
    assert redact("SMS to +821012345678 failed") == "SMS to [phone] failed"
    assert (
        redact(
            'duplicate key value violates unique constraint "x" DETAIL: Key (phone_key)='
            "(821012345678) already exists."
        )
        == 'duplicate key value violates unique constraint "x" DETAIL: Key (phone_key)='
        "([value]) already exists."
    )
    assert redact("Key (clinic_id, lower(email))=(1, jane@x.example) exists") == (
        "Key (clinic_id, lower(email))=([value]) exists"
    )
    # Ids, dates and times are not phones.
    assert redact("outbox message 123456 at 2026-12-07 18:25:34") == (
        "outbox message 123456 at 2026-12-07 18:25:34"
    )
