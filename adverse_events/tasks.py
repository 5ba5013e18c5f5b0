"""Lot safety tasks: refresh the summary tables, then compute lot signals.

`summaries_refresh_task` runs every 5 minutes by beat so the charts stay fresh; it recomputes
only what changed since its last run (adverse_events/summaries.py), so it is cheap when
nothing happened and safe to run twice (each table's fill state row is locked for its run).

`signals_run` is queued a minute after a new report (debounced in `signals.signals_run_soon`:
a burst of reports costs one run) and nightly by beat. Safe to run twice: signals are unique
by their dedupe key and the summaries recompute what changed.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import OperationalError

from . import signals


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
