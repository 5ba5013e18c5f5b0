"""A staff member's own login: password change and reset, recovery codes, a new phone.

Every page here but the password reset needs a verified session (both factors); none needs a
role at a clinic, like the profile page they are opened from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_ratelimit.core import is_ratelimited

from .access import SESSION_ACTIVE_CLINIC, held_clinics, is_verified, staff_denial, staff_required
from .account import (
    authenticator_replace,
    pending_totp_device,
    recovery_codes_issue,
    security_event_record,
)
from .forms import EnrollmentForm
from .forms_account import (
    AccountPasswordChangeForm,
    AccountPasswordResetForm,
    AccountSetPasswordForm,
    ReauthForm,
)
from .models import ALL_ROLES, SecurityEventKind
from .otp import display_secret, qr_svg

# Proving it is you opens the "new authenticator" page for this long.
SESSION_REAUTH_AT = "account_reauth_at"
REAUTH_SECONDS = 10 * 60
# The reset form is rate limited per address and per email typed (the same for an unknown
# address, so the limit tells nothing about which accounts exist).
DEFAULT_RESET_RATES = {"ip": "10/h", "email": "5/h"}


def verified_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Both factors in this session; no clinic role needed (like the profile page)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_verified(request.user):
            return staff_denial(request)  # type: ignore[return-value]
        return view(request, *args, **kwargs)

    return wrapper


# Proving it is you again (password change, new codes, a new phone) from a logged-in session:
# a stolen session must not be able to guess the password without limit.
DEFAULT_REAUTH_RATE = "10/h"


def reauth_limited(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """At most `ACCOUNT_REAUTH_RATE` POSTs an hour per user to the pages that ask for the
    password again; then a 429 page that says so."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST" and is_ratelimited(
            request,
            group="account-reauth",
            key="user",
            rate=getattr(settings, "ACCOUNT_REAUTH_RATE", DEFAULT_REAUTH_RATE),
            method=["POST"],
            increment=True,
        ):
            return render(request, "core/too_many_attempts.html", status=429)
        return view(request, *args, **kwargs)

    return wrapper


# --- password change -------------------------------------------------------------------------


