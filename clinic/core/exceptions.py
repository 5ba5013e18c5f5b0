"""One exception hierarchy for the whole app, mapped once to API error responses and to form
errors on pages. Services raise these; views and serializers never invent their own."""

from __future__ import annotations


class ClinicError(Exception):
    """Base of every expected failure a user can be told about."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "field": self.field}


class RuleViolation(ClinicError):
    """A clinical or business rule refuses the request (expired lot, hard stop, ...)."""

    status_code = 400
    code = "rule_violation"


class Conflict(ClinicError):
    """The request collides with the current state (double booking, last unit taken)."""

    status_code = 409
    code = "conflict"


class NotAllowed(ClinicError):
    """The user's role may not do this."""

    status_code = 403
    code = "not_allowed"
