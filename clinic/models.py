"""Models of the top-floor app (label "clinic"): the API's idempotency records."""

from clinic.api.models import IdempotencyRecord

__all__ = ["IdempotencyRecord"]
