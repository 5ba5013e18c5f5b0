"""Keep personal-link tokens, email addresses and phone numbers out of every log line.

A patient's link is `/r/<token>/`; the token is a credential (it opens that patient's form),
so neither the web server's access log nor Django's request warnings may carry it. Both log
through the redaction here: `RedactTokensFilter` on the logging handlers (settings.LOGGING)
and `GunicornLogger` for gunicorn's access log (gunicorn.conf.py).
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from datetime import UTC, datetime

from gunicorn.glogging import Logger

# The named patient pages under /r/ are not tokens; anything else in that place is.
PATIENT_PAGES = ("fine", "report", "thanks", "urgent", "language")
_PAGES = "|".join(PATIENT_PAGES)
TOKEN_PATH = re.compile(rf"/r/(?!(?:{_PAGES})/)[^/\s?#\"']+")
REDACTED = "/r/[token]"
# A last net under the rule that code logs ids only: an address or a phone number that
# reaches a log line anyway (an SMTP error names its refused recipient; an exception's
# message quotes a value) is masked. Phones are stored in E.164 (+821012345678).
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w+])\+\d{7,15}\b")
# PostgreSQL quotes the values of a violated key: `Key (phone_key)=(821012345678) already
# exists`. The column stays, the value goes.
_PARENS = r"\((?:[^()]|\([^()]*\))*\)"  # one level of nesting: lower(email)
DB_KEY = re.compile(rf"(Key {_PARENS})={_PARENS}")


# A staff password-reset link (`/accounts/password/reset/<uid>/<token>/`) works for an hour:
# its token is a credential too. Django's own "set-password" step carries none.
RESET_PATH = re.compile(r"(/password/reset/)(?!(?:sent|complete)/)[^/\s?#\"']+/[^/\s?#\"']+")
RESET_REDACTED = r"\1[uid]/[token]"

# A staff invitation link `/staff/join/<token>/` is a credential too, until it is used.
INVITATION_PATH = re.compile(r"/staff/join/[^/\s?#\"']+")
INVITATION_REDACTED = "/staff/join/[token]"


def redact(text: str) -> str:
    text = TOKEN_PATH.sub(REDACTED, text)
    text = RESET_PATH.sub(RESET_REDACTED, text)
    text = INVITATION_PATH.sub(INVITATION_REDACTED, text)
    text = EMAIL.sub("[email]", text)
    text = DB_KEY.sub(r"\1=([value])", text)
    return PHONE.sub("[phone]", text)


class RedactTokensFilter(logging.Filter):
    """Rewrites a record's message with tokens, addresses and phone numbers removed (the
    record's args are folded in). Tracebacks are redacted by the formatters
    (clinic/core/logformat.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class GunicornLogger(Logger):
    """Gunicorn's logger with the request line, path and query redacted in access lines; under
    LOG_FORMAT=json each access line is one JSON object like the app's, with the request id."""

    def atoms(self, resp, req, environ, request_time):  # noqa: ANN001, ANN201 (gunicorn's API)
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "{raw_uri}e"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms

    def access(self, resp, req, environ, request_time):  # noqa: ANN001, ANN201
        from django.conf import settings

        if not self.access_log_enabled or getattr(settings, "LOG_FORMAT", "plain") != "json":
            return super().access(resp, req, environ, request_time)
        atoms = self.atoms(resp, req, environ, request_time)
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "message": atoms.get("r", "-"),
            "status_code": getattr(resp, "status_code", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "bytes": atoms.get("b", "-"),
            "request_id": atoms.get("{x-request-id}o"),
        }
        try:
            self.access_log.info("%s", json.dumps(line))
        except Exception:  # noqa: BLE001 - gunicorn's own rule: a log line never fails a request
            self.error(traceback.format_exc())
