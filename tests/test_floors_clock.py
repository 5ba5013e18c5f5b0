"""The clinic's clock has one home: `Clinic` on the ground floor (clinic/core/models.py).

Every other module asks the clinic (`clinic.today()`, `clinic.local(moment)`,
`clinic.at_local(day, at)`, `clinic.activate()`, ...) and never builds a zone from
`clinic.time_zone` itself, so a rule about clinic time (a day-saving gap, quiet hours) is
written once.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Folders that are not the app's source: tooling, data, the tests themselves, migrations.
SKIPPED_PARTS = {"tests", "migrations", "var", "node_modules", "__pycache__"}
# The ground floor owns the clock.
CLOCK_HOME = ROOT / "clinic" / "core"

FORBIDDEN = [
    (re.compile(r"\bZoneInfo\("), "builds a ZoneInfo"),
    (re.compile(r"^\s*(from\s+zoneinfo\s+import|import\s+zoneinfo)\b", re.M), "imports zoneinfo"),
    (re.compile(r"\btimezone\.override\("), "overrides the zone by hand (use clinic.activate())"),
]


def _source_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if any(p.startswith(".") or p in SKIPPED_PARTS for p in parts[:-1]):
            continue
        if path.is_relative_to(CLOCK_HOME):
            continue
        files.append(path)
    return files


def _offences(text: str) -> list[tuple[int, str]]:
    found = []
    for pattern, what in FORBIDDEN:
        for match in pattern.finditer(text):
            found.append((text.count("\n", 0, match.start()) + 1, what))
    return found


def test_the_scan_catches_each_way_of_keeping_a_private_clock():
    sample = (
        "from zoneinfo import ZoneInfo\n"
        "import zoneinfo\n"
        "zone = ZoneInfo(clinic.time_zone)\n"
        "with timezone.override(zone):\n"
        "    pass\n"
    )
    assert [line for line, _ in _offences(sample)] == [3, 1, 2, 4]
    assert _offences("today = clinic.today()\nwith clinic.activate():\n    pass\n") == []


def test_only_the_clinic_turns_its_time_zone_into_times():
    files = _source_files()
    # The scan reads the apps (not an empty folder): the booking module is among them.
    assert ROOT / "treatments" / "booking.py" in files
    assert ROOT / "clinic" / "workflows.py" in files
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in files
        for line, what in _offences(path.read_text(encoding="utf-8"))
    ]
    assert offences == [], (
        "Clinic time belongs to Clinic (clinic/core/models.py): use clinic.zone, "
        "clinic.today(), clinic.local(), clinic.at_local(), clinic.day_span(), "
        "clinic.opening_span(), clinic.outside_quiet_hours() or clinic.activate().\n"
        + "\n".join(offences)
    )
