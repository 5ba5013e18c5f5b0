"""The REST API under /api/v1/: one error body, cursor pages, idempotent creates, tokens."""
