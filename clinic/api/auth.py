"""Per-user API tokens (django-rest-knox): issued only from a browser session that passed
both factors, stored hashed, expiring (REST_KNOX TOKEN_TTL), revocable, and refused once the
user is deactivated (knox checks `is_active` on every request)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework import permissions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.core.access import has_membership, is_verified
from clinic.core.api.base import TokenChallengeMixin
from clinic.core.api.idempotency import IdempotentCreateMixin


class VerifiedSessionStaff(permissions.BasePermission):
    """A browser session with both factors (not a token) and a clinic role."""

    message = "Log in to the web app with both factors to get an API token."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_verified(request.user) and has_membership(request.user)


class TokenOut(serializers.Serializer):
    token = serializers.CharField(help_text="Shown once; only its hash is stored.")
    expiry = serializers.DateTimeField(read_only=True)


class TokenIssueView(IdempotentCreateMixin, APIView):
    """Issue a token to the logged-in, two-factor-verified user."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [VerifiedSessionStaff]

    @extend_schema(request=None, responses={201: TokenOut}, operation_id="auth_token_create")
    def post(self, request: Any) -> Response:
        instance, token = AuthToken.objects.create(request.user, knox_settings.TOKEN_TTL)
        return Response(
            TokenOut({"token": token, "expiry": instance.expiry}).data,
            status=status.HTTP_201_CREATED,
        )


class TokenRevokeView(APIView):
    """Revoke the token this request authenticates with."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={204: None}, operation_id="auth_token_revoke")
    def post(self, request: Any) -> Response:
        request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenRevokeAllView(TokenChallengeMixin, APIView):
    """Revoke every token of the user (from a verified session or with a token)."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer("RevokedTokens", {"revoked": serializers.IntegerField()})
        },
        operation_id="auth_token_revoke_all",
    )
    def post(self, request: Any) -> Response:
        if not isinstance(request.auth, AuthToken) and not is_verified(request.user):
            return Response(
                {
                    "error": {
                        "code": "not_verified",
                        "message": VerifiedSessionStaff.message,
                        "fields": {},
                    }
                },
                status=status.HTTP_403_FORBIDDEN,
            )
        revoked, _ = AuthToken.objects.filter(user=request.user).delete()
        return Response({"revoked": revoked})
