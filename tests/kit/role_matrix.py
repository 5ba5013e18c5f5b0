"""The role matrix of docs/security.md, and every URL pattern the project serves.

A row is `| url name | method | practitioner | front desk | safety lead | manager | other clinic
| anonymous |`. A row whose name ends in `:*` (e.g. `admin:*`) covers a whole namespace; the
test checks it on the sample URLs listed in `PREFIX_SAMPLES`. A cell is `200`, `286` (htmx:
stop polling), `403`, `404`, `405`, `503` (a probe that is not ready), or `302→<url name>`
(`302→login` means settings.LOGIN_URL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

SECURITY_MD = Path(__file__).resolve().parents[2] / "docs" / "security.md"
COLUMNS = ["practitioner", "front desk", "safety lead", "manager", "other clinic", "anonymous"]
_CELL = re.compile(r"^(200|201|286|400|401|403|404|405|409|503|302(?:→|->)\s*[\w:.-]+)$")


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    expected: dict[str, str]

    @property
    def is_prefix(self) -> bool:
        return self.name.endswith(":*")

    def covers(self, url_name: str) -> bool:
        return url_name.startswith(self.name[:-1]) if self.is_prefix else url_name == self.name


@dataclass(frozen=True)
class Route:
    name: str | None  # namespaced, e.g. "core:login"; None for an unnamed pattern
    namespace: str
    route: str
    has_parameters: bool


def parse_matrix(text: str | None = None) -> list[Row]:
    """The rows of the table under the '## Role matrix' heading."""
    text = SECURITY_MD.read_text() if text is None else text
    section = text.split("## Role matrix", 1)[1].split("\n## ", 1)[0]
    rows: list[Row] = []
    header: list[str] | None = None
    for line in section.splitlines():
        if not line.strip().startswith("|"):
            continue
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            if header[2:] != COLUMNS:
                raise ValueError(f"role matrix columns must be url name, method, {COLUMNS}")
            continue
        if set("".join(cells)) <= set("-: "):
            continue  # the |---| line
        name, method, *statuses = cells
        for cell in statuses:
            if not _CELL.match(cell):
                raise ValueError(f"{name}: cell {cell!r} is not a status code or 302→name")
        rows.append(Row(name, method.upper(), dict(zip(COLUMNS, statuses, strict=True))))
    # A URL may have a row per method (GET patient-detail, PATCH patient-detail), each once.
    keys = [(r.name, r.method) for r in rows]
    duplicated = {f"{n} {m}" for n, m in keys if keys.count((n, m)) > 1}
    if duplicated:
        raise ValueError(f"role matrix rows repeated: {sorted(duplicated)}")
    return rows


def all_routes() -> list[Route]:
    """Every pattern of the root URLconf, with its namespaced name."""
    found: list[Route] = []

    def walk(patterns: list, namespace: str, prefix: str, params: bool) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            has_params = params or _has_parameters(entry)
            if isinstance(entry, URLResolver):
                ns = namespace
                if entry.namespace:
                    ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
                walk(entry.url_patterns, ns, route, has_params)
            elif isinstance(entry, URLPattern):
                name = None
                if entry.name:
                    name = f"{namespace}:{entry.name}" if namespace else entry.name
                found.append(Route(name, namespace, route, has_params))

    walk(get_resolver().url_patterns, "", "", False)
    return found


def _has_parameters(entry: URLPattern | URLResolver) -> bool:
    pattern = entry.pattern
    converters = getattr(pattern, "converters", None)
    if converters:
        return True
    regex = pattern.regex
    return regex.groups > 0


def target_name(cell: str) -> str | None:
    """`302→core:login` -> "core:login"; `302→login` -> settings.LOGIN_URL; else None."""
    if not cell.startswith("302"):
        return None
    return re.split(r"→|->", cell, maxsplit=1)[1].strip()
