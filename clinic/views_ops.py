"""Probes and the metrics scrape: `/healthz/live`, `/healthz/ready`, `/metrics`.

No login (machines call them), no patient data: checks by name with ok or the failure's
kind, and Prometheus families of totals. `/metrics` is off (404) unless METRICS_TOKEN or
METRICS_ALLOWED_CIDRS is set, and refuses (403) a caller with neither.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from .health import readiness
from .metrics import metrics_allowed, metrics_enabled, scrape


@never_cache
@require_safe
def healthz_live(request: HttpRequest) -> JsonResponse:
    """The process answers. Touches nothing else, so a slow database never restarts it."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def healthz_ready(request: HttpRequest) -> JsonResponse:
    """Database, broker, cache, the sweepers' heartbeats and migrations; 503 if any fails."""
    ok, checks = readiness()
    return JsonResponse(
        {"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503
    )


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_enabled():
        return HttpResponse("Not found.", status=404, content_type="text/plain")
    if not metrics_allowed(request):
        return HttpResponse("Forbidden.", status=403, content_type="text/plain")
    return HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
