"""The probes: /healthz/live answers without the database; /healthz/ready names each check
and answers 503 when one fails, without secrets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.urls import reverse
from django.utils import timezone

from clinic import health
from clinic.core.models import Heartbeat

CHECKS = {"database", "broker", "cache", "sweepers", "migrations"}


@pytest.fixture(autouse=True)
def _forget_the_migration_check():
    health._migrated = False
    yield
    health._migrated = False


def beat(age: timedelta = timedelta(0)) -> None:
    for name in health.SWEEPERS:
        Heartbeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now() - age})


def test_live_answers_without_touching_the_database(client):
    # No `db` fixture: any query would raise "Database access not allowed".
    response = client.get(reverse("healthz-live"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_ready_is_ok_when_every_check_passes(client, db):
    beat()
    response = client.get(reverse("healthz-ready"))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == CHECKS
    assert all(check == {"ok": True} for check in body["checks"].values())


def test_ready_fails_when_the_sweepers_are_silent_for_three_intervals(client, db, settings):
    settings.SWEEP_INTERVAL_SECONDS = 30
    beat(age=timedelta(seconds=91))
    response = client.get(reverse("healthz-ready"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["sweepers"] == {
        "ok": False,
        "error": "no heartbeat in 90 s: outbox_sweep, checkins_sweep",
    }
    # The others still ran and passed.
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["migrations"] == {"ok": True}

    beat(age=timedelta(seconds=60))
    assert client.get(reverse("healthz-ready")).status_code == 200


def test_ready_fails_on_an_unapplied_migration(client, db):
    beat()
    # Forget, inside this test's transaction, that the last migration of one app ran.
    last = MigrationRecorder.Migration.objects.filter(app="core").order_by("-id").first()
    last.delete()
    response = client.get(reverse("healthz-ready"))
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == {
        "ok": False,
        "error": "1 migration(s) not applied",
    }


def test_an_unreachable_broker_fails_without_showing_its_url(client, db, settings):
    beat()
    settings.CELERY_BROKER_URL = "redis://:s3cret-password@127.0.0.1:1/0"
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 0.5
    response = client.get(reverse("healthz-ready"))
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {"ok": False, "error": "ConnectionError"}
    assert b"s3cret" not in response.content
    assert b"127.0.0.1" not in response.content


def test_a_missing_broker_folder_fails(client, db, settings, tmp_path):
    beat()
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "queue"),
        "data_folder_out": str(tmp_path / "queue"),
        "control_folder": str(tmp_path / "control"),
    }
    response = client.get(reverse("healthz-ready"))
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {
        "ok": False,
        "error": "broker folder data_folder_in is missing or read-only",
    }
    (tmp_path / "queue").mkdir()
    (tmp_path / "control").mkdir()
    assert client.get(reverse("healthz-ready")).status_code == 200


@pytest.mark.redis
def test_a_running_redis_broker_passes(client, db, settings):
    beat()
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/6"
    response = client.get(reverse("healthz-ready"))
    assert response.json()["checks"]["broker"] == {"ok": True}


def test_a_cache_that_keeps_nothing_fails(client, db, settings):
    beat()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    response = client.get(reverse("healthz-ready"))
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == {
        "ok": False,
        "error": "the cache did not return what was stored",
    }


def test_a_database_error_is_named_by_its_kind_only(client, db, monkeypatch):
    beat()

    def broken() -> None:
        raise connection.Database.OperationalError("connection to server at 10.0.0.5 failed")

    monkeypatch.setitem(health.READINESS_CHECKS, "database", broken)
    response = client.get(reverse("healthz-ready"))
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert b"10.0.0.5" not in response.content


def test_the_old_probes_still_answer(client, db):
    assert client.get(reverse("core:healthz")).status_code == 200
    assert client.get("/accounts/healthz/").json() == {"status": "ok"}
