"""Find what a strict CSP (no 'unsafe-inline') would block in a template's source."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUFFIXES = {".html", ".txt", ".svg", ".xml"}
SKIP_DIRS = {".venv", "node_modules", "var", ".git", "test-artifacts", ".tools"}

_SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
_CHECKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"<style\b", re.IGNORECASE), "<style> block"),
    (re.compile(r"""\sstyle\s*=\s*["'{]""", re.IGNORECASE), "style= attribute"),
    (re.compile(r"""\son[a-z]+\s*=\s*["'{]""", re.IGNORECASE), "on*= event handler"),
    (re.compile(r"""\shx-on[:\-a-z]*\s*=""", re.IGNORECASE), "hx-on (needs unsafe-eval)"),
    (
        re.compile(r"""(?:href|src|action)\s*=\s*["']\s*javascript:""", re.IGNORECASE),
        "javascript: URL",
    ),
]


def template_files(root: Path = REPO) -> list[Path]:
    """Every file under a `templates/` folder of the project (not the virtualenv)."""
    found = []
    for path in root.rglob("templates"):
        if not path.is_dir() or SKIP_DIRS.intersection(path.relative_to(root).parts):
            continue
        found.extend(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    return sorted(found)


def inline_violations(source: str) -> list[tuple[int, str]]:
    """(line number, what) for each inline script, style or handler in `source`."""
    problems = []
    for match in _SCRIPT_TAG.finditer(source):
        attrs = " " + match.group(1)
        # A JSON data block (json_script) is not executed, so CSP does not govern it.
        is_data = re.search(r"""\stype\s*=\s*["']application/(ld\+)?json""", attrs, re.I)
        if not is_data and not re.search(r"\ssrc\s*=", attrs, re.IGNORECASE):
            problems.append((_line(source, match.start()), "inline <script> without src"))
    for pattern, what in _CHECKS:
        for match in pattern.finditer(source):
            problems.append((_line(source, match.start()), what))
    return sorted(problems)


def _line(source: str, offset: int) -> int:
    return source.count("\n", 0, offset) + 1
