"""The "API tokens" page: a two-factor-verified user makes and revokes their own tokens.

A new token is shown once, on the page that made it (only its hash is stored); the list shows
each token's first characters, when it was made and when it expires."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.views.decorators.http import require_POST
from knox.models import AuthToken
from knox.settings import knox_settings

from clinic.core.access import staff_required
from clinic.core.forms import confirm_page, confirmed


def _page(request: HttpRequest, *, new_token: str = "", status: int = 200) -> HttpResponse:
    tokens = AuthToken.objects.filter(user=request.user).order_by("-created")
    return render(
        request,
        "clinic/api_tokens.html",
        {"tokens": tokens, "new_token": new_token},
        status=status,
    )


@staff_required
def tokens(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        _, token = AuthToken.objects.create(request.user, knox_settings.TOKEN_TTL)
        return _page(request, new_token=token, status=201)
    return _page(request)


@require_POST
@staff_required
def token_revoke(request: HttpRequest) -> HttpResponse:
    key = request.POST.get("token_key", "")
    mine = AuthToken.objects.filter(user=request.user, token_key=key)
    if key and not confirmed(request) and (token := mine.first()) is not None:
        return confirm_page(
            request,
            heading=gettext("Revoke token %(key)s…?") % {"key": key},
            effects=[
                gettext(
                    "Any program using the token made on %(created)s stops working at once: "
                    "its calls get 401 until it is given a new token."
                )
                % {"created": date_format(localtime(token.created), "j M Y H:i")},
            ],
            action_url=reverse("api-token-revoke-page"),
            hidden=[("token_key", key)],
            confirm_label=gettext("Yes, revoke the token"),
            back_url=reverse("api-tokens"),
            back_label=gettext("Keep the token"),
        )
    revoked, _ = mine.delete()
    if key and revoked:
        messages.success(request, f"Token {key}… revoked: it no longer works.")
    else:
        messages.error(request, "No such token of yours.")
    return redirect("api-tokens")
