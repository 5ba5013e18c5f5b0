"""The demo's embedded broker never hands the worker a message that is still being written.

kombu's filesystem transport created the message file and only then wrote it, so a worker
could read it empty: a JSONDecodeError stopped the demo's worker. clinic.core.broker writes to
a hidden temporary file and renames it into place; these tests hold a write half-way and look.
The slow test sends 3,000 tasks from two processes while beat and a worker run.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection
from kombu.exceptions import ChannelError

from clinic.core import broker
from tests.infra._processes import (
    VENV_BIN,
    alive,
    demo_env,
    manage,
    start,
    stop,
    wait_for,
)

QUEUE = "celery"


def channel_in(folder: Path):
    for sub in ("queue", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    connection = Connection(
        "filesystem://",
        transport=broker.AtomicFilesystemTransport,
        transport_options={
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        },
    )
    return connection, connection.default_channel


def visible_messages(folder: Path) -> list[str]:
    """What the reader's filter accepts: `<ms>_<uuid>.<queue>.msg`."""
    return [p.name for p in (folder / "queue").glob(f"*.{QUEUE}.msg") if p.name[0] != "."]


def test_a_reader_never_sees_a_message_while_it_is_being_written(tmp_path, monkeypatch):
    connection, channel = channel_in(tmp_path)
    payload = {"body": "x" * 5000, "headers": {"id": "first"}}
    halfway = threading.Event()
    resume = threading.Event()
    real_write = broker._write
    calls = []

    def slow_write(fd: int, chunk) -> int:
        calls.append(len(chunk))
        if len(calls) == 1:
            written = real_write(fd, chunk[: len(chunk) // 2])  # a short write, then a pause
            halfway.set()
            assert resume.wait(timeout=10)
            return written
        return real_write(fd, chunk)

    monkeypatch.setattr(broker, "_write", slow_write)
    writer = threading.Thread(target=channel._put, args=(QUEUE, payload))
    writer.start()
    try:
        assert halfway.wait(timeout=10)
        # Half of the message is on disk, under a name the reader does not take.
        on_disk = os.listdir(tmp_path / "queue")
        assert len(on_disk) == 1 and on_disk[0].startswith(broker.WRITING), on_disk
        assert (tmp_path / "queue" / on_disk[0]).stat().st_size > 0
        assert visible_messages(tmp_path) == []
        assert channel._size(QUEUE) == 0
        with pytest.raises(Empty):
            channel._get(QUEUE)
    finally:
        resume.set()
        writer.join(timeout=10)
    # The rest was written after the short write; then the message appeared whole.
    assert len(calls) == 2
    assert len(visible_messages(tmp_path)) == 1
    assert channel._size(QUEUE) == 1
    assert channel._get(QUEUE) == payload
    assert os.listdir(tmp_path / "queue") == []  # taken and removed, nothing left behind
    connection.release()


def test_a_failed_write_leaves_no_message_and_no_temporary_file(tmp_path, monkeypatch):
    connection, channel = channel_in(tmp_path)

    def disk_full(fd: int, chunk) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(broker, "_write", disk_full)
    with pytest.raises(ChannelError):
        channel._put(QUEUE, {"body": "x"})
    assert os.listdir(tmp_path / "queue") == []
    connection.release()


def test_an_unreadable_message_is_set_aside_and_the_worker_gets_the_next_one(tmp_path, caplog):
    connection, channel = channel_in(tmp_path)
    # What kombu's own writer could leave: a message file read before it was written.
    (tmp_path / "queue" / f"1_empty.{QUEUE}.msg").write_bytes(b"")
    (tmp_path / "queue" / f"2_half.{QUEUE}.msg").write_bytes(b'{"body": "patient Kim Ji')
    channel._put(QUEUE, {"body": "whole"})

    with caplog.at_level(logging.ERROR, logger="clinic.core.broker"):
        assert channel._get(QUEUE) == {"body": "whole"}
    with pytest.raises(Empty):
        channel._get(QUEUE)

    left = sorted(os.listdir(tmp_path / "queue"))
    assert left == [f".unreadable-1_empty.{QUEUE}.msg", f".unreadable-2_half.{QUEUE}.msg"]
    assert "1_empty.celery.msg" in caplog.text and "does not decode" in caplog.text
    assert "Kim" not in caplog.text  # the log names the file, never its content
    connection.release()


def test_a_message_goes_to_exactly_one_of_two_readers(tmp_path):
    first, reader_a = channel_in(tmp_path)
    second, reader_b = channel_in(tmp_path)
    for number in range(50):
        reader_a._put(QUEUE, {"n": number})
    taken: list[int] = []

    def drain(channel) -> None:
        while True:
            try:
                taken.append(channel._get(QUEUE)["n"])
            except Empty:
                return

    threads = [threading.Thread(target=drain, args=(c,)) for c in (reader_a, reader_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(taken) == list(range(50))
    first.release()
    second.release()


def test_the_demo_settings_use_the_atomic_transport_for_filesystem_urls(tmp_path):
    env = demo_env(tmp_path / "data", CELERY_BROKER_URL=None)
    code = (
        "from clinic.celery import app; "
        "print(type(app.connection_for_write().transport).__qualname__)"
    )
    result = manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "AtomicFilesystemTransport"


# --- under load: two senders, beat and a worker ----------------------------------------------

MESSAGES = 3000
DEADLINE = 240
# Between two sends of one sender: the worker keeps up and reads the folder while the senders
# write into it (without a pause it only works through a backlog written seconds earlier).
PAUSE = "0.005"


@pytest.mark.slow
def test_3000_messages_while_beat_and_a_worker_run_none_lost_or_unreadable(tmp_path):
    """GIVEN the demo's broker (filesystem, atomic), a worker and beat (heartbeat every second)
    WHEN  two sender processes send 3,000 tasks between them as fast as they can
    THEN  the worker runs each of the 3,000 exactly once, logs no decode error, stays up, and
          the queue folder holds no half-written, claimed or unreadable file afterwards."""
    data_dir = tmp_path / "data"
    record = tmp_path / "record.txt"
    env = demo_env(
        data_dir,
        CELERY_BROKER_URL=None,
        HEARTBEAT_INTERVAL_SECONDS="1",
        BROKER_LOAD_RECORD=str(record),
    )
    migrated = manage("migrate", "core", "--noinput", "-v", "0", env=env)
    assert migrated.returncode == 0, migrated.stderr

    celery = str(VENV_BIN / "celery")
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    processes = []
    senders = []

    def processed() -> list[int]:
        if not record.exists():
            return []
        return [int(line) for line in record.read_text().split()]

    def logs() -> str:
        return "\n".join(
            f"--- {log.name} ---\n{log.read_text(errors='replace')[-4000:]}"
            for log in (worker_log, beat_log, *(tmp_path.glob("sender-*.log")))
            if log.exists()
        )

    try:
        worker = start(
            [
                celery,
                "-A",
                "clinic",
                "worker",
                "--pool=solo",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=INFO",
                "--include",
                "tests.infra.broker_load",
                "-n",
                f"load-{tmp_path.name}@%h",
            ],
            env=env,
            log=worker_log,
        )
        processes.append(worker)
        beat = start(
            [celery, "-A", "clinic", "beat", "--loglevel=INFO", "-s", str(tmp_path / "sched")],
            env=env,
            log=beat_log,
        )
        processes.append(beat)
        assert wait_for(lambda: "ready." in worker_log.read_text(errors="replace"), timeout=60), (
            logs()
        )

        half = MESSAGES // 2
        for first in (0, half):
            senders.append(
                start(
                    [sys.executable, "-m", "tests.infra.broker_load", str(first), str(half), PAUSE],
                    env=env,
                    log=tmp_path / f"sender-{first}.log",
                )
            )
        for sender in senders:
            assert sender.wait(timeout=DEADLINE) == 0, logs()

        assert wait_for(lambda: len(processed()) >= MESSAGES, timeout=DEADLINE, interval=1), (
            f"{len(set(processed()))} of {MESSAGES} processed\n{logs()}"
        )
        ids = processed()
        assert sorted(ids) == list(range(MESSAGES)), logs()  # each once, none lost
        assert alive(worker.pid) and alive(beat.pid), logs()
        worker_text = worker_log.read_text(errors="replace")
        assert "transport:   clinic.core.broker:AtomicFilesystemTransport" in worker_text
        for sign in ("JSONDecodeError", "does not decode", "Traceback", "Unrecoverable error"):
            assert sign not in worker_text, logs()
        # Beat's heartbeats went through the same folder and were run too.
        assert "clinic.core.tasks.heartbeat" in worker_text and "succeeded" in worker_text
    finally:
        stop(senders + processes)

    # No half-written, claimed or unreadable file is left (heartbeats may still be queued).
    left = os.listdir(data_dir / "broker" / "queue")
    assert not [name for name in left if name.startswith(".")], left
