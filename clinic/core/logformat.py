"""The two log formats: one JSON object per line (production) or plain text (the demo's
terminal), chosen by `LOG_FORMAT` in settings.

Both redact tracebacks with clinic/core/logredact.py (the message itself is redacted by
`RedactTokensFilter` on the handler) and print the ids `ContextFilter` adds
(clinic/core/logcontext.py). The JSON formatter prints a fixed set of fields, never the
record's other attributes: Django's request log attaches the request object, whose text
is the path (a personal link's token), and other libraries attach what they like.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from .logredact import redact

CONTEXT_FIELDS = ("request_id", "user_id", "clinic_id", "task_id")
# Extra attributes worth keeping: numbers, never text a caller chose.
EXTRA_FIELDS = ("status_code",)


class PlainFormatter(logging.Formatter):
    """`time level logger message [request id]`, for a person reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = getattr(record, "request_id", None) or getattr(record, "task_id", None)
        if rid:
            first, newline, rest = text.partition("\n")
            text = f"{first} [{rid}]{newline}{rest}"
        return redact(text)

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return redact(super().formatStack(stack_info))


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message and the context ids."""

    def __init__(self) -> None:
        super().__init__(timestamp=False)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = redact(record.getMessage())
        for field in CONTEXT_FIELDS + EXTRA_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                log_data[field] = value
        for field in ("exc_info", "stack_info"):
            if message_dict.get(field):
                log_data[field] = message_dict[field]

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return redact(super().formatStack(stack_info))
