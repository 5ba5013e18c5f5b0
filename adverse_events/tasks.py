"""Lot safety tasks: refresh the summary tables, then compute lot signals.

`summaries_refresh_task` runs every 5 minutes by beat so the charts stay fresh; it recomputes
only what changed since its last run (adverse_events/summaries.py), so it is cheap when
nothing happened and safe to run twice (each table's fill state row is locked for its run).

`signals_run` is queued a minute after a new report (debounced in `signals_run_soon` below:
a burst of reports costs one run) and nightly by beat. Safe to run twice: signals are unique
by their dedupe key and the summaries recompute what changed.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import OperationalError, transaction

from . import signals

logger = logging.getLogger(__name__)


@shared_task(
    name="adverse_events.tasks.signals_run",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def signals_run() -> dict[str, Any]:
    from .summaries import summaries_refresh

    # First: a report that arrives while this run computes asks for the next run.
    signals.signals_run_started()
    summaries_refresh()
    return signals.signals_compute().as_dict()


@shared_task(
    name="adverse_events.tasks.summaries_refresh_task",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=240,  # shorter than the beat interval: runs never pile up
)
def summaries_refresh_task() -> dict[str, int]:
    from .summaries import summaries_refresh

    refreshed = summaries_refresh()
    # Lot signals read these tables. They run after new reports (debounced) and nightly
    # through `signals_run`, which refreshes first; to compute them on every refresh instead,
    # chain here: `signals.signals_compute()`.
    return refreshed


# --- debounce: a burst of reports costs one run (the marker is signals.signals_run_claim) ----


def signals_run_soon() -> bool:
    """Enqueue a signals run in DEBOUNCE_SECONDS unless one is pending (call on commit)."""
    if not signals.signals_run_claim():
        return False
    try:
        signals_run.apply_async(countdown=signals.DEBOUNCE_SECONDS)
    except Exception:
        # The broker is away: release the marker so the next report tries again; the
        # nightly run catches up meanwhile.
        signals.signals_run_started()
        logger.exception("could not enqueue the lot signals run")
        return False
    return True


def signals_schedule_after_commit() -> None:
    """Ask for a debounced run once the current transaction commits (never fails it)."""
    transaction.on_commit(signals_run_soon, robust=True)
