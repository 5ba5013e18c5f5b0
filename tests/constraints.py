"""Proving that named constraints refuse bad data, at the database and through validation.

Each app's tests/<app>/test_models.py holds a table `REFUSALS` of `refusal(...)` rows and runs
`refused_by_database` / `refused_by_validation` / `refused_by_full_clean` over it;
tests/core/test_models.py checks that the tables together name every constraint there is.

A row's `make()` saves a VALID row through its factory and then breaks it in memory, so the
test proves the factory is valid and that the one change is what the constraint refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from _pytest.mark import ParameterSet
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, connection, models, transaction

Make = Callable[[], models.Model]


@dataclass(frozen=True)
class Refusal:
    constraint: str
    message: str
    make: Make
    # full_clean() reports a field error first (unknown choice, blank field) and then skips
    # the constraints on that field; validate_constraints() still gives the message.
    field_level: bool = False


def refusal(
    constraint: str, message: str, make: Make, *, field_level: bool = False
) -> ParameterSet:
    return pytest.param(Refusal(constraint, message, make, field_level), id=constraint)


def changed(factory: Any, /, **changes: Any) -> Make:
    """Create a valid row with `factory`, then set `changes` (a callable gets the row)."""

    def make() -> models.Model:
        row = factory()
        for field, value in changes.items():
            setattr(row, field, value(row) if callable(value) else value)
        return row

    return make


def duplicate(factory: Any, *fields: str) -> Make:
    """Create two valid rows, then copy the unique `fields` of the first onto the second."""

    def make() -> models.Model:
        first, second = factory(), factory()
        for field in fields:
            setattr(second, field, getattr(first, field))
        return second

    return make


def choices_message(field: str, choices: type[models.Choices]) -> str:
    return f"{field} must be one of: {', '.join(str(v) for v in choices.values)}."


def constraint_named(model: type[models.Model], name: str) -> models.BaseConstraint:
    return next(c for c in model._meta.constraints if c.name == name)


def refused_by_database(case: Refusal) -> None:
    row = case.make()
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        row.save()
    error = str(caught.value)
    constraint = constraint_named(type(row), case.constraint)
    if isinstance(constraint, models.UniqueConstraint) and connection.vendor == "sqlite":
        # SQLite names the columns of a unique index, not the index.
        table = row._meta.db_table
        for field in constraint.fields:
            assert f"{table}.{row._meta.get_field(field).column}" in error, error
    else:
        assert case.constraint in error, error


def refused_by_validation(case: Refusal) -> None:
    row = case.make()
    with pytest.raises(ValidationError) as caught:
        row.validate_constraints()
    assert case.message in caught.value.messages


def refused_by_full_clean(case: Refusal) -> None:
    row = case.make()
    with pytest.raises(ValidationError) as caught:
        row.full_clean()
    if case.field_level:
        assert set(caught.value.message_dict) - {NON_FIELD_ERRORS}, caught.value.message_dict
    else:
        assert case.message in caught.value.messages
