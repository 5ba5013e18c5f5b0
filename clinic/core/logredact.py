"""Keep personal-link tokens out of every log line.

A patient's link is `/r/<token>/`; the token is a credential (it opens that patient's form),
so neither the web server's access log nor Django's request warnings may carry it. Both log
through the redaction here: `RedactTokensFilter` on the logging handlers (settings.LOGGING)
and `GunicornLogger` for gunicorn's access log (gunicorn.conf.py).
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

# The named patient pages under /r/ are not tokens; anything else in that place is.
PATIENT_PAGES = ("fine", "report", "thanks", "urgent", "language")
_PAGES = "|".join(PATIENT_PAGES)
TOKEN_PATH = re.compile(rf"/r/(?!(?:{_PAGES})/)[^/\s?#\"']+")
REDACTED = "/r/[token]"
# A staff invitation link `/staff/join/<token>/` is a credential too, until it is used.
INVITATION_PATH = re.compile(r"/staff/join/[^/\s?#\"']+")
INVITATION_REDACTED = "/staff/join/[token]"


def redact(text: str) -> str:
    return INVITATION_PATH.sub(INVITATION_REDACTED, TOKEN_PATH.sub(REDACTED, text))


class RedactTokensFilter(logging.Filter):
    """Rewrites a record's message with tokens removed (the record's args are folded in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class GunicornLogger(Logger):
    """Gunicorn's logger with the request line, path and query redacted in access lines."""

    def atoms(self, resp, req, environ, request_time):  # noqa: ANN001, ANN201 (gunicorn's API)
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "{raw_uri}e"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
