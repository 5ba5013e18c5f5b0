"""No emergency number is written into a template or a translation (issue 15).

A Korean-speaking patient of the New York clinic was told to call 119, which does not work
there. Every page and message reads the number from its clinic (Clinic.emergency_number);
this test keeps numbers out of every template directory and every .po file of the project.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

# Emergency numbers around the world, as standalone numbers (not part of 1190, #000 or 2,000).
# Korean text may follow a number directly ("119에"): only ASCII word characters bound it.
STRICT = re.compile(r"(?<![0-9A-Za-z_#.,:/-])(?:119|911|112|999|000)(?![0-9A-Za-z_,:/-]|\.\d)")
SKIP = {".venv", "node_modules", ".git", "test-artifacts"}


def _project_files() -> list[Path]:
    root = Path(settings.BASE_DIR)
    found: list[Path] = []
    for folder in root.rglob("templates"):
        if folder.is_dir() and not SKIP & set(folder.relative_to(root).parts):
            found.extend(p for p in folder.rglob("*") if p.is_file())
    found.extend(p for p in (root / "locale").rglob("*.po"))
    return found


def _hits(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [
        f"{path.name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        for m in STRICT.finditer(text)
    ]


def test_the_scan_sees_the_patient_templates_and_the_korean_catalogue():
    names = {p.name for p in _project_files()}
    assert {"patient_urgent.html", "patient_recall.html", "django.po"} <= names


def test_the_scan_would_catch_a_hard_coded_number():
    assert STRICT.search("응급 전화(한국 119)를 하세요") and STRICT.search(
        "지금 바로 119에 전화하세요"
    )
    assert STRICT.search("call 911 now") and STRICT.search("ring 000.")
    assert not STRICT.search("width: 1190px; color: #000; 2,000 units; tel:{{ emergency_tel }}")


def test_no_template_or_translation_carries_an_emergency_number():
    hits = [hit for path in _project_files() for hit in _hits(path)]
    assert hits == [], "emergency numbers written into templates or translations:\n" + "\n".join(
        hits
    )
