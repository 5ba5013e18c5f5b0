"""Prometheus metrics that processes count as they go (prometheus-client).

Counters and the request-latency histogram live here, on the ground floor, so that any app
can count (the lot-signal run in adverse_events). The gauges read from the database at
scrape time, and the `/metrics` page itself, are on the top floor (clinic/metrics.py).

Under gunicorn (several processes) and Celery's prefork pool, `PROMETHEUS_MULTIPROC_DIR`
must be set before this module is imported: each process then writes its values to files
there, and the scrape adds them up (gunicorn.conf.py `child_exit` and the worker's
`worker_process_shutdown` mark dead processes).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # The values' files are made when the metrics below are created.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

REQUEST_LATENCY = Histogram(
    "clinic_http_request_duration_seconds",
    "Time to answer a request, by URL name (never the path), method and status class.",
    ["route", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
TASK_FAILURES = Counter(
    "clinic_celery_task_failures",
    "Celery tasks that raised (after their own retries), by task name.",
    ["task"],
)
LOT_SIGNAL_RUNS = Counter(
    "clinic_lot_signal_runs",
    "Lot-signal computations finished (adverse_events.signals.signals_compute).",
)

# Methods outside this set are counted as "other": the label's values stay few.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(request: HttpRequest) -> str:
    """The resolved URL name ("clinical:session"), or "unresolved" for a 404 without one:
    a path would put uuids and personal-link tokens into the label."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unresolved"
    return match.view_name or "unnamed"


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"
        REQUEST_LATENCY.labels(
            route=route_of(request), method=method, status=f"{response.status_code // 100}xx"
        ).observe(time.perf_counter() - started)
        return response


def task_failed(sender: object = None, **kwargs: object) -> None:
    """Celery's `task_failure` signal (connected in clinic/celery.py)."""
    name = getattr(sender, "name", None) or "unknown"
    TASK_FAILURES.labels(task=name).inc()
