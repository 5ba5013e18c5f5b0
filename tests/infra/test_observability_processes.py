"""The probes, the container healthchecks and multiprocess metrics with a real gunicorn.

GIVEN a migrated SQLite database and gunicorn with two worker processes writing their metrics
      to PROMETHEUS_MULTIPROC_DIR
WHEN  requests spread over both workers and Prometheus scrapes one of them
THEN  the latency histogram counts every request (the workers' files are added up), and
      `scripts/healthcheck.py` answers for web, for readiness and for beat as compose runs it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.infra._processes import (
    ROOT,
    VENV_BIN,
    demo_env,
    free_port,
    manage,
    port_open,
    start,
    stop,
    wait_for,
)

pytestmark = pytest.mark.slow

TOKEN = "t" * 40
REQUESTS = 30


def healthcheck(kind: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/healthcheck.py", kind],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def get(url: str, **headers: str) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def beat_now(database: Path) -> None:
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(database, timeout=10) as connection:
        for name in ("outbox_sweep", "checkins_sweep"):
            connection.execute(
                "INSERT INTO core_heartbeat (name, beat_at) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET beat_at = excluded.beat_at",
                (name, now),
            )


def test_probes_healthchecks_and_metrics_of_several_workers(tmp_path):
    data_dir = tmp_path / "data"
    metrics_dir = tmp_path / "metrics" / "web"
    port = free_port()
    env = demo_env(
        data_dir,
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="1",
        LOG_FORMAT="json",
        HEALTHCHECK_PORT=str(port),
    )
    # As compose runs it: migrate first, then the server with its metrics folder.
    migrated = manage("migrate", "--noinput", "-v", "0", env=demo_env(data_dir), timeout=300)
    assert migrated.returncode == 0, migrated.stderr
    metrics_dir.mkdir(parents=True)
    (metrics_dir / "counter_999999.db").write_bytes(b"left from an earlier run")

    log = tmp_path / "web.log"
    web = start(
        [
            str(VENV_BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "clinic.wsgi",
        ],
        env=env,
        log=log,
    )
    try:
        assert wait_for(lambda: port_open(port), timeout=60), log.read_text()
        base = f"http://127.0.0.1:{port}"
        assert not (metrics_dir / "counter_999999.db").exists(), "the folder starts empty"

        for _ in range(REQUESTS):
            status, body, headers = get(f"{base}/healthz/live")
            assert status == 200 and json.loads(body) == {"status": "ok"}
        assert len(headers["X-Request-ID"]) == 32

        assert get(f"{base}/metrics")[0] == 403
        status, body, _ = get(f"{base}/metrics", Authorization=f"Bearer {TOKEN}")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        counted = sum(
            s.value
            for s in families["clinic_http_request_duration_seconds"].samples
            if s.name.endswith("_count") and s.labels["route"] == "healthz-live"
        )
        assert counted == REQUESTS
        assert families["clinic_outbox_due_messages"].samples[0].value == 0
        # Both workers write their own files into the shared folder.
        assert len(list(metrics_dir.glob("counter_*.db"))) >= 2

        # Compose's checks: web is live; ready and beat wait for the sweeps' heartbeats.
        assert healthcheck("web", env).returncode == 0
        not_ready = healthcheck("ready", env)
        assert not_ready.returncode == 1 and '"sweepers"' in not_ready.stdout
        beat_env = demo_env(data_dir, HEALTHCHECK_PORT=str(port))
        beat = healthcheck("beat", beat_env)
        assert beat.returncode == 1, beat.stdout + beat.stderr
        assert "no heartbeat in 90 s" in beat.stdout

        beat_now(data_dir / "clinic.sqlite3")
        assert healthcheck("ready", env).returncode == 0
        beat = healthcheck("beat", beat_env)
        assert beat.returncode == 0, beat.stdout + beat.stderr
    finally:
        stop([web])

    # The access log is JSON like the app's lines, with the request id it sent back.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    live = [line for line in access if line["message"] == "GET /healthz/live HTTP/1.1"]
    assert len(live) == REQUESTS + 1, log.read_text()[-2000:]  # and healthcheck.py web's
    ours = next(line for line in live if line["request_id"] == headers["X-Request-ID"])
    assert ours["status_code"] == 200 and ours["level"] == "INFO"
