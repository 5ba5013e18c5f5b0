"""Check-in tasks: turn due check-ins into outbox messages; remind once; then call."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from clinic.core.tasks import heartbeat
from patients.tasks import outbox_sweep

from . import checkins


@shared_task(
    name="treatments.tasks.checkins_sweep",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def checkins_sweep() -> dict[str, int]:
    queued = checkins.checkins_dispatch_due()
    reminders, calls = checkins.checkins_follow_up()
    if queued or reminders:
        # The messages are due now: deliver them without waiting for the outbox's own beat.
        outbox_sweep.delay()
    heartbeat("checkins_sweep")
    return {"queued": queued, "reminders": reminders, "calls": calls}
