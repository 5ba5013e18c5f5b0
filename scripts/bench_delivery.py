#!/usr/bin/env python
"""Delivery benchmark: planning, sweeping and the sweeper's query plan (figures, not a test).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinic \\
        uv run python scripts/bench_delivery.py [--sessions 100000] [--messages 10000]

Works in its own scratch database (clinic_bench_<random>, migrated, dropped at the end) and its
own redis-server on a free port (or CELERY_BROKER_URL when redis-server is not installed):

1. plans check-ins for --sessions sessions with treatments.checkins.checkins_plan_many, and
   times a raw psycopg COPY of the very same rows into the same table (target: within 3x);
2. sweeps --messages due SMS end to end through a real worker (2 processes) and beat: the
   sweep claims them in batches of 50, one delivery task per batch, and a recording provider
   takes each send; beside it, the same worker's throughput on a no-op task (celery.accumulate);
3. prints EXPLAIN (ANALYZE) of the sweeper's claim query, which should use the partial index
   outbox_due_pending.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--pings", type=int, default=2_000, help="no-op tasks to time")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL=postgres://... (the benchmark needs PostgreSQL).", file=sys.stderr)
        return 2

    from tests.faults.harness import (
        FaultWorld,
        RedisServer,
        drop_database,
        migrated_template,
    )

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    template = migrated_template(base_url, tmp / "migrate")
    redis = RedisServer(tmp)
    world = FaultWorld(tmp, base_url=base_url, template=template, redis=redis, lease=120)
    world.env["RECORDING_SMS_LATENCY"] = "0"
    try:
        os.environ.update(
            DATABASE_URL=world.db_url,
            DEMO_MODE="true",
            DATA_DIR=str(tmp / "data"),
            CLINIC_IGNORE_DOTENV="1",
            CELERY_BROKER_URL=redis.url,
            DJANGO_SETTINGS_MODULE="clinic.settings",
        )
        import django

        django.setup()
        print(f"scratch database {world.db_name}; broker {redis.url}; CPUs {os.cpu_count()}")
        concurrency = args.concurrency
        for name, part in (
            ("planning", lambda: bench_planning(args.sessions)),
            ("sweeping", lambda: bench_sweeping(world, args.messages, args.pings, concurrency)),
            ("claim query", explain_claim),
        ):
            before, started = _load(), time.perf_counter()
            part()
            print(
                f"[{name}] part took {time.perf_counter() - started:.0f}s; load average "
                f"(1, 5, 15 min) before {before}, after {_load()} (the machine is shared)"
            )
    finally:
        from django.db import connections

        connections.close_all()
        world.close()
        redis.stop()
        drop_database(base_url, template)
    return 0


def _load() -> str:
    return "/".join(f"{n:.1f}" for n in os.getloadavg())


# --- 1 planning ----------------------------------------------------------------------------
def bench_planning(count: int) -> None:
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from clinic.core.models import CheckInPlanStep
    from tests.factories import ClinicFactory, PatientFactory, TreatmentSessionFactory
    from treatments.checkins import checkins_plan_many
    from treatments.models import CheckIn, TreatmentSession

    clinic = ClinicFactory(time_zone="Europe/London")
    if not CheckInPlanStep.objects.filter(clinic=clinic).exists():
        CheckInPlanStep.objects.bulk_create(
            CheckInPlanStep(clinic=clinic, code=code, label=label, offset=offset)
            for code, label, offset in CheckInPlanStep.DEFAULT_PLAN
        )
    steps = CheckInPlanStep.objects.filter(clinic=clinic, active=True).count()
    # One real session made by the factory; the rest are its copies, an hour apart.
    model = TreatmentSessionFactory(patient=PatientFactory(clinic=clinic))
    fields = {
        f.attname: getattr(model, f.attname)
        for f in TreatmentSession._meta.concrete_fields
        if f.attname not in {"id", "uuid", "performed_at", "created_at", "updated_at"}
        and not f.unique
    }
    started = time.perf_counter()
    now = timezone.now()
    sessions = [model]
    for start in range(1, count, 5000):
        batch = [
            TreatmentSession(performed_at=now - timedelta(hours=n), **fields)
            for n in range(start, min(count, start + 5000))
        ]
        sessions += TreatmentSession.objects.bulk_create(batch)
    print(f"\n[planning] {count} sessions created in {time.perf_counter() - started:.1f}s (setup)")
    CheckIn.objects.all().delete()

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    started = time.perf_counter()
    planned = checkins_plan_many(sessions=sessions)
    plan_s = time.perf_counter() - started
    assert CheckIn.objects.count() == planned == count * steps

    # The same rows, by COPY, into the same (emptied) table with its indexes and constraints.
    columns = [f.column for f in CheckIn._meta.concrete_fields if f.column != "id"]
    buffer = io.StringIO()
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"]) as raw:
        with raw.cursor().copy(
            f"COPY (SELECT {', '.join(columns)} FROM treatments_checkin) TO STDOUT"  # noqa: S608
        ) as copy:
            for data in copy:
                buffer.write(bytes(data).decode())
        raw.execute("TRUNCATE treatments_checkin CASCADE")  # a scratch database
        raw.commit()
        raw.execute("CHECKPOINT")
        started = time.perf_counter()
        with raw.cursor().copy(
            f"COPY treatments_checkin ({', '.join(columns)}) FROM STDIN"  # noqa: S608
        ) as copy:
            copy.write(buffer.getvalue())
        raw.commit()
        copy_s = time.perf_counter() - started
        copied = raw.execute("SELECT count(*) FROM treatments_checkin").fetchone()[0]
        # These sessions are in the past, so their check-ins are due: left in place, beat's
        # check-in sweep would dispatch them during the sweep below (minutes of work on both
        # worker processes, and messages of its own) and measure that instead.
        raw.execute("TRUNCATE treatments_checkin CASCADE")
        raw.commit()
    assert copied == planned
    print(
        f"[planning] checkins_plan_many: {planned} check-ins ({steps} per session) in "
        f"{plan_s:.1f}s = {planned / plan_s:,.0f} rows/s"
    )
    print(
        f"[planning] raw COPY of the same rows: {copy_s:.1f}s = {planned / copy_s:,.0f} rows/s; "
        f"planning takes {plan_s / copy_s:.1f}x the COPY (target: within 3x)"
    )


# --- 2 sweeping ----------------------------------------------------------------------------
def _count(path: Path, pattern: str) -> int:
    regex = re.compile(pattern)
    return sum(
        len(regex.findall(p.read_text(errors="replace"))) for p in path.parent.glob(path.name)
    )


def bench_sweeping(world, messages: int, pings: int, concurrency: int) -> None:
    from clinic.celery import app
    from clinic.core.models import Heartbeat

    world.env["LOG_LEVEL"] = "WARNING"
    # INFO: the worker logs each task it finishes, which is how tasks are counted here.
    worker = world.start_worker(concurrency=concurrency, loglevel="INFO")
    logs = world.tmp_path / "worker-w1.*.log"
    # The worker is ready when it has run a heartbeat.
    app.send_task("clinic.core.tasks.heartbeat", args=["bench"])
    deadline = time.monotonic() + 60
    while not Heartbeat.objects.filter(name="bench").exists():
        if time.monotonic() > deadline or worker.poll() is not None:
            raise SystemExit(world.logs())
        time.sleep(0.2)

    # A no-op task on the same broker and worker.
    started = time.perf_counter()
    for _ in range(pings):
        app.send_task("celery.accumulate")
    deadline = time.monotonic() + 600
    while _count(logs, r"celery\.accumulate\[[^\]]+\] succeeded") < pings:
        if time.monotonic() > deadline:
            raise SystemExit("the no-op tasks did not all finish in 10 minutes")
        time.sleep(0.05)
    ping_s = time.perf_counter() - started
    print(
        f"\n[sweeping] no-op task (celery.accumulate), {pings} through the worker "
        f"({concurrency} processes): {ping_s:.1f}s = {pings / ping_s:,.0f} tasks/s"
    )

    world.seed(messages, spread=0)
    started = time.perf_counter()
    world.start_beat()
    ok = world.wait_sent(messages, timeout=1800, interval=0.2)
    sweep_s = time.perf_counter() - started
    batches = _count(logs, r"outbox_deliver_batch\[[^\]]+\] succeeded")
    recording = world.recording()
    print(
        f"[sweeping] {messages} due SMS, beat + sweep + delivery: {sweep_s:.1f}s = "
        f"{messages / sweep_s:,.0f} messages/s (all sent: {ok}; includes beat start-up and "
        f"the first sweep interval)"
    )
    print(
        f"[sweeping] delivery tasks run: {batches} for {messages} messages "
        f"({messages / max(1, batches):.0f} per task; one task per batch of 50 means "
        f"{-(-messages // 50)}); provider deliveries {len(recording.delivered_keys)}, "
        f"repeats {recording.raw_repeats}"
    )


# --- 3 the sweeper's query plan ------------------------------------------------------------
def explain_claim() -> None:
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from patients.models import OutboxMessage

    # The outbox now holds the messages just sent and no pending rows. Statistics as they are
    # (a history of sent rows), then, inside a transaction rolled back afterwards (the worker
    # and beat are still running), 500 of them made due again: the plan a busy sweep sees.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE patients_outboxmessage")
    now = timezone.now()
    query = (
        OutboxMessage.objects.due(now)
        .order_by("due_at")
        .select_for_update(skip_locked=True)
        .values_list("pk", flat=True)[:50]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        due_again = list(OutboxMessage.objects.order_by("pk").values_list("pk", flat=True)[:500])
        OutboxMessage.objects.filter(pk__in=due_again).update(
            state="pending", due_at=now - timedelta(minutes=1)
        )
        sql, params = query.query.sql_with_params()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    total = OutboxMessage.objects.count()
    print(f"\n[claim query] on an outbox of {total} rows:\n{sql % tuple(map(repr, params))}")
    print(plan)
    print(f"served by outbox_due_pending: {'outbox_due_pending' in plan}")


if __name__ == "__main__":
    sys.exit(main())
