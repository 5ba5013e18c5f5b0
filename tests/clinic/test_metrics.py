"""/metrics: off unless configured, a token or an allowed network, and families that tell
the truth about the work waiting in the database."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
from celery import shared_task
from django.urls import reverse
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from adverse_events.signals import signals_compute
from patients.models import MessageState
from tests.factories import (
    AlarmFactory,
    CheckInFactory,
    OutboxMessageFactory,
    PatientFactory,
    StaffFactory,
)
from treatments.models import CheckInState

TOKEN = "m" * 40


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_READ_DIRS = []


def scrape(client, **headers) -> dict[str, dict]:
    response = client.get(reverse("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    families = text_string_to_metric_families(response.content.decode())
    return {family.name: family for family in families}


def value(families: dict, name: str, sample: str | None = None, **labels: str) -> float:
    for s in families[name].samples:
        if s.name == (sample or name) and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no sample {sample or name} {labels}")


def test_metrics_are_off_until_a_token_or_network_is_set(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    response = client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Token {TOKEN}", f"Bearer {TOKEN}x", f"Basic {TOKEN}"],
)
def test_a_missing_or_wrong_token_is_refused(client, metrics_on, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get(reverse("metrics"), **headers)
    assert response.status_code == 403
    assert b"clinic_" not in response.content


def test_the_right_token_is_accepted(client, metrics_on, db):
    families = scrape(client)
    assert "clinic_outbox_due_messages" in families


def test_an_allowed_network_scrapes_without_a_token(client, settings, db):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    settings.METRICS_READ_DIRS = []
    inside = client.get(reverse("metrics"), REMOTE_ADDR="10.20.30.40")
    assert inside.status_code == 200
    outside = client.get(reverse("metrics"), REMOTE_ADDR="192.168.1.5")
    assert outside.status_code == 403


def test_it_refuses_a_short_metrics_token_at_start_up(tmp_path):
    from tests.infra._processes import demo_env, manage

    result = manage("check", env=demo_env(tmp_path, METRICS_TOKEN="short"))
    assert result.returncode != 0
    assert "METRICS_TOKEN: must be at least 32 characters" in result.stderr


def test_the_waiting_work_is_counted_with_plausible_ages(client, metrics_on, clinic_a):
    """GIVEN an open alarm raised 10 minutes ago, an acknowledged one, a message due 5 minutes
    ago, one due tomorrow, a check-in due and one planned
    WHEN Prometheus scrapes
    THEN only the open and the due are counted, with the ages of the oldest."""
    now = timezone.now()
    patient = PatientFactory(clinic=clinic_a)
    AlarmFactory(clinic=clinic_a, raised_at=now - timedelta(minutes=10))
    acknowledged = AlarmFactory(clinic=clinic_a, raised_at=now - timedelta(days=3))
    acknowledged.acknowledged_at = now
    acknowledged.acknowledged_by = StaffFactory()
    acknowledged.save()
    OutboxMessageFactory(patient=patient, due_at=now - timedelta(minutes=5))
    OutboxMessageFactory(patient=patient, due_at=now + timedelta(days=1))
    OutboxMessageFactory(
        patient=patient, due_at=now - timedelta(days=2), state=MessageState.SENT, sent_at=now
    )
    CheckInFactory(due_at=now - timedelta(minutes=1), state=CheckInState.SCHEDULED)
    CheckInFactory(due_at=now + timedelta(days=3), state=CheckInState.SCHEDULED)

    families = scrape(client)

    assert value(families, "clinic_alarms_open") == 1
    assert 600 <= value(families, "clinic_alarm_oldest_open_age_seconds") < 700
    assert value(families, "clinic_outbox_due_messages") == 1
    assert 300 <= value(families, "clinic_outbox_oldest_due_lag_seconds") < 400
    assert value(families, "clinic_checkins_due") == 1


def test_nothing_waiting_reads_zero(client, metrics_on, db):
    families = scrape(client)
    for name in (
        "clinic_alarms_open",
        "clinic_alarm_oldest_open_age_seconds",
        "clinic_outbox_due_messages",
        "clinic_outbox_oldest_due_lag_seconds",
        "clinic_checkins_due",
    ):
        assert value(families, name) == 0, name


def test_each_gauge_costs_one_query(client, metrics_on, db, django_assert_num_queries):
    with django_assert_num_queries(3):
        scrape(client)


def test_latency_is_labelled_by_url_name_never_by_path(practitioner_client, metrics_on, clinic_a):
    client = practitioner_client
    patient = PatientFactory(clinic=clinic_a)
    assert client.get(reverse("patients:detail", args=[patient.uuid])).status_code == 200
    client.get(f"/r/{'x' * 43}/")  # a dead personal link: a 404 with a token in its path

    response = client.get(reverse("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    text = response.content.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    count = value(
        families,
        "clinic_http_request_duration_seconds",
        "clinic_http_request_duration_seconds_count",
        route="patients:detail",
        method="GET",
        status="2xx",
    )
    assert count >= 1
    assert str(patient.uuid) not in text
    assert "x" * 43 not in text


@shared_task(name="tests.clinic.test_metrics.boom")
def boom() -> None:
    raise RuntimeError("boom")


def test_a_failing_task_is_counted():
    sample = "clinic_celery_task_failures_total"
    labels = {"task": "tests.clinic.test_metrics.boom"}
    before = REGISTRY.get_sample_value(sample, labels) or 0
    result = boom.apply()
    assert result.failed()
    assert REGISTRY.get_sample_value(sample, labels) == before + 1


def test_a_lot_signal_run_is_counted(db):
    before = REGISTRY.get_sample_value("clinic_lot_signal_runs_total") or 0
    signals_compute()
    assert REGISTRY.get_sample_value("clinic_lot_signal_runs_total") == before + 1


def test_the_scrape_adds_up_every_process_folder(client, metrics_on, settings, tmp_path, db):
    """Under gunicorn and the Celery pool each process writes its own file; the scrape reads
    web's and the worker's folders."""
    write = textwrap.dedent(
        """
        import os, sys
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
        from prometheus_client import Counter
        Counter("clinic_lot_signal_runs", "runs").inc(int(sys.argv[2]))
        """
    )
    for folder, runs in (("web", "2"), ("worker", "3"), ("worker", "4")):
        (tmp_path / folder).mkdir(exist_ok=True)
        subprocess.run(
            [sys.executable, "-c", write, str(tmp_path / folder), runs], check=True, timeout=60
        )
    settings.METRICS_READ_DIRS = [str(tmp_path / "web"), str(tmp_path / "worker")]
    families = scrape(client)
    assert value(families, "clinic_lot_signal_runs", "clinic_lot_signal_runs_total") == 9
    assert "clinic_outbox_due_messages" in families
