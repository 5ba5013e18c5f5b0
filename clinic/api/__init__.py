"""The REST API top floor: the router joining every app, tokens, docs pages.

The kit every app's `api/` builds on (base viewsets, fields, pagination, idempotency, the error
shape) lives on the ground floor, in `clinic/core/api/`."""
