"""The world a fault test runs in: a scratch PostgreSQL database, a private redis-server, a TCP
proxy in front of PostgreSQL that the test can cut, and real Celery worker and beat processes
configured only through their environment (tests/infra/_processes.py).

Workers deliver SMS through tests.faults.recording.RecordingSMSBackend, so the test can compare
what the database says (every row `sent`) with what the provider saw (one delivery per key).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg

from tests.infra._processes import (
    ROOT,
    VENV_BIN,
    alive,
    child_env,
    free_port,
    manage,
    start,
    stop,
    wait_for,
)
from tests.requirements import missing, postgres_problem, redis_problem

from .recording import LOG_VARIABLE, Recording, read_recording

LEASE_SECONDS = 6
SWEEP_SECONDS = 1
# A provider takes a moment to answer after it accepted a message: the window in which a kill
# leaves a message sent but not yet marked sent.
PROVIDER_LATENCY = "0.01"
ARTIFACTS = ROOT / "test-artifacts"
FIGURES_FILE = ARTIFACTS / "fault-figures.jsonl"

# Figures of every fault test in this run, printed again in pytest's terminal summary.
FIGURES: list[dict] = []


# --- PostgreSQL ------------------------------------------------------------------------------
def postgres_url() -> str:
    """DATABASE_URL if it is PostgreSQL, else skip (laptop) or fail (CI)."""
    url = os.environ.get("DATABASE_URL", "")
    if urlparse(url).scheme not in {"postgres", "postgresql", "pgsql"}:
        missing(
            "fault tests need PostgreSQL: run with "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinic"
        )
    problem = postgres_problem(with_database(url, "postgres"))
    if problem:
        missing(problem)
    return url


def with_database(url: str, name: str, *, port: int | None = None) -> str:
    parts = urlparse(url)
    netloc = parts.netloc
    if port is not None:
        netloc = f"{netloc.rsplit(':', 1)[0] if ':' in netloc.split('@')[-1] else netloc}:{port}"
    return urlunparse(parts._replace(path=f"/{name}", netloc=netloc))


def _admin(url: str, sql: str) -> None:
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as connection:
        connection.execute(sql)


def create_database(url: str, name: str, *, template: str | None = None) -> str:
    _admin(url, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrated_template(url: str, data_dir: Path) -> str:
    """A freshly migrated database that each test copies (CREATE DATABASE ... TEMPLATE)."""
    name = f"clinic_fault_tpl_{uuid.uuid4().hex[:8]}"
    scratch = create_database(url, name)
    migrated = manage(
        "migrate",
        "--noinput",
        "-v",
        "0",
        env=child_env(DEMO_MODE="true", DATA_DIR=str(data_dir), DATABASE_URL=scratch),
        timeout=180,
    )
    if migrated.returncode != 0:
        drop_database(url, name)
        raise AssertionError(migrated.stderr[-3000:])
    return name


# --- Redis -----------------------------------------------------------------------------------
class RedisServer:
    """A private redis-server on a free port, without persistence: a restart loses everything."""

    def __init__(self, folder: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            missing("redis-server is not installed (apt-get install -y redis-server)")
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait_for(lambda: redis_problem(self.url) is None, timeout=10, interval=0.1):
            raise AssertionError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            stop([self.process], grace=5)
            self.process = None

    def restart(self, *, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def flushall(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        client.flushall()
        client.close()


# --- a TCP proxy the test can cut ------------------------------------------------------------
class TcpProxy:
    """Forwards a free loopback port to PostgreSQL. `cut()` closes every connection and
    refuses new ones (the database is unreachable); `restore()` listens again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.2)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