class PasswordChangeView(auth_views.PasswordChangeView):
    """Current password and the new one twice. Django's session hash then ends every other
    session of the user on its next request; `update_session_auth_hash` keeps this one."""

    form_class = AccountPasswordChangeForm
    template_name = "core/password_change.html"
    success_url = reverse_lazy("core:profile")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_verified(request.user):
            return staff_denial(request)  # type: ignore[return-value]
        return reauth_limited(super().dispatch)(request, *args, **kwargs)

    def form_valid(self, form: AccountPasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        security_event_record(user=form.user, kind=SecurityEventKind.PASSWORD_CHANGED)
        messages.success(
            self.request,
            _("Your password is changed. You were logged out everywhere else."),
        )
        return response


# --- password reset by email -------------------------------------------------------------------


def _client_address(request: HttpRequest) -> str:
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def _reset_email_key(group: str, request: HttpRequest) -> str:
    return (request.POST.get("email") or "").strip().lower()


class PasswordResetView(auth_views.PasswordResetView):
    """Ask for a reset link. Known address or not, the same page follows."""

    form_class = AccountPasswordResetForm
    template_name = "core/password_reset_form.html"
    email_template_name = "core/password_reset_email.txt"
    subject_template_name = "core/password_reset_subject.txt"
    success_url = reverse_lazy("core:password_reset_done")

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        rates = {**DEFAULT_RESET_RATES, **getattr(settings, "PASSWORD_RESET_RATE_LIMITS", {})}
        # Both counters count every attempt, so neither is skipped when the other trips.
        limited = [
            is_ratelimited(
                request,
                group="password-reset-ip",
                key=lambda g, r: _client_address(r),
                rate=rates["ip"],
                method=["POST"],
                increment=True,
            ),
            is_ratelimited(
                request,
                group="password-reset-email",
                key=_reset_email_key,
                rate=rates["email"],
                method=["POST"],
                increment=True,
            ),
        ]
        if any(limited):
            return render(request, "core/password_reset_limited.html", status=429)
        return super().post(request, *args, **kwargs)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "core/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The emailed link: set a new password. It logs no one in: the next login still asks
    for the authenticator code (or a recovery code)."""

    form_class = AccountSetPasswordForm
    template_name = "core/password_reset_confirm.html"
    success_url = reverse_lazy("core:password_reset_complete")
    post_reset_login = False

    def form_valid(self, form: AccountSetPasswordForm) -> HttpResponse:
        response = super().form_valid(form)
        security_event_record(user=form.user, kind=SecurityEventKind.PASSWORD_RESET)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "core/password_reset_complete.html"


# --- recovery codes --------------------------------------------------------------------------


def show_new_recovery_codes(request: HttpRequest, codes: list[str], next_url: str) -> HttpResponse:
    """The one time the codes are shown: answered to the POST that made them, never stored."""
    response = render(request, "core/recovery_codes_new.html", {"codes": codes, "next": next_url})
    response["Cache-Control"] = "no-store"
    return response


@sensitive_post_parameters("password", "otp_token")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
@verified_required
@reauth_limited
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes, after the password and a current code; the old ones stop working."""
    form = ReauthForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        codes = recovery_codes_issue(user=request.user)
        return show_new_recovery_codes(request, codes, reverse("core:profile"))
    return render(request, "core/recovery_codes.html", {"form": form})


# --- a new authenticator app -------------------------------------------------------------------


@sensitive_post_parameters("password", "otp_token")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
@verified_required
@reauth_limited
def reenroll(request: HttpRequest) -> HttpResponse:
    """Step 1 of a new phone: prove it is you (password, and a code or a recovery code)."""
    form = ReauthForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        request.session[SESSION_REAUTH_AT] = time.time()
        if form.used_recovery_code:
            messages.warning(request, _("That recovery code is now used up."))
        return HttpResponseRedirect(reverse("core:reenroll_confirm"))
    return render(request, "core/reenroll.html", {"form": form})


@sensitive_post_parameters("otp_token")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
@verified_required
def reenroll_confirm(request: HttpRequest) -> HttpResponse:
    """Step 2: scan the new QR code and confirm with its code. Until then the old app works."""
    proved_at = request.session.get(SESSION_REAUTH_AT) or 0
    if time.time() - proved_at > REAUTH_SECONDS:
        return HttpResponseRedirect(reverse("core:reenroll"))
    device = pending_totp_device(user=request.user)
    form = EnrollmentForm(request.POST or None, device=device)
    if request.method == "POST" and form.is_valid():
        authenticator_replace(user=request.user, new_device=device)
        request.session.pop(SESSION_REAUTH_AT, None)
        otp_login(request, device)
        messages.success(
            request, _("Your new authenticator app is set up. The old one no longer works.")
        )
        return HttpResponseRedirect(reverse("core:profile"))
    return render(
        request,
        "core/reenroll_confirm.html",
        {"form": form, "qr_svg": qr_svg(device.config_url), "secret": display_secret(device)},
    )


# --- the active clinic ------------------------------------------------------------------------


@require_POST
@staff_required(roles=ALL_ROLES)
def active_clinic_choose(request: HttpRequest) -> HttpResponse:
    """The header's clinic picker: remember the clinic in the session, back to the same page.
    Only a clinic where the user holds an active membership is accepted."""
    chosen = request.POST.get("clinic", "")
    clinic = next((c for c in held_clinics(request) if str(c.uuid) == chosen), None)
    if clinic is None:
        messages.error(request, _("Choose one of your clinics in the Clinic list."))
    else:
        request.session[SESSION_ACTIVE_CLINIC] = str(clinic.uuid)
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = resolve_url(settings.LOGIN_REDIRECT_URL)
    return HttpResponseRedirect(target)
