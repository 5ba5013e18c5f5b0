"""What a test needs from the machine: skip on a laptop, fail under CI.

A laptop without PostgreSQL, Redis or Chromium still runs the rest of the suite; under
`CI=true` a missing service is a broken pipeline, never a silent skip. Call these at the top of
a test or fixture:

    def test_it_claims_each_row_once():
        require_postgres()
        ...

The same checks answer `.ci/run` from the command line, so there is one definition of
"reachable":  python -m tests.requirements postgres [URL] | redis [URL] | chromium
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import NoReturn

import pytest

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def under_ci() -> bool:
    return os.environ.get("CI") == "true"


def missing(reason: str) -> NoReturn:
    """Skip the test with `reason`, or fail it under CI=true."""
    if under_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


# --- probes: return None when fine, else why not ----------------------------------------------
def postgres_problem(url: str | None = None) -> str | None:
    import psycopg

    url = url or DEFAULT_POSTGRES_URL
    try:
        with psycopg.connect(url, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL is unreachable at {url} ({str(exc).strip().splitlines()[0]})"
    return None


def redis_problem(url: str | None = None) -> str | None:
    import redis

    url = url or DEFAULT_REDIS_URL
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return f"Redis is unreachable at {url} ({exc})"
    return None


def chromium_path() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


# --- what tests call -------------------------------------------------------------------------
def require_postgres() -> None:
    """The test database must be PostgreSQL (the suite runs on it with DATABASE_URL=postgres)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        missing(
            f"this test needs PostgreSQL but the database is {connection.vendor}; "
            "run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinic"
        )


def require_redis(url: str | None = None) -> str:
    """A Redis that answers PING; returns its URL (default: CELERY_BROKER_URL if Redis)."""
    if url is None:
        broker = os.environ.get("CELERY_BROKER_URL", "")
        url = broker if broker.startswith(("redis://", "rediss://")) else DEFAULT_REDIS_URL
    problem = redis_problem(url)
    if problem:
        missing(problem)
    return url


def require_chromium() -> str:
    """Debian's chromium binary; returns its path for Playwright's executable_path."""
    path = chromium_path()
    if path is None:
        missing("Chromium is not installed (apt-get install -y chromium)")
    return path


def _main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"postgres", "redis", "chromium"}:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    what, url = argv[0], (argv[1] if len(argv) > 1 else None)
    if what == "chromium":
        path = chromium_path()
        problem = None if path else "Chromium is not installed"
        where = path
    else:
        problem = postgres_problem(url) if what == "postgres" else redis_problem(url)
        where = url or (DEFAULT_POSTGRES_URL if what == "postgres" else DEFAULT_REDIS_URL)
    print(problem or f"{what}: ok ({where})")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
