"""A real Celery worker and beat, against a real broker, run the periodic heartbeat.

GIVEN a migrated SQLite database and a broker (kombu's filesystem transport, as in the demo;
      Redis, as in production)
WHEN  beat and a worker run as separate processes with the heartbeat every second
THEN  the heartbeat row is written, then written again: the schedule repeats.
Bounded at 60 s; every process is stopped and reaped whatever happens.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra._processes import VENV_BIN, demo_env, free_port, manage, start, stop, wait_for
from tests.requirements import redis_problem, require_redis

pytestmark = pytest.mark.slow

DEADLINE = 60


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server on a free port, or else the shared one's database 15."""
    server = shutil.which("redis-server")
    if server is None:
        yield require_redis("redis://127.0.0.1:6379/15")
        return
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: redis_problem(url) is None, timeout=10)
        yield require_redis(url)
    finally:
        stop([process])


def heartbeats(database: Path) -> list[str]:
    try:
        with sqlite3.connect(database, timeout=5) as connection:
            rows = connection.execute("SELECT beat_at FROM core_heartbeat WHERE name = 'beat'")
            return [row[0] for row in rows]
    except sqlite3.OperationalError:  # locked for a moment by the worker
        return []


def run_worker_and_beat(tmp_path: Path, broker_url: str | None) -> None:
    data_dir = tmp_path / "data"
    env = demo_env(data_dir, HEARTBEAT_INTERVAL_SECONDS="1", CELERY_BROKER_URL=broker_url)
    # Only the ground floor (and what it depends on): the heartbeat table lives there.
    migrated = manage("migrate", "core", "--noinput", "-v", "0", env=env)
    assert migrated.returncode == 0, migrated.stderr
    database = data_dir / "clinic.sqlite3"

    celery = str(VENV_BIN / "celery")
    processes = []
    seen: list[str] = []
    try:
        processes.append(
            start(
                [
                    celery,
                    "-A",
                    "clinic",
                    "worker",
                    "--pool=solo",
                    "--without-mingle",
                    "--without-gossip",
                    "--loglevel=INFO",
                    "-n",
                    f"test-{tmp_path.name}@%h",
                ],
                env=env,
                log=tmp_path / "worker.log",
            )
        )
        processes.append(
            start(
                [
                    celery,
                    "-A",
                    "clinic",
                    "beat",
                    "--loglevel=INFO",
                    "-s",
                    str(tmp_path / "beat-schedule"),
                ],
                env=env,
                log=tmp_path / "beat.log",
            )
        )

        def ran_twice() -> bool:
            for beat_at in heartbeats(database):
                if beat_at not in seen:
                    seen.append(beat_at)
            return len(seen) >= 2

        ok = wait_for(ran_twice, timeout=DEADLINE, interval=0.5)
        logs = "\n".join(
            f"--- {name} ---\n{(tmp_path / name).read_text(errors='replace')[-3000:]}"
            for name in ("worker.log", "beat.log")
        )
        assert ok, f"heartbeat rows seen: {seen}\n{logs}"
        assert all(process.poll() is None for process in processes), logs
    finally:
        stop(processes)
    assert all(process.returncode is not None for process in processes)

    if broker_url is None:
        # Processed messages are deleted, not stored: the queue folder does not grow.
        left = list((data_dir / "broker" / "queue").iterdir())
        assert len(left) <= 2, left
        assert not (data_dir / "broker" / "processed").exists()


def test_beat_and_a_worker_run_the_heartbeat_on_the_filesystem_broker(tmp_path):
    run_worker_and_beat(tmp_path, broker_url=None)


@pytest.mark.redis
def test_beat_and_a_worker_run_the_heartbeat_on_redis(tmp_path, redis_url):
    run_worker_and_beat(tmp_path, broker_url=redis_url)
