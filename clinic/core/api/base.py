"""Bases of every API viewset: clinic scoping (clinic.core.access), cursor pages, filters,
ordering and idempotent creates."""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import mixins
from rest_framework.filters import OrderingFilter

from clinic.core.access import ClinicScopedViewSet

from .idempotency import IdempotentCreateMixin
from .pagination import ClinicCursorPagination


class TokenChallengeMixin:
    """Unauthenticated or bad-token calls get 401 `WWW-Authenticate: Token`, not 403."""

    def get_authenticate_header(self, request: Any) -> str:
        return "Token"


class ApiViewSet(TokenChallengeMixin, IdempotentCreateMixin, ClinicScopedViewSet):
    pagination_class = ClinicCursorPagination
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["created_at", "updated_at"]
    ordering = ["-created_at"]


class ReadViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """List and retrieve, scoped."""