# --- the world -------------------------------------------------------------------------------
class FaultWorld:
    """A scratch database (copied from the migrated template), a private Redis, and any number
    of workers and beats. `close()` stops everything it started, whatever happened."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        base_url: str,
        template: str,
        redis: RedisServer,
        through_proxy: bool = False,
        lease: int = LEASE_SECONDS,
    ) -> None:
        self.tmp_path = tmp_path
        self.base_url = base_url
        self.redis = redis
        self.db_name = f"clinic_fault_{uuid.uuid4().hex[:10]}"
        self.db_url = create_database(base_url, self.db_name, template=template)
        self.proxy: TcpProxy | None = None
        process_db_url = self.db_url
        if through_proxy:
            self.proxy = TcpProxy(urlparse(base_url).port or 5432)
            process_db_url = with_database(base_url, self.db_name, port=self.proxy.port)
        self.recording_path = tmp_path / "provider.log"
        self.env = child_env(
            DEMO_MODE="true",
            DATA_DIR=str(tmp_path / "data"),
            DATABASE_URL=process_db_url,
            CELERY_BROKER_URL=redis.url,
            SMS_BACKEND="tests.faults.recording.RecordingSMSBackend",
            RECORDING_SMS_LATENCY=PROVIDER_LATENCY,
            OUTBOX_LEASE_SECONDS=str(lease),
            SWEEP_INTERVAL_SECONDS=str(SWEEP_SECONDS),
            HEARTBEAT_INTERVAL_SECONDS="5",
            DB_CONNECT_TIMEOUT="2",
            LOG_LEVEL="WARNING",
            **{LOG_VARIABLE: str(self.recording_path)},
        )
        self.workers: dict[str, subprocess.Popen] = {}
        self.beats: dict[str, subprocess.Popen] = {}
        self._all: list[subprocess.Popen] = []

    # processes
    def start_worker(
        self, name: str = "w1", *, concurrency: int = 2, loglevel: str = "WARNING"
    ) -> subprocess.Popen:
        process = start(
            [
                str(VENV_BIN / "celery"),
                "-A",
                "clinic",
                "worker",
                "--pool=prefork",
                f"--concurrency={concurrency}",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                f"--loglevel={loglevel}",
                "-n",
                f"{name}-{self.db_name}@%h",
            ],
            env=self.env,
            log=self._log(f"worker-{name}"),
        )
        self.workers[name] = process
        self._all.append(process)
        return process

    def start_beat(self, name: str = "b1") -> subprocess.Popen:
        process = start(
            [
                str(VENV_BIN / "celery"),
                "-A",
                "clinic",
                "beat",
                "--loglevel=WARNING",
                "-s",
                str(self.tmp_path / f"beat-schedule-{name}"),
            ],
            env=self.env,
            log=self._log(f"beat-{name}"),
        )
        self.beats[name] = process
        self._all.append(process)
        return process

    def kill_worker(self, name: str = "w1") -> None:
        """SIGKILL the worker and its pool processes at once: no warm shutdown, no requeue."""
        process = self.workers.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def _log(self, stem: str) -> Path:
        # A restarted process appends to a fresh file, so no log is overwritten.
        for n in range(100):
            path = self.tmp_path / f"{stem}.{n}.log"
            if not path.exists():
                return path
        raise AssertionError("too many restarts")

    def processes_alive(self) -> dict[str, bool]:
        named = {f"worker {k}": p for k, p in self.workers.items()}
        named |= {f"beat {k}": p for k, p in self.beats.items()}
        return {name: p.poll() is None and alive(p.pid) for name, p in named.items()}

    def logs(self, tail: int = 2500) -> str:
        return "\n".join(
            f"--- {path.name} ---\n{path.read_text(errors='replace')[-tail:]}"
            for path in sorted(self.tmp_path.glob("*.log"))
            if path.name != "provider.log"
        )

    # data
    def seed(self, messages: int, *, spread: float = 0.0) -> None:
        env = dict(self.env, DATABASE_URL=self.db_url)
        done = subprocess.run(
            [
                str(VENV_BIN / "python"),
                "-m",
                "tests.faults.seed",
                "--messages",
                str(messages),
                "--spread",
                str(spread),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]

    def query(self, sql: str) -> list[tuple]:
        with psycopg.connect(self.db_url, connect_timeout=5) as connection:
            return connection.execute(sql).fetchall()

    def states(self) -> Counter:
        return Counter(
            dict(self.query("SELECT state, count(*) FROM patients_outboxmessage GROUP BY state"))
        )

    def rows(self) -> dict[str, tuple[str, bool]]:
        """uuid -> (state, duplicate_suspected) for every outbox row."""
        return {
            str(key): (state, flagged)
            for key, state, flagged in self.query(
                "SELECT uuid, state, duplicate_suspected FROM patients_outboxmessage"
            )
        }

    def wait_sent(self, count: int, *, timeout: float, interval: float = 0.1) -> bool:
        return wait_for(
            lambda: self.states().get("sent", 0) >= count, timeout=timeout, interval=interval
        )

    def wait_all_sent(self, total: int, *, timeout: float) -> bool:
        return self.wait_sent(total, timeout=timeout, interval=0.5)

    def recording(self) -> Recording:
        return read_recording(self.recording_path)

    def close(self) -> None:
        try:
            stop(self._all, grace=1)
        finally:
            if self.proxy is not None:
                self.proxy.close()
            drop_database(self.base_url, self.db_name)


def verdict(world: FaultWorld, total: int) -> dict:
    """Figures comparing the database with the provider's record."""
    rows = world.rows()
    recording = world.recording()
    sent = {key for key, (state, _) in rows.items() if state == "sent"}
    flagged = {key for key, (_, suspect) in rows.items() if suspect}
    return {
        "messages": total,
        "sent": len(sent),
        "lost": total - len(sent & recording.delivered_keys),
        "delivered_by_provider": len(recording.delivered_keys),
        "delivered_twice": len(recording.delivered_twice),
        "raw_repeats": recording.raw_repeats,
        "repeated_keys": len(recording.repeated_keys),
        "repeats_unflagged": len(recording.repeated_keys - flagged),
        "flagged_duplicate_suspected": len(flagged),
        "unknown_keys": len(recording.delivered_keys - set(rows)),
        "_repeated": recording.repeated_keys,
        "_flagged": flagged,
    }


def report(name: str, figures: dict, record_property) -> dict:
    """Print the figures, attach them to the test's report, and keep them for the summary."""
    shown = {k: v for k, v in figures.items() if not k.startswith("_")}
    line = f"[fault figures] {name}: " + ", ".join(f"{k}={v}" for k, v in shown.items())
    print(line)
    for key, value in shown.items():
        record_property(key, value)
    FIGURES.append({"test": name, **shown})
    ARTIFACTS.mkdir(exist_ok=True)
    with FIGURES_FILE.open("a") as out:
        out.write(json.dumps({"test": name, "at": time.time(), **shown}) + "\n")
    return shown


def random_moments(rng: random.Random, count: int, *, start: float, end: float) -> list[float]:
    return sorted(rng.uniform(start, end) for _ in range(count))
