#!/usr/bin/env python
"""Lot signal simulation: sensitivity, false alarms, sessions needed (figures, not a test).

    CLINIC_TESTING=1 uv run python scripts/simulate_signals.py [--reps 20] [--factor 3]

Each replicate: 10 products of 20 clean lots plus one lot planted at --factor times the
baseline rates, fed week by week (about 15 sessions a week per lot, 12 weeks) through the
real `signals_compute()` (adverse_events/simulation.py). Runs in a scratch test database
(created and dropped here), so it never touches your data. Prints, over all replicates:
sensitivity (planted lots flagged), the false-alarm rate (clean lots that ever raised a rate
signal), and how many sessions the planted lot had when it was first flagged.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--sessions-per-week", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    os.environ.setdefault("CLINIC_TESTING", "1")
    import logging

    import django

    django.setup()
    logging.getLogger("adverse_events.signals").setLevel(logging.WARNING)
    from django.db import connection, transaction
    from django.test.utils import setup_test_environment

    from adverse_events.simulation import simulate

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    results = []
    started = time.monotonic()
    try:
        for rep in range(args.reps):
            with transaction.atomic():
                results.append(
                    simulate(
                        seed=args.seed + rep,
                        factor=args.factor,
                        weeks=args.weeks,
                        sessions_per_week=args.sessions_per_week,
                    )
                )
                transaction.set_rollback(True)
            r = results[-1]
            print(
                f"seed {r.seed}: planted {'flagged' if r.planted_flagged else 'MISSED'}"
                + (
                    f" after {r.planted_sessions_when_flagged} sessions"
                    f" (week {r.weeks_when_flagged})"
                    if r.planted_flagged
                    else ""
                )
                + f"; clean lots flagged {r.clean_flagged}/{r.clean_lots}",
                flush=True,
            )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    flagged = [r for r in results if r.planted_flagged]
    clean = sum(r.clean_lots for r in results)
    false_alarms = sum(r.clean_flagged for r in results)
    needed = sorted(r.planted_sessions_when_flagged for r in flagged)
    print()
    print(f"replicates: {len(results)} ({time.monotonic() - started:.0f} s)")
    print(f"rate factor of the planted lot: {args.factor}x; {args.weeks} weeks")
    print(f"sensitivity: {len(flagged)}/{len(results)} = {len(flagged) / len(results):.0%}")
    print(
        f"false-alarm rate: {false_alarms}/{clean} clean lots = {false_alarms / clean:.2%}"
        f" (replicates with any false alarm: {sum(1 for r in results if r.clean_flagged)})"
    )
    if needed:
        print(
            "sessions of the planted lot when first flagged: "
            f"median {statistics.median(needed):.0f}, range {needed[0]}-{needed[-1]}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
