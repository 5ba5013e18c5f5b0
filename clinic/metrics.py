"""The `/metrics` scrape: who may read it, and the gauges read from the database.

Counters and the latency histogram are counted as things happen (clinic/core/metrics.py);
the work waiting in the database is read at scrape time by `DatabaseCollector`, one
aggregate query per family, each on a partial index of its waiting state (the outbox's
pending rows, the check-ins' scheduled rows, the open alarms), never a count over a table.
Totals over all clinics, no labels that could name anything.
"""

from __future__ import annotations

import glob
import hmac
import ipaddress
import os
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Min
from django.http import HttpRequest
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from adverse_events.models import Alarm
from patients.models import MessageState, OutboxMessage
from treatments.models import CheckIn, CheckInState


def _age_seconds(oldest: object, now: object) -> float:
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0  # type: ignore[operator]


class DatabaseCollector:
    """Outbox messages due and the lag of the oldest, check-ins due, open alarms and the
    age of the oldest."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        outbox = OutboxMessage.objects.filter(state=MessageState.PENDING, due_at__lte=now)
        due = outbox.aggregate(n=Count("pk"), oldest=Min("due_at"))
        yield GaugeMetricFamily(
            "clinic_outbox_due_messages", "Outbox messages due and not yet sent.", due["n"]
        )
        yield GaugeMetricFamily(
            "clinic_outbox_oldest_due_lag_seconds",
            "How long the oldest due outbox message has waited past its due time (0: none).",
            _age_seconds(due["oldest"], now),
        )
        checkins = CheckIn.objects.filter(state=CheckInState.SCHEDULED, due_at__lte=now)
        yield GaugeMetricFamily(
            "clinic_checkins_due",
            "Check-ins due and not yet turned into a message.",
            checkins.aggregate(n=Count("pk"))["n"],
        )
        alarms = Alarm.objects.filter(acknowledged_at__isnull=True).aggregate(
            n=Count("pk"), oldest=Min("raised_at")
        )
        yield GaugeMetricFamily(
            "clinic_alarms_open", "Red-flag alarms not yet acknowledged.", alarms["n"]
        )
        yield GaugeMetricFamily(
            "clinic_alarm_oldest_open_age_seconds",
            "Age of the oldest unacknowledged red-flag alarm (0: none).",
            _age_seconds(alarms["oldest"], now),
        )


class _ProcessFiles:
    """Every process's counters and histograms from the folders of METRICS_READ_DIRS (web's
    gunicorn workers and the Celery worker's pool each write their own files)."""

    def __init__(self, folders: list[str]):
        self._folders = folders

    def collect(self) -> Iterator[Metric]:
        files = sorted(f for d in self._folders for f in glob.glob(os.path.join(d, "*.db")))
        return iter(MultiProcessCollector.merge(files, accumulate=True))


class _ThisProcess:
    """Without multiprocess mode (tests, a single process): this process's own values."""

    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()


def scrape() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    folders = [d for d in settings.METRICS_READ_DIRS if d]
    registry.register(_ProcessFiles(folders) if folders else _ThisProcess())  # type: ignore[arg-type]
    registry.register(DatabaseCollector())  # type: ignore[arg-type]
    return generate_latest(registry)


def metrics_enabled() -> bool:
    return bool(settings.METRICS_TOKEN or settings.METRICS_ALLOWED_NETWORKS)


def metrics_allowed(request: HttpRequest) -> bool:
    """A Bearer token equal to METRICS_TOKEN (compared in constant time), or a client address
    inside METRICS_ALLOWED_CIDRS."""
    if settings.METRICS_TOKEN:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), settings.METRICS_TOKEN.encode()
        ):
            return True
    if settings.METRICS_ALLOWED_NETWORKS:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "").strip("[]"))
        except ValueError:
            return False
        return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)
    return False
