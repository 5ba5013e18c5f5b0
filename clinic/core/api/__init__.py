"""The API kit on the ground floor: base viewsets, fields, pagination, idempotency, errors."""
