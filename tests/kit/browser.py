"""Debian's chromium driven by Playwright's sync API (no `playwright install` here)."""

from __future__ import annotations

from pathlib import Path

from tests.requirements import require_chromium as shared_require_chromium

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def require_chromium() -> Path:
    """The chromium binary: a skip on a laptop without it, a failure under CI=true."""
    return Path(shared_require_chromium())


def artifact_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
