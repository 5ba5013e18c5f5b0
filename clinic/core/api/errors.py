"""One error body for every API failure: {"error": {"code", "message", "fields"}}.

`ClinicError` keeps its status and names its field; Django's ValidationError is a 400 with
the fields; an IntegrityError from a named constraint is a 409 with that constraint's own
message (never a 500).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from django.apps import apps
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.db.models import UniqueConstraint
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from clinic.core.exceptions import ClinicError

NON_FIELD = "non_field_errors"


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


@cache
def _constraints() -> dict[str, Any]:
    """Every named constraint of the project's models, by name."""
    return {c.name: c for model in apps.get_models() for c in model._meta.constraints}


@cache
def _unique_by_columns() -> dict[tuple[str, frozenset[str]], Any]:
    """Unique constraints by (table, columns): SQLite names the columns, not the constraint."""
    found = {}
    for model in apps.get_models():
        for c in model._meta.constraints:
            if isinstance(c, UniqueConstraint) and c.fields:
                columns = frozenset(model._meta.get_field(f).column for f in c.fields)
                found[(model._meta.db_table, columns)] = c
    return found


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")


def constraint_for(exc: IntegrityError) -> Any | None:
    """The named constraint an IntegrityError comes from, when the database says which."""
    text = str(exc)
    cause = getattr(exc, "__cause__", None)
    diag = getattr(cause, "diag", None)
    name = getattr(diag, "constraint_name", None)  # psycopg
    if name and name in _constraints():
        return _constraints()[name]
    for known, constraint in _constraints().items():
        if re.search(rf"\b{re.escape(known)}\b", text):
            return constraint
    match = _SQLITE_UNIQUE.search(text.strip())
    if match:
        pairs = [part.strip().rsplit(".", 1) for part in match.group(1).split(",")]
        tables = {p[0] for p in pairs if len(p) == 2}
        if len(tables) == 1:
            key = (tables.pop(), frozenset(p[1] for p in pairs))
            return _unique_by_columns().get(key)
    return None


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {
            str(name): [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
            if not isinstance(msgs, dict)
            else [f"{k}: {v}" for k, vs in _flatten(msgs).items() for v in vs]
            for name, msgs in detail.items()
        }
    if isinstance(detail, list):
        return {NON_FIELD: [str(m) for m in detail]}
    return {NON_FIELD: [str(detail)]}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]."""
    if isinstance(exc, ClinicError):
        set_rollback()
        fields = {exc.field: [exc.message]} if exc.field else {}
        return Response(error_body(exc.code, exc.message, fields), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        if hasattr(exc, "error_dict"):
            fields = {
                (NON_FIELD if k == "__all__" else k): [str(m) for m in v]
                for k, v in exc.message_dict.items()
            }
        else:
            fields = {NON_FIELD: [str(m) for m in exc.messages]}
        first = next(iter(fields.values()))[0]
        return Response(error_body("invalid", first, fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        set_rollback()
        constraint = constraint_for(exc)
        message = (
            str(constraint.violation_error_message)
            if constraint is not None and constraint.violation_error_message
            else "This conflicts with a record that already exists."
        )
        code = constraint.name if constraint is not None else "conflict"
        return Response(error_body(code, message), status=status.HTTP_409_CONFLICT)

    if isinstance(exc, DataError):
        # The database refused a value the validators let through (e.g. a date with a time
        # zone offset PostgreSQL cannot store): bad input, not a server error.
        set_rollback()
        return Response(
            error_body("invalid", "A value is out of the range the database can store."),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields.values()), ["Invalid input."])
        response.data = error_body("invalid", first[0] if first else "Invalid input.", fields)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        detail = exc.detail
        message = str(detail) if not isinstance(detail, (dict, list)) else exc.default_detail
        response.data = error_body(str(code), str(message))
    return response
