"""Container health checks for docker-compose: `python scripts/healthcheck.py web|beat`.

web:  /accounts/healthz/ answers 200. The request carries an allowed Host and the proxy's
      X-Forwarded-Proto header, because production refuses unknown hosts and redirects plain
      HTTP to HTTPS.
beat: the heartbeat row, written by a worker each time beat schedules it, is recent. This
      proves the whole loop (beat -> broker -> worker -> database), not only that a process
      exists. (The worker's own check is `celery inspect ping`.)
"""

from __future__ import annotations

import os
import sys
import urllib.request
from datetime import timedelta


def check_web() -> int:
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = (hosts[0] if hosts else "localhost").lstrip(".")
    if host == "*":
        host = "localhost"
    port = os.environ.get("HEALTHCHECK_PORT", "8000")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/accounts/healthz/",
        headers={"Host": host, "X-Forwarded-Proto": "https"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            ok = response.status == 200
    except OSError as exc:
        print(f"web: {exc}")
        return 1
    print("web: ok" if ok else "web: unexpected answer")
    return 0 if ok else 1


def check_beat() -> int:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    import django

    django.setup()
    from django.utils import timezone

    from clinic.core.models import Heartbeat

    interval = float(os.environ.get("HEARTBEAT_INTERVAL_SECONDS", "60"))
    # Three missed beats, and never less than three minutes, before calling it unhealthy.
    max_age = timedelta(seconds=max(3 * interval, 180))
    recent = Heartbeat.objects.filter(name="beat", beat_at__gte=timezone.now() - max_age)
    if recent.exists():
        print("beat: ok")
        return 0
    print(f"beat: no heartbeat within {max_age}")
    return 1


if __name__ == "__main__":
    checks = {"web": check_web, "beat": check_beat}
    if len(sys.argv) != 2 or sys.argv[1] not in checks:
        print("usage: python scripts/healthcheck.py web|beat", file=sys.stderr)
        sys.exit(2)
    sys.exit(checks[sys.argv[1]]())
