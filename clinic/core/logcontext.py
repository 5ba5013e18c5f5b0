"""Who and what a log line belongs to: the request id, the user, the clinic, the Celery task.

`RequestIdMiddleware` (first in the stack) takes a well-formed incoming `X-Request-ID` or makes
one, echoes it in the response and keeps it in a context variable for the whole request;
`LogUserMiddleware` (after authentication) adds the user's id. `ContextFilter`, on every
logging handler, copies them onto each record, with the Celery task's id inside a task, so
the JSON formatter (clinic/core/logformat.py) can print them. Ids only: never a name.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from celery import current_task
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept only if it looks like an id: letters, digits and - _ . : up to 64
# characters. Anything else (too long, spaces, a name typed by someone) is replaced, so a
# header cannot carry text into every log line.
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
user_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("user_id", default=None)
clinic_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("clinic_id", default=None)


def bind_clinic(value: int | None) -> None:
    """Say which clinic this request is about (a page that named one of its records)."""
    if value is not None:
        clinic_id.set(value)


def bind_user(value: int | None) -> None:
    """Say which staff user this request is (the API learns it after the middleware)."""
    if value is not None:
        user_id.set(value)


def clean_request_id(incoming: str | None) -> str:
    if incoming and _WELL_FORMED.match(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in the stack, so every line of the request (middleware included) carries it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = clean_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = rid  # type: ignore[attr-defined]
        # Not reset on the way out: Django logs a 4xx/5xx response after the middleware
        # returns, and that line belongs to this request too. `request_finished` clears them.
        request_id.set(rid)
        user_id.set(None)
        clinic_id.set(None)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = rid
        return response


@receiver(request_finished, dispatch_uid="core.logcontext.clear")
def clear_context(**kwargs: Any) -> None:
    """The response is sent: what this thread logs next is no longer this request's."""
    request_id.set(None)
    user_id.set(None)
    clinic_id.set(None)


class LogUserMiddleware:
    """After authentication: the staff user's id (the session is read anyway by then)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            user_id.set(user.pk)
        return self.get_response(request)


def _task_id() -> str | None:
    task: Any = current_task
    request = getattr(task, "request", None) if task else None
    return getattr(request, "id", None)


class ContextFilter(logging.Filter):
    """Adds request_id, user_id, clinic_id and task_id to every record (None when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.user_id = user_id.get()
        record.clinic_id = clinic_id.get()
        record.task_id = _task_id()
        return True
