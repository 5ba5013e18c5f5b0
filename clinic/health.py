"""Is delivery healthy? Overdue messages and check-ins, and when each sweeper last ran.
Is the deployment ready? Database, broker, cache, the sweepers' heartbeats, migrations.

`delivery_health` is read by `manage.py delivery_health` (exit 1 when unhealthy, for cron or
a container healthcheck) and by the staff-only endpoint `/health/delivery/`; `readiness` by
`/healthz/ready` (clinic/views_ops.py) and by beat's container healthcheck.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Min
from django.utils import timezone

from clinic.core.models import Heartbeat
from patients.models import MessageState, OutboxMessage
from treatments.models import CheckIn, CheckInState

# A row more overdue than this means the sweeper is not keeping up (it runs every minute).
OVERDUE_AFTER = timedelta(minutes=5)
# A sweeper silent for longer than this is considered down.
SILENT_AFTER = timedelta(minutes=3)
SWEEPERS = ("outbox_sweep", "checkins_sweep")


@dataclass
class DeliveryHealth:
    checked_at: datetime
    overdue_messages: int
    oldest_overdue_message_due_at: datetime | None
    overdue_checkins: int
    stuck_claims: int
    failed_last_24h: int
    last_sweeps: dict[str, datetime | None]
    problems: list[str]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        data = asdict(self)
        data["healthy"] = self.healthy
        for key in ("checked_at", "oldest_overdue_message_due_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["last_sweeps"] = {k: v.isoformat() if v else None for k, v in self.last_sweeps.items()}
        return data


def delivery_health(*, clinic_ids=None, now: datetime | None = None) -> DeliveryHealth:
    """Counts only (no patient data). `clinic_ids` limits the counts to those clinics."""
    now = now or timezone.now()
    messages = OutboxMessage.objects.all()
    checkins = CheckIn.objects.all()
    if clinic_ids is not None:
        messages = messages.filter(clinic_id__in=clinic_ids)
        checkins = checkins.filter(session__clinic_id__in=clinic_ids)
    overdue = messages.filter(state=MessageState.PENDING, due_at__lt=now - OVERDUE_AFTER)
    overdue_stats = overdue.aggregate(oldest=Min("due_at"))
    overdue_count = overdue.count()
    overdue_checkins = checkins.filter(
        state=CheckInState.SCHEDULED, due_at__lt=now - OVERDUE_AFTER
    ).count()
    stuck = messages.filter(state=MessageState.CLAIMED, lease_expires_at__lt=now).count()
    failed = messages.filter(state=MessageState.FAILED, updated_at__gte=now - timedelta(days=1))
    beats = dict(Heartbeat.objects.filter(name__in=SWEEPERS).values_list("name", "beat_at"))
    last = {name: beats.get(name) for name in SWEEPERS}

    problems = []
    if overdue_count:
        problems.append(f"{overdue_count} message(s) overdue by more than 5 minutes")
    if overdue_checkins:
        problems.append(f"{overdue_checkins} check-in(s) overdue by more than 5 minutes")
    if stuck:
        problems.append(f"{stuck} claimed message(s) past their lease")
    for name, beat in last.items():
        if beat is None or now - beat > SILENT_AFTER:
            problems.append(f"{name} has not run in the last 3 minutes")
    return DeliveryHealth(
        checked_at=now,
        overdue_messages=overdue_count,
        oldest_overdue_message_due_at=overdue_stats["oldest"],
        overdue_checkins=overdue_checkins,
        stuck_claims=stuck,
        failed_last_24h=failed.count(),
        last_sweeps=last,
        problems=problems,
    )


# --- readiness: can this deployment do its work? (/healthz/ready) --------------------------

# The answer names each check and, on failure, only the exception's class: never a URL (it
# may hold a password), a host name or a row.
CheckResult = dict[str, object]


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_broker() -> None:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        import redis

        timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            if not client.ping():
                raise ConnectionError("no PONG")
        finally:
            client.close()
        return
    # The demo's filesystem broker: its folders exist and can be written.
    folders = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        folder = folders[key]
        if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
            raise FileNotFoundError(f"broker folder {key} is missing or read-only")


def _check_cache() -> None:
    key, value = "healthz:ready", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise LookupError("the cache did not return what was stored")


def _check_sweepers() -> None:
    # Three missed sweeps: one late run is load, three is a stopped beat or worker.
    max_age = timedelta(seconds=3 * settings.SWEEP_INTERVAL_SECONDS)
    beats = dict(Heartbeat.objects.filter(name__in=SWEEPERS).values_list("name", "beat_at"))
    now = timezone.now()
    stale = [name for name in SWEEPERS if beats.get(name) is None or now - beats[name] > max_age]
    if stale:
        raise TimeoutError(f"no heartbeat in {max_age.total_seconds():.0f} s: {', '.join(stale)}")


_migrated = False


def _check_migrations() -> None:
    # Once every migration is applied it stays so for this process (a deploy with new
    # migrations starts new processes), so the migration graph is loaded until then only.
    global _migrated
    if _migrated:
        return
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise LookupError(f"{len(plan)} migration(s) not applied")
    _migrated = True


READINESS_CHECKS = {
    "database": _check_database,
    "broker": _check_broker,
    "cache": _check_cache,
    "sweepers": _check_sweepers,
    "migrations": _check_migrations,
}
# Our own messages are fixed text and safe to show; anything else shows its class only.
_OWN_ERRORS = (FileNotFoundError, LookupError, TimeoutError)


def readiness() -> tuple[bool, dict[str, CheckResult]]:
    """Run every check; a failing one never stops the others. No patient data, no secrets."""
    results: dict[str, CheckResult] = {}
    for name, check in READINESS_CHECKS.items():
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - a health check reports, it never raises
            own = type(exc) in _OWN_ERRORS
            results[name] = {"ok": False, "error": str(exc) if own else type(exc).__name__}
            if name == "database":
                # Every later check but the broker and cache needs the database.
                connection.close_if_unusable_or_obsolete()
        else:
            results[name] = {"ok": True}
    return all(r["ok"] for r in results.values()), results
