"""Scoping in one place: `visible` / `visible_or_404` (clinic/core/access.py) and the role sets
of clinic/core/models.py.

The helper's own rules are tested on rows; the rest are scans of the code, so a page written
tomorrow that scopes by hand, or a role set written a second time, fails here.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.http import Http404
from django.test import RequestFactory

from clinic.core.access import visible, visible_or_404
from clinic.core.models import ALL_ROLES, SAFETY_LEAD_ONLY, Heartbeat
from patients.models import Patient
from tests.factories import PatientFactory, ReactionReportFactory

APPS = ("clinic", "patients", "treatments", "adverse_events")
ROOT = Path(settings.BASE_DIR)


def _project_files() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    )


def _view_files() -> list[Path]:
    """Every page and API view module: `views.py` and `views_*.py` in every app and `api/`."""
    return [p for p in _project_files() if p.name == "views.py" or p.name.startswith("views_")]


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _is_scoped_model(value: Any) -> bool:
    return (
        isinstance(value, type)
        and issubclass(value, models.Model)
        and hasattr(value._default_manager, "visible_to")
    )


def _manager_root(node: ast.AST) -> str | None:
    """`Patient` for `Patient.objects.select_related(...).filter(...)`, else None."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            if node.attr in ("objects", "_default_manager") and isinstance(node.value, ast.Name):
                return node.value.id
            node = node.value
        else:
            return None


