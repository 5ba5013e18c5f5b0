"""Measure the demo's embedded broker candidates under load: throughput, lost and unreadable.

For each transport, producer processes put N messages (each with its id and a body about the
size of a Celery task message) while one reader in this process takes them as fast as it can,
as the demo's worker does while beat and the web server send. It prints, per transport:
messages per second (first put to last message taken), how many were lost (never taken
whole), how many were unreadable (taken but not decodable) and how many came twice.

    uv run python scripts/bench_broker.py                    # filesystem and atomic, N=3000
    uv run --with sqlalchemy python scripts/bench_broker.py  # and kombu's SQLAlchemy on SQLite
    uv run python scripts/bench_broker.py -n 10000 --producers 2 --transports atomic

The candidates:
  filesystem  kombu's filesystem transport as it ships (creates the file, then writes it)
  atomic      clinic.core.broker.AtomicFilesystemTransport (temporary file, fsync, rename)
  sqlalchemy  kombu's SQLAlchemy transport on a SQLite database in WAL mode (needs SQLAlchemy)

The numbers behind the choice are in docs/architecture.md ("The embedded broker").
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kombu import Connection  # noqa: E402

QUEUE = "bench"


def connection_for(name: str, folder: Path) -> Connection:
    if name in ("filesystem", "atomic"):
        queue = folder / "queue"
        control = folder / "control"
        for path in (queue, control):
            path.mkdir(parents=True, exist_ok=True)
        options = {
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "control_folder": str(control),
            "store_processed": False,
        }
        transport = (
            "clinic.core.broker:AtomicFilesystemTransport" if name == "atomic" else "filesystem"
        )
        return Connection("filesystem://", transport=transport, transport_options=options)
    if name == "sqlalchemy":
        database = folder / "broker.sqlite3"
        return Connection(
            f"sqla+sqlite:///{database}",
            transport_options={"connect_args": {"timeout": 5}},
        )
    raise SystemExit(f"unknown transport {name!r}")


def prepare(name: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if name == "sqlalchemy":
        # The demo's database runs in WAL mode; so does this one.
        with sqlite3.connect(folder / "broker.sqlite3") as db:
            db.execute("PRAGMA journal_mode=WAL")
    with connection_for(name, folder) as connection:
        connection.SimpleQueue(QUEUE).close()  # declares the queue and its binding


def produce(name: str, folder: str, ids: list[int], size: int, errors) -> None:
    padding = "x" * size
    with connection_for(name, Path(folder)) as connection:
        queue = connection.SimpleQueue(QUEUE)
        for message_id in ids:
            try:
                queue.put({"id": message_id, "padding": padding}, serializer="json")
            except Exception:  # counted, not fatal: a failed publish is a lost message
                errors.value += 1
        queue.close()


def unreadable_files(folder: Path) -> int:
    queue = folder / "queue"
    if not queue.exists():
        return 0
    return sum(1 for entry in queue.iterdir() if entry.name.startswith(".unreadable-"))


def run(name: str, n: int, producers: int, size: int, base: Path) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir=base))
    prepare(name, folder)
    context = multiprocessing.get_context("fork")
    put_errors = context.Value("i", 0)
    shares = [list(range(i, n, producers)) for i in range(producers)]
    received: list[int] = []
    unreadable = 0
    started = time.monotonic()
    processes = [
        context.Process(target=produce, args=(name, str(folder), share, size, put_errors))
        for share in shares
    ]
    for process in processes:
        process.start()
    last = started
    with connection_for(name, folder) as connection:
        queue = connection.SimpleQueue(QUEUE)
        idle_since = None
        while len(received) + unreadable + put_errors.value < n:
            try:
                message = queue.get_nowait()
            except Empty:
                if not any(process.is_alive() for process in processes):
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > 5:
                        break  # the producers are done and nothing more arrives
                time.sleep(0.001)
                continue
            except Exception:  # what crashed the demo's worker: a message that does not decode
                unreadable += 1
                continue
            idle_since = None
            received.append(message.payload["id"])
            message.ack()
            last = time.monotonic()
        queue.close()
    for process in processes:
        process.join()
    unreadable += unreadable_files(folder)
    shutil.rmtree(folder, ignore_errors=True)
    elapsed = max(last - started, 1e-9)
    distinct = set(received)
    return {
        "transport": name,
        "n": n,
        "seconds": elapsed,
        "per_second": len(received) / elapsed,
        "lost": n - len(distinct),
        "unreadable": unreadable,
        "duplicates": len(received) - len(distinct),
        "put_errors": put_errors.value,
    }


def run_isolated(name: str, n: int, producers: int, size: int, base: Path) -> dict:
    """`run` in a fresh child: kombu keeps per-process state (declared queues, engines)."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(
        target=lambda: results.put(run(name, n, producers, size, base)), daemon=False
    )
    child.start()
    result = results.get()
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=3000, help="messages per transport")
    parser.add_argument("--producers", type=int, default=1, help="producer processes")
    parser.add_argument("--size", type=int, default=1500, help="padding bytes per message")
    parser.add_argument("--runs", type=int, default=1, help="runs per transport")
    parser.add_argument(
        "--transports", default="filesystem,atomic,sqlalchemy", help="comma-separated list"
    )
    parser.add_argument(
        "--dir",
        default=str(ROOT / "var"),
        help="where the temporary broker folders go (default var/, the demo's file system)",
    )
    args = parser.parse_args()
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    print(
        f"N={args.n} messages, {args.producers} producer process(es), one concurrent reader, "
        f"{args.size}-byte padding, {os.cpu_count()} CPUs"
    )
    print(
        f"{'transport':<11} {'run':>3} {'msg/s':>8} {'seconds':>8} {'lost':>5} "
        f"{'unreadable':>10} {'duplicates':>10} {'put errors':>10}"
    )
    for name in args.transports.split(","):
        if name == "sqlalchemy":
            try:
                import sqlalchemy  # noqa: F401
            except ImportError:
                print(f"{name:<11} skipped: SQLAlchemy is not installed (uv run --with sqlalchemy)")
                continue
        for number in range(1, args.runs + 1):
            r = run_isolated(name, args.n, args.producers, args.size, base)
            print(
                f"{name:<11} {number:>3} {r['per_second']:>8.0f} {r['seconds']:>8.1f} "
                f"{r['lost']:>5} {r['unreadable']:>10} {r['duplicates']:>10} "
                f"{r['put_errors']:>10}",
                flush=True,
            )


if __name__ == "__main__":
    main()
