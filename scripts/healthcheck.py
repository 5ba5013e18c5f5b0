"""Container health checks for docker-compose: `python scripts/healthcheck.py web|beat|ready`.

web:   /healthz/live answers 200: the server process answers. Worker and beat wait for it (the
       web service runs the migrations first). The request carries an allowed Host and the
       proxy's X-Forwarded-Proto header, because production refuses unknown hosts.
beat:  the readiness checks of /healthz/ready, run in this process: database, broker, cache,
       migrations, and the outbox and check-in sweeps' heartbeats younger than three sweep
       intervals. A heartbeat is written by a worker each time beat schedules a sweep, so this
       proves the whole loop (beat -> broker -> worker -> database), not only that a process
       exists. (The worker's own check is `celery inspect ping`.)
ready: /healthz/ready answers 200, over HTTP (for an operator's cron or a monitor).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def _get(path: str) -> tuple[int, bytes]:
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = (hosts[0] if hosts else "localhost").lstrip(".")
    if host == "*":
        host = "localhost"
    port = os.environ.get("HEALTHCHECK_PORT", "8000")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        headers={"Host": host, "X-Forwarded-Proto": "https"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check_web() -> int:
    try:
        status, _ = _get("/healthz/live")
    except OSError as exc:
        print(f"web: {exc}")
        return 1
    print("web: ok" if status == 200 else f"web: answered {status}")
    return 0 if status == 200 else 1


def check_ready() -> int:
    try:
        status, body = _get("/healthz/ready")
    except OSError as exc:
        print(f"ready: {exc}")
        return 1
    print(f"ready: {body.decode(errors='replace')}")
    return 0 if status == 200 else 1


def check_beat() -> int:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    import django

    django.setup()
    from clinic.health import readiness

    ok, checks = readiness()
    print(f"beat: {json.dumps(checks)}")
    return 0 if ok else 1


if __name__ == "__main__":
    checks = {"web": check_web, "beat": check_beat, "ready": check_ready}
    if len(sys.argv) != 2 or sys.argv[1] not in checks:
        print("usage: python scripts/healthcheck.py web|beat|ready", file=sys.stderr)
        sys.exit(2)
    sys.exit(checks[sys.argv[1]]())
