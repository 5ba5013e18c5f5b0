"""Gunicorn settings for both the loopback demo and production (docker-compose).

The bind address defaults to loopback; production passes `--bind 0.0.0.0:8000` inside its
container. In DEMO_MODE the master refuses, before it opens a socket, any bind that is not
loopback: the demo has a known secret key and demo logins and must never face a network.
"""

from __future__ import annotations

import ipaddress
import os

# Threads rather than processes: the demo shares one SQLite file, and a clinic's traffic is
# light. Production scales with WEB_CONCURRENCY (processes) and GUNICORN_THREADS.
bind = [os.environ.get("GUNICORN_BIND") or "127.0.0.1:8000"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 60
graceful_timeout = 10
accesslog = "-"
# The access log carries paths only; patient-facing URLs never hold patient data, and the
# personal-link token in /r/<token>/ is redacted (clinic/core/logredact.py).
logger_class = "clinic.core.logredact.GunicornLogger"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# Gunicorn's control socket lives in $HOME by default; two servers on one machine (a demo
# and a test) would fight over it, and nothing here uses it.
control_socket_disable = True


def _demo_mode() -> bool:
    # The same reading as settings.py (django-environ, .env included), so that the check
    # cannot disagree with the app about whether this is a demo.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    from django.conf import settings

    return bool(settings.DEMO_MODE)


def is_loopback_bind(address: str) -> bool:
    """True for a unix socket or a host:port whose host is a loopback address."""
    if address.startswith("unix:"):
        return True
    if address.startswith("fd://"):
        return False  # an inherited socket could face anything
    host = address.rsplit(":", 1)[0] if ":" in address else address
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "" (all interfaces), a hostname, or garbage


def _clear_metrics_folder() -> None:
    """Multiprocess metrics: each worker writes files named by its pid into
    PROMETHEUS_MULTIPROC_DIR; a new server starts from an empty folder (prometheus-client's
    rule: files of an earlier run would be added to this one's)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def child_exit(server, worker) -> None:
    # A worker that exits (restarted after a timeout, or on max_requests) is marked dead, so
    # its live gauges stop counting; its counters stay in the sums.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_starting(server) -> None:
    _clear_metrics_folder()
    if not _demo_mode():
        return
    public = [address for address in server.cfg.bind if not is_loopback_bind(address)]
    if public:
        # gunicorn prints a RuntimeError as "Error: ..." and exits with status 1.
        raise RuntimeError(
            f"DEMO_MODE is on, so the server binds to loopback only, but it was asked to bind "
            f"{', '.join(public)}. Use --bind 127.0.0.1:PORT, or turn DEMO_MODE off (and set "
            "production settings) to serve a real address."
        )


def when_ready(server) -> None:
    # A second look at the sockets actually opened (systemd or inherited ones included).
    if not _demo_mode():
        return
    for listener in server.LISTENERS:
        address = listener.cfg_addr
        if isinstance(address, tuple) and not is_loopback_bind(f"[{address[0]}]:{address[1]}"):
            raise RuntimeError(f"DEMO_MODE is on, but a socket listens on {address}; stopping.")
