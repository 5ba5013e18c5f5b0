"""`Idempotency-Key` on creating requests (POST): the same key from the same user replays
the first response (status and body) for 24 hours; the same key with another body is a 422.

The creates of sessions, patients, series and lots also pass the key down to their service as
a one-time form token (`idempotency_form_token`, clinic/core/formtokens.py), so two requests
with the same key that arrive together make one record too: the second gets the first's
record back with `Idempotent-Replayed: true`."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from clinic.core.models import FormToken, IdempotencyRecord

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# uuid5 namespace that turns (user, path, key) into a form token.
FORM_TOKEN_NAMESPACE = uuid.UUID("8f0c1d5e-2b7a-4c59-9a51-0d6b7e3f4a21")


class KeyReusedWithAnotherRequest(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used with a different request."


class BadKey(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "idempotency_key_invalid"
    default_detail = f"An Idempotency-Key is 1 to {MAX_KEY_LENGTH} characters."


class _Replay(Exception):
    def __init__(self, record: IdempotencyRecord):
        self.record = record


def _request_hash(request: Any) -> str:
    raw = request._request.body  # read before DRF parses it (it re-reads from the cache)
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.path.encode())
    digest.update(raw)
    return digest.hexdigest()


def _key_token(user: Any, path: str, key: str) -> uuid.UUID:
    return uuid.uuid5(FORM_TOKEN_NAMESPACE, f"{user.pk}\n{path}\n{key}")


class IdempotentCreateMixin:
    """Mix into an APIView/viewset: POSTs honour the Idempotency-Key header."""

    def _idempotency_key(self, request: Any) -> str | None:
        if request.method != "POST":
            return None
        key = request.headers.get(HEADER)
        if key is None:
            return None
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise BadKey()
        return key

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._idem = None
        key = self._idempotency_key(request)
        if key is None or not request.user.is_authenticated:
            return
        request_hash = _request_hash(request)
        expired = timezone.now() - TTL
        forgotten, _rows = IdempotencyRecord.objects.filter(
            user=request.user, key=key, created_at__lt=expired
        ).delete()
        # The key is forgotten whole after 24 hours: its form token too.
        tokens = FormToken.objects.filter(token=_key_token(request.user, request.path, key))
        (tokens if forgotten else tokens.filter(created_at__lt=expired)).delete()
        record = IdempotencyRecord.objects.filter(user=request.user, key=key).first()
        if record is not None:
            if record.request_hash != request_hash:
                raise KeyReusedWithAnotherRequest()
            raise _Replay(record)
        self._idem = (key, request_hash)

    def idempotency_form_token(self) -> uuid.UUID | None:
        """This request's Idempotency-Key as the service's one-time form token (None without
        a key): the same user sending the same key to the same URL gets the same token."""
        pending = getattr(self, "_idem", None)
        if not pending:
            return None
        request = self.request  # type: ignore[attr-defined]
        return _key_token(request.user, request.path, pending[0])

    def created_response(self, data: Any, record: Any) -> Response:
        """201 with the new record; a record the key had already made comes back marked."""
        response = Response(data, status=status.HTTP_201_CREATED)
        if getattr(record, "already_submitted", False):
            response["Idempotent-Replayed"] = "true"
        return response

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            response = Response(exc.record.body, status=exc.record.status_code)
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)  # type: ignore[misc]

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        pending = getattr(self, "_idem", None)
        if pending and response.status_code < 500 and isinstance(response, Response):
            key, request_hash = pending
            body = json.loads(json.dumps(response.data, cls=JSONEncoder))
            try:
                with transaction.atomic():
                    IdempotencyRecord.objects.create(
                        user=request.user,
                        key=key,
                        request_hash=request_hash,
                        status_code=response.status_code,
                        body=body,
                    )
            except IntegrityError:
                pass  # a concurrent request with the same key stored its answer first
        return response