def hand_scoping(source: str, namespace: dict[str, Any]) -> list[str]:
    """Lines of a view module that look a scoped row up, or scope a queryset, without the
    helper. `namespace` (the module's globals) tells which names are scoped models."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in ("get_object_or_404", "get_list_or_404", "scoped", "visible_to"):
            found.append(f"line {node.lineno}: {name}(...)")
            continue
        if not isinstance(func, ast.Attribute) or name not in ("get", "filter", "in_bulk"):
            continue
        root = _manager_root(func.value)
        if root is None or not _is_scoped_model(namespace.get(root)):
            continue
        by_uuid = any((k.arg or "").startswith("uuid") for k in node.keywords)
        if name in ("get", "in_bulk") or by_uuid:
            found.append(f"line {node.lineno}: {root}.objects...{name}(...)")
    return sorted(found, key=lambda line: int(line.split(":")[0].removeprefix("line ")))


def _calls(path: Path, attr: str) -> list[int]:
    tree = ast.parse(path.read_text())
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attr
    ]


def role_set_literals(source: str) -> list[int]:
    """Lines that write a set of roles (`{Role.X}`, `(Role.X, Role.Y)`, `frozenset(Role)`)."""

    def is_role(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "Role"
        )

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Set | ast.List | ast.Tuple) and node.elts:
            if all(is_role(e) for e in node.elts):
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("set", "frozenset")
            and any(isinstance(a, ast.Name) and a.id == "Role" for a in node.args)
        ):
            lines.append(node.lineno)
    return sorted(lines)


# --- the scans -------------------------------------------------------------------------------


def test_the_scans_find_the_view_modules_and_know_hand_scoping_when_they_see_it():
    views = {_module(p) for p in _view_files()}
    assert {"patients.views", "treatments.views_booking", "clinic.views_triage"} <= views
    assert "treatments.api.views" in views
    namespace = {"Patient": Patient, "Heartbeat": Heartbeat}
    bad = (
        "a = get_object_or_404(Patient.objects.visible_to(request.user), uuid=uuid)\n"
        "b = scoped(Patient.objects.all(), request.user, None)\n"
        "c = Patient.objects.select_related('clinic').get(pk=1)\n"
        "d = Patient.objects.filter(uuid=uuid).first()\n"
    )
    assert [line.split(":")[0] for line in hand_scoping(bad, namespace)] == [
        "line 1",
        "line 1",
        "line 2",
        "line 3",
        "line 4",
    ]
    fine = (
        "a = visible_or_404(Patient.objects.select_related('clinic'), request, uuid)\n"
        "b = Heartbeat.objects.get(name='x')\n"
        "c = Patient.objects.filter(clinic=clinic)\n"
    )
    assert hand_scoping(fine, namespace) == []
    assert role_set_literals("A = frozenset({Role.SAFETY_LEAD})\nB = (Role.X, Role.Y)\n") == [1, 2]
    assert role_set_literals("ok = Role.SAFETY_LEAD in held\npair = (clinic, Role.X)\n") == []


def test_no_view_looks_up_a_scoped_row_or_scopes_a_queryset_without_the_helper():
    """Every page and API view gets its object by uuid and its querysets through `visible` /
    `visible_or_404` (or the scoped API base), never by hand."""
    problems = {}
    for path in _view_files():
        namespace = vars(importlib.import_module(_module(path)))
        found = hand_scoping(path.read_text(), namespace)
        if found:
            problems[str(path.relative_to(ROOT))] = found
    assert problems == {}


def test_only_the_ground_floor_calls_visible_to():
    """`Model.objects.visible_to(...)` is the rule itself; everyone else asks `visible`."""
    calls = {
        str(path.relative_to(ROOT)): lines
        for path in _project_files()
        if path.parent != ROOT / "clinic" / "core" and (lines := _calls(path, "visible_to"))
    }
    assert calls == {}


def test_role_sets_are_defined_once_in_the_ground_floor_models():
    models_py = ROOT / "clinic" / "core" / "models.py"
    written = {
        str(path.relative_to(ROOT)): lines
        for path in _project_files()
        if path != models_py and (lines := role_set_literals(path.read_text()))
    }
    assert written == {}
    assert role_set_literals(models_py.read_text()), "the role sets live in clinic/core/models.py"


# --- the helper --------------------------------------------------------------------------------


@pytest.fixture
def seoul_patient(clinic_a: Any) -> Patient:
    return PatientFactory(clinic=clinic_a)


def test_visible_or_404_finds_the_row_by_its_public_uuid_for_staff_of_its_clinic(
    seoul_patient, practitioner_a, front_desk_a
):
    for user in (practitioner_a, front_desk_a):
        assert visible_or_404(Patient, user, seoul_patient.uuid) == seoul_patient


def test_visible_or_404_answers_404_for_another_clinic_and_for_an_unknown_uuid(
    seoul_patient, practitioner_a, practitioner_b
):
    with pytest.raises(Http404):
        visible_or_404(Patient, practitioner_b, seoul_patient.uuid)
    with pytest.raises(Http404):
        visible_or_404(Patient, practitioner_a, PatientFactory.build().uuid)


def test_a_page_may_narrow_who_reads_a_model_never_widen_it(
    clinic_a, seoul_patient, practitioner_a, front_desk_a, safety_lead_a
):
    report = ReactionReportFactory(clinic=clinic_a)
    # The front desk never reads reactions, even when a page asks for every role.
    assert list(visible(type(report), front_desk_a, roles=ALL_ROLES)) == []
    assert list(visible(type(report), practitioner_a, roles=ALL_ROLES)) == [report]
    # A page for safety leads only: the practitioner of the same clinic gets a 404.
    with pytest.raises(Http404):
        visible_or_404(Patient, practitioner_a, seoul_patient.uuid, roles=SAFETY_LEAD_ONLY)
    assert visible_or_404(Patient, safety_lead_a, seoul_patient.uuid, roles=SAFETY_LEAD_ONLY)


def test_visible_takes_the_request_and_keeps_what_the_queryset_loads(
    seoul_patient, practitioner_a, django_assert_num_queries
):
    request = RequestFactory().get("/")
    request.user = practitioner_a
    with django_assert_num_queries(1):
        rows = list(visible(Patient.objects.select_related("clinic"), request))
        assert [p.clinic.name for p in rows] == ["Seoul"]


def test_visible_refuses_a_model_that_cannot_be_scoped(practitioner_a):
    with pytest.raises(ImproperlyConfigured):
        visible(Heartbeat, practitioner_a)
