"""Delivery under faults: real workers, beats, Redis and PostgreSQL, and a recording provider.

Each test runs in its own scratch PostgreSQL database with its own redis-server, a lease of
LEASE_SECONDS and a sweep every SWEEP_SECONDS, and is bounded by a hard time limit. Figures
(sent, lost, raw repeats, flagged, time to recover) are printed, attached to the test report
(record_property) and repeated in pytest's terminal summary; docs/reliability.md keeps the
latest.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from patients.outbox import BATCH_SIZE

from .harness import LEASE_SECONDS, report, verdict

pytestmark = pytest.mark.fault

WORKER_CONCURRENCY = 2


def assert_delivered_once_each(figures: dict, world) -> None:
    context = f"{figures}\n{world.logs()}"
    assert figures["sent"] == figures["messages"], context
    assert figures["lost"] == 0, context
    assert figures["delivered_twice"] == 0, context
    assert figures["unknown_keys"] == 0, context


def test_sigkill_of_the_worker_five_times_loses_nothing_and_delivers_nothing_twice(
    make_world, hard_timeout, record_property
):
    """GIVEN 1,000 SMS falling due over 10 s, one worker (2 processes) and one beat
    WHEN  the worker is killed with SIGKILL (the whole process group, no warm shutdown) five
          times, each at a random moment while it is delivering, and restarted each time
    THEN  every message ends `sent`, the provider delivered each exactly once, and nothing is
          lost.

    The duplicate bound: a kill can only catch a message between the provider accepting it and
    our commit of `sent` in a process that is sending at that instant, so raw repeats (attempts
    the provider's idempotency key absorbed) are at most kills x worker processes, and in any
    case at most kills x BATCH_SIZE (the whole batch in flight). Every repeated key is flagged
    `duplicate_suspected` on its row, so no repeat is silent even with a provider that ignores
    keys; and only rows whose send had started (`send_started_at` committed just before the
    provider call) are flagged, so flags too are at most kills x worker processes, however many
    claimed batches wait in the killed worker's prefetch.
    """
    hard_timeout(150)
    total, spread, kills = 1000, 10.0, 5
    rng = random.Random(int(os.environ.get("FAULT_SEED") or time.time_ns()))
    world = make_world()
    world.seed(total, spread=spread)
    world.start_beat()
    world.start_worker(concurrency=WORKER_CONCURRENCY)

    claimed_at_kill = []
    for _ in range(kills):
        # Kill while delivery is under way: some sends done since the last restart, then a
        # random moment within the next second and a half.
        since = world.states().get("sent", 0)
        assert world.wait_sent(since + 20, timeout=60), world.logs()
        time.sleep(rng.uniform(0.0, 1.5))
        world.kill_worker()
        claimed_at_kill.append(world.states().get("claimed", 0))
        world.start_worker(concurrency=WORKER_CONCURRENCY)
    last_restart = time.monotonic()

    ok = world.wait_all_sent(total, timeout=90)
    recovered = time.monotonic() - last_restart
    figures = verdict(world, total)
    shown = report(
        "sigkill x5",
        {
            **figures,
            "kills": kills,
            "claimed_rows_at_each_kill": claimed_at_kill,
            "recovery_s_after_last_restart": round(recovered, 1),
            "lease_s": LEASE_SECONDS,
        },
        record_property,
    )
    assert ok, f"{shown}\n{world.logs()}"
    assert_delivered_once_each(figures, world)
    assert figures["raw_repeats"] <= kills * WORKER_CONCURRENCY <= kills * BATCH_SIZE, shown
    assert figures["_repeated"] <= figures["_flagged"], shown
    assert figures["flagged_duplicate_suspected"] <= kills * WORKER_CONCURRENCY, shown


def run_through_a_broker_fault(world, record_property, *, name: str, fault) -> None:
    """600 messages falling due over 6 s; once delivery is under way, `fault()` hits the
    broker. Everything is delivered once each; claimed rows whose tasks died with the broker
    come back when their lease runs out."""
    total = 600
    world.seed(total, spread=6.0)
    world.start_beat()
    world.start_worker(concurrency=WORKER_CONCURRENCY)
    assert world.wait_sent(50, timeout=60), world.logs()
    fault()
    hit = time.monotonic()
    claimed = world.states().get("claimed", 0)
    ok = world.wait_all_sent(total, timeout=90)
    figures = verdict(world, total)
    shown = report(
        name,
        {
            **figures,
            "claimed_rows_when_hit": claimed,
            "recovery_s": round(time.monotonic() - hit, 1),
            "processes_alive": all(world.processes_alive().values()),
            "lease_s": LEASE_SECONDS,
        },
        record_property,
    )
    assert ok, f"{shown}\n{world.logs()}"
    assert_delivered_once_each(figures, world)
    assert figures["_repeated"] <= figures["_flagged"], shown
    assert all(world.processes_alive().values()), world.logs()


def test_redis_flushed_mid_run_loses_no_message(make_world, hard_timeout, record_property):
    """GIVEN messages being delivered through a real Redis broker
    WHEN  Redis is flushed (FLUSHALL) mid-run: every queued delivery task is gone
    THEN  no message is lost: the claimed rows return when their lease runs out and the next
          sweeps deliver them, each once."""
    hard_timeout(120)
    world = make_world()
    run_through_a_broker_fault(
        world, record_property, name="redis FLUSHALL", fault=world.redis.flushall
    )


def test_redis_restarted_mid_run_loses_no_message(make_world, hard_timeout, record_property):
    """GIVEN messages being delivered through a real Redis broker without persistence
    WHEN  Redis is stopped and started again two seconds later (its queue is empty)
    THEN  worker and beat reconnect and no message is lost or delivered twice."""
    hard_timeout(120)
    world = make_world()
    run_through_a_broker_fault(
        world,
        record_property,
        name="redis restart",
        fault=lambda: world.redis.restart(down_for=2.0),
    )


def test_postgres_unreachable_for_30_seconds_worker_and_beat_survive_and_catch_up(
    make_world, hard_timeout, record_property
):
    """GIVEN worker and beat reaching PostgreSQL through a proxy, messages being delivered
    WHEN  the proxy drops every connection and refuses new ones for 30 s, then comes back
    THEN  worker and beat are still running, and every message is delivered once."""
    hard_timeout(170)
    total, outage = 600, 30.0
    world = make_world(through_proxy=True)
    world.seed(total, spread=10.0)
    world.start_beat()
    world.start_worker(concurrency=WORKER_CONCURRENCY)
    assert world.wait_sent(50, timeout=60), world.logs()
    world.proxy.cut()
    cut_at = time.monotonic()
    sent_at_cut = world.states().get("sent", 0)
    time.sleep(outage / 2)
    alive_during = world.processes_alive()
    time.sleep(max(0.0, outage - (time.monotonic() - cut_at)))
    world.proxy.restore()
    restored = time.monotonic()
    ok = world.wait_all_sent(total, timeout=100)
    figures = verdict(world, total)
    shown = report(
        "postgres away 30 s",
        {
            **figures,
            "outage_s": round(restored - cut_at, 1),
            "sent_before_cut": sent_at_cut,
            "recovery_s_after_restore": round(time.monotonic() - restored, 1),
            "alive_during_outage": all(alive_during.values()),
            "alive_after": all(world.processes_alive().values()),
        },
        record_property,
    )
    assert all(alive_during.values()), f"{alive_during}\n{world.logs()}"
    assert ok, f"{shown}\n{world.logs()}"
    assert_delivered_once_each(figures, world)
    assert figures["_repeated"] <= figures["_flagged"], shown
    assert all(world.processes_alive().values()), world.logs()


def test_two_beats_and_two_workers_never_claim_a_row_twice(
    make_world, hard_timeout, record_property
):
    """GIVEN 1,000 messages falling due over 8 s
    WHEN  two beats (each scheduling sweeps every second) and two workers (two processes
          each) sweep and deliver at once, with a lease long enough that none runs out
    THEN  every message is delivered, the provider never sees a key twice and no row is
          flagged duplicate_suspected: SKIP LOCKED gave each row to one claim only."""
    hard_timeout(120)
    total = 1000
    world = make_world(lease=60)
    world.seed(total, spread=8.0)
    world.start_beat("b1")
    world.start_beat("b2")
    world.start_worker("w1", concurrency=WORKER_CONCURRENCY)
    world.start_worker("w2", concurrency=WORKER_CONCURRENCY)
    started = time.monotonic()
    ok = world.wait_all_sent(total, timeout=90)
    figures = verdict(world, total)
    shown = report(
        "two beats, two workers",
        {**figures, "all_sent_after_s": round(time.monotonic() - started, 1)},
        record_property,
    )
    assert ok, f"{shown}\n{world.logs()}"
    assert_delivered_once_each(figures, world)
    assert figures["raw_repeats"] == 0, shown
    assert figures["flagged_duplicate_suspected"] == 0, shown
