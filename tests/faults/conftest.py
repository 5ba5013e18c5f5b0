"""Fixtures for fault tests: a migrated template database, a private Redis, a bounded clock,
and a terminal summary that prints every fault test's figures (shown with or without -s)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .harness import FIGURES, FaultWorld, RedisServer, drop_database, migrated_template
from .harness import postgres_url as _postgres_url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return _postgres_url()


@pytest.fixture(scope="session")
def fault_template(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrated once per run; each test copies it into its own scratch database."""
    name = migrated_template(postgres_url, tmp_path_factory.mktemp("fault-migrate"))
    try:
        yield name
    finally:
        drop_database(postgres_url, name)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_world(
    tmp_path: Path, postgres_url: str, fault_template: str, redis_server: RedisServer
) -> Iterator[Callable[..., FaultWorld]]:
    worlds: list[FaultWorld] = []

    def make(**options) -> FaultWorld:
        world = FaultWorld(
            tmp_path, base_url=postgres_url, template=fault_template, redis=redis_server, **options
        )
        worlds.append(world)
        return world

    try:
        yield make
    finally:
        for world in worlds:
            world.close()


class HardTimeout(Exception):
    """The test ran past its hard limit (its finally blocks still stop every process)."""


@pytest.fixture
def hard_timeout() -> Iterator[Callable[[float], None]]:
    """`hard_timeout(seconds)` raises HardTimeout in the test when the time is up."""

    def expire(signum, frame):
        raise HardTimeout("fault test exceeded its hard time limit")

    previous = signal.signal(signal.SIGALRM, expire)

    def arm(seconds: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, seconds)

    try:
        yield arm
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_terminal_summary(terminalreporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("fault test figures")
    for figures in FIGURES:
        shown = ", ".join(f"{k}={v}" for k, v in figures.items() if k != "test")
        terminalreporter.write_line(f"{figures['test']}: {shown}")
