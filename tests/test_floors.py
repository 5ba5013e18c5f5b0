"""The floors: a lower app never names a page of a higher floor.

`lint-imports` (pyproject.toml) keeps imports pointing down. A URL name is an import by another
name, so this test reads every .py file and template of the lower floors for `reverse(...)`,
`reverse_lazy(...)`, `redirect("...")` and `{% url '...' %}` and fails when the name belongs to
a page whose view lives on a higher floor. Who owns a name comes from the URL resolver itself:
the module of each pattern's view. The shared layout (`clinic/core/templates/base.html`) holds
the site's navigation and is the one sanctioned exception. A lower page that must link upward
asks `clinic/core/links.py` for a link by purpose, which the owning floor provides.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parent.parent

# Lowest first; the index is the floor's height.
FLOORS = ["clinic.core", "patients", "treatments", "adverse_events", "clinic"]
LOWER_FLOORS = {
    "clinic.core": ROOT / "clinic" / "core",
    "patients": ROOT / "patients",
    "treatments": ROOT / "treatments",
    "adverse_events": ROOT / "adverse_events",
}
# The layout's navigation links every floor's pages: the one sanctioned exception.
LAYOUT = ROOT / "clinic" / "core" / "templates"
SANCTIONED = {LAYOUT / "base.html"}

NAMED = re.compile(
    r"""(?:\breverse(?:_lazy)?\(\s*|\bredirect\(\s*|\{%\s*url\s+)["']([\w:-]+)["']"""
)


def _floor_of_module(module: str) -> str:
    for floor in sorted(FLOORS, key=len, reverse=True):
        if module == floor or module.startswith(floor + "."):
            return floor
    return ""  # Django, DRF, knox...: not ours, any floor may link to them


def _callback_module(pattern: URLPattern) -> str:
    callback = pattern.callback
    view = getattr(callback, "view_class", None) or getattr(callback, "cls", None) or callback
    return getattr(view, "__module__", "")


def _owners(resolver: URLResolver, namespace: str = "") -> dict[str, str]:
    """Every URL name (with its namespace) -> the floor whose module holds its view."""
    owners: dict[str, str] = {}
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            for name, floor in _owners(entry, inner).items():
                owners.setdefault(name, floor)
        elif entry.name:
            owners.setdefault(f"{namespace}{entry.name}", _floor_of_module(_callback_module(entry)))
    return owners


def _files(floor_dir: Path) -> list[Path]:
    return [
        path
        for path in sorted(floor_dir.rglob("*"))
        if path.suffix in {".py", ".html", ".txt"} and "migrations" not in path.parts
    ]


def upward_names(floors: dict[str, Path] = LOWER_FLOORS, root: Path = ROOT) -> list[str]:
    owners = _owners(get_resolver())
    problems = []
    for floor, floor_dir in floors.items():
        height = FLOORS.index(floor)
        for path in _files(floor_dir):
            if path in SANCTIONED:
                continue
            text = path.read_text(encoding="utf-8")
            for match in NAMED.finditer(text):
                name = match.group(1)
                owner = owners.get(name)
                if owner and FLOORS.index(owner) > height:
                    line = text.count("\n", 0, match.start()) + 1
                    where = path.relative_to(root)
                    problems.append(f"{where}:{line} names {name!r}, a page of {owner}")
    return problems


def test_the_url_map_knows_the_floor_of_every_page_it_scans_for():
    owners = _owners(get_resolver())
    assert owners["dashboard"] == "clinic"
    assert owners["triage:report"] == "clinic"
    assert owners["patients:detail"] == "patients"
    assert owners["treatments:lot"] == "treatments"
    assert owners["core:login"] == "clinic.core"


def test_no_lower_floor_names_a_page_of_a_higher_floor():
    assert upward_names() == []


def test_the_scan_finds_an_upward_name_in_a_template_and_in_python(tmp_path):
    """GIVEN a patients app whose template links the dashboard and whose code reverses the
    triage page, and a treatments app that links a patient's page (a lower floor)
    THEN exactly the two upward names are found, each with its file and line."""
    patients, treatments = tmp_path / "patients", tmp_path / "treatments"
    (patients / "templates").mkdir(parents=True)
    treatments.mkdir()
    (patients / "templates" / "x.html").write_text("<p>\n<a href=\"{% url 'dashboard' %}\">")
    (patients / "views.py").write_text(
        'go = redirect("patients:calls")\nreverse("triage:report")\n'
    )
    (treatments / "views.py").write_text('reverse_lazy("patients:detail", kwargs={})\n')
    found = upward_names({"patients": patients, "treatments": treatments}, root=tmp_path)
    assert found == [
        "patients/templates/x.html:2 names 'dashboard', a page of clinic",
        "patients/views.py:2 names 'triage:report', a page of clinic",
    ]


def test_the_import_contracts_list_the_same_top_floor_and_every_module_of_clinic():
    """The floors contract names the top floor module by module (a layer cannot say "clinic
    but clinic.core"); the exhaustive contract over `clinic` lists them again. Both lists must
    be the whole top floor, or an upward import into a forgotten module would pass unseen."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}
    floors = [part.strip() for part in contracts["floors"]["layers"][0].split(":")]
    listed = [part.strip() for part in contracts["top-floor-listed"]["layers"][0].split(":")]
    assert contracts["floors"]["layers"][1:] == [
        "adverse_events",
        "treatments",
        "patients",
        "clinic.core",
    ]
    assert contracts["top-floor-listed"]["layers"][1:] == ["core"]
    children = {
        p.stem if p.suffix == ".py" else p.name
        for p in (ROOT / "clinic").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert sorted(floors) == sorted(f"clinic.{name}" for name in listed)
    assert set(listed) == children - {"core"}
    assert not any(c.get("ignore_imports") for c in contracts.values())
