"""The role matrix of docs/security.md, checked against every URL the project serves."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse

from tests.kit.role_matrix import COLUMNS, Row, all_routes, parse_matrix, target_name
from tests.kit.url_samples import PREFIX_SAMPLES, URL_KWARGS, MatrixWorld

ROWS = parse_matrix()
EXACT_ROWS = [r for r in ROWS if not r.is_prefix]
PREFIX_ROWS = [r for r in ROWS if r.is_prefix]


def _row_for(name: str) -> Row | None:
    exact = [r for r in EXACT_ROWS if r.name == name]
    return exact[0] if exact else next((r for r in PREFIX_ROWS if r.covers(name)), None)


@pytest.fixture
def world(
    clinic_a: Any,
    clinic_b: Any,
    practitioner_a: Any,
    front_desk_a: Any,
    safety_lead_a: Any,
    practitioner_b: Any,
    manager_a: Any,
) -> MatrixWorld:
    return MatrixWorld(
        clinic_a, clinic_b, practitioner_a, front_desk_a, safety_lead_a, practitioner_b, manager_a
    )


def _url(name: str, world: MatrixWorld) -> str:
    builder = URL_KWARGS.get(name)
    return reverse(name, kwargs=builder(world) if builder else None)


def _check(response: Any, cell: str, what: str) -> None:
    target = target_name(cell)
    if target is None:
        assert response.status_code == int(cell), (
            f"{what}: expected {cell}, got {response.status_code}"
        )
        return
    assert response.status_code == 302, f"{what}: expected {cell}, got {response.status_code}"
    expected = resolve_url(settings.LOGIN_URL if target == "login" else target)
    location = response["Location"].split("?", 1)[0]
    assert location == expected, f"{what}: expected a redirect to {expected}, got {location}"


def test_every_url_name_has_a_row_in_the_role_matrix():
    missing = sorted(
        {route.name for route in all_routes() if route.name and _row_for(route.name) is None}
    )
    assert not missing, "URLs without a row in docs/security.md's role matrix: " + ", ".join(
        missing
    )


def test_every_unnamed_url_sits_under_a_namespace_row():
    # An unnamed pattern cannot have its own row: it must be covered by a `namespace:*` row.
    uncovered = sorted(
        route.route
        for route in all_routes()
        if route.name is None
        and not any(r.covers(f"{route.namespace}:") for r in PREFIX_ROWS if route.namespace)
    )
    assert not uncovered, "Unnamed URL patterns outside a `ns:*` row: " + ", ".join(uncovered)


def test_every_role_matrix_row_names_a_url_that_exists():
    names = {route.name for route in all_routes() if route.name}
    stale = [
        r.name
        for r in ROWS
        if (r.is_prefix and not any(r.covers(n) for n in names))
        or (not r.is_prefix and r.name not in names)
    ]
    assert not stale, f"Rows for URLs that no longer exist: {stale}"


def test_every_url_with_parameters_has_a_sample_builder():
    samples = {s for r in PREFIX_ROWS for s in PREFIX_SAMPLES[r.name]}
    checked = {r.name for r in EXACT_ROWS} | samples
    lacking = sorted(
        route.name
        for route in all_routes()
        if route.name in checked and route.has_parameters and route.name not in URL_KWARGS
    )
    assert not lacking, (
        "URLs with parameters and no builder in tests/kit/url_samples.py: " + ", ".join(lacking)
    )


def test_every_namespace_row_has_sample_urls():
    assert all(PREFIX_SAMPLES.get(r.name) for r in PREFIX_ROWS), (
        "Each `ns:*` row needs sample URL names in tests/kit/url_samples.py PREFIX_SAMPLES"
    )


def _cases() -> list[Any]:
    cases = []
    for row in EXACT_ROWS:
        for column in COLUMNS:
            name = row.name if row.method == "GET" else f"{row.name}-{row.method}"
            cases.append(pytest.param(row, row.name, column, id=f"{name}-{column}"))
    for row in PREFIX_ROWS:
        for sample in PREFIX_SAMPLES.get(row.name, []):
            for column in COLUMNS:
                cases.append(pytest.param(row, sample, column, id=f"{sample}-{column}"))
    return cases


@pytest.mark.parametrize(("row", "url_name", "column"), _cases())
def test_role_matrix_entry(
    row: Row, url_name: str, column: str, world: MatrixWorld, personas: dict, client_as: Any
):
    client = client_as(personas[column])
    response = client.generic(row.method, _url(url_name, world))
    _check(response, row.expected[column], f"{row.method} {url_name} as {column}")


# --- the admin, beyond the personas (who are not is_staff) ---------------------------------


@pytest.mark.parametrize("url_name", PREFIX_SAMPLES["admin:*"])
def test_a_verified_superuser_gets_into_every_admin_sample(
    url_name: str, world: MatrixWorld, superuser_a: Any, client_as: Any
):
    response = client_as(superuser_a).get(_url(url_name, world))
    assert response.status_code == 200


def test_a_superuser_without_the_second_factor_is_sent_to_the_admin_login(
    client: Any, superuser_a: Any
):
    client.force_login(superuser_a)  # password only: not verified
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
