"""Staff login (password + TOTP), enrolment of the authenticator app, and the liveness probe."""

from __future__ import annotations

from base64 import b32encode
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from .access import active_clinic, held_memberships, is_verified, staff_denial
from .account import (
    recovery_code_used,
    recovery_codes_issue,
    recovery_codes_left,
    security_events_recent,
)
from .forms import EnrollmentForm, ProfileForm, StaffLoginForm
from .otp import ENROLLMENT_DEVICE_NAME, has_confirmed_device, qr_svg
from .views_account import show_new_recovery_codes


class StaffLoginView(auth_views.LoginView):
    """One form: username, password and the six-digit code from the authenticator app."""

    form_class = StaffLoginForm
    template_name = "core/login.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Only a fully verified user skips the form; a password-only session (mid-enrolment)
        # may log in again.
        if is_verified(request.user):
            return HttpResponseRedirect(self.get_success_url())
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form: StaffLoginForm) -> HttpResponse:
        response = super().form_valid(form)
        # request.user is now the form's user: OTPMiddleware's is_verified() is not on it yet.
        if getattr(form.get_user(), "otp_device", None) is None:
            return _to_enrollment(self.get_success_url())
        if form.recovery_device is not None:
            remaining = recovery_code_used(user=form.get_user(), device=form.recovery_device)
            used = ngettext(
                "You logged in with a recovery code. %(count)d code is left.",
                "You logged in with a recovery code. %(count)d codes are left.",
                remaining,
            ) % {"count": remaining}
            # A safe string keeps its link through the message storage.
            messages.warning(
                self.request,
                format_html(
                    '{} <a href="{}">{}</a>',
                    used,
                    reverse("core:reenroll"),
                    _("If your phone is lost, set up your authenticator app again now."),
                ),
            )
        return response


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _to_enrollment(next_url: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{reverse('core:enrollment')}?{urlencode({'next': next_url})}")


@sensitive_post_parameters("otp_token")
@csrf_protect
@never_cache
@login_required
def enrollment(request: HttpRequest) -> HttpResponse:
    """First login: scan a QR code into an authenticator app and confirm it with a code.

    Only a user without a confirmed device gets here; one who has a device cannot add another
    with the password alone (that would make the second factor worthless).
    """
    next_url = _safe_next(request)
    if is_verified(request.user):
        return HttpResponseRedirect(next_url)
    if has_confirmed_device(request.user):
        return HttpResponseRedirect(f"{resolve_url(settings.LOGIN_URL)}?{request.GET.urlencode()}")
    # The same pending secret across reloads, so a half-finished scan still works.
    device, _created = TOTPDevice.objects.get_or_create(
        user=request.user, confirmed=False, defaults={"name": ENROLLMENT_DEVICE_NAME}
    )
    form = EnrollmentForm(request.POST or None, device=device)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=request.user, confirmed=False).delete()
        otp_login(request, device)
        # The recovery codes come with the device, shown once on the page this POST answers.
        codes = recovery_codes_issue(user=request.user)
        return show_new_recovery_codes(request, codes, next_url)
    return render(
        request,
        "core/enrollment.html",
        {
            "form": form,
            "qr_svg": qr_svg(device.config_url),
            "secret": _group(_base32(device.bin_key)),
            "next": next_url,
        },
    )


def _base32(key: bytes) -> str:
    return b32encode(key).decode().rstrip("=")


def _group(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and docker healthchecks: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


class StaffLogoutView(auth_views.LogoutView):
    """Log out (POST only), and say so on the login page it lands on."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        # The session is gone; the message travels in the messages cookie.
        messages.success(request, _("You are signed out."))
        return response


@never_cache
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """The staff member's own page: the name colleagues see, their language, their clinics.

    Open to every verified staff account, with or without a role at a clinic.
    """
    if not is_verified(request.user):
        return staff_denial(request)
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your profile is saved."))
        return HttpResponseRedirect(reverse("core:profile"))
    return render(
        request,
        "core/profile.html",
        {
            "form": form,
            "memberships": held_memberships(request.user),
            "recovery_codes_left": recovery_codes_left(request.user),
            "security_events": security_events_recent(user=request.user),
            "zone": getattr(active_clinic(request), "time_zone", settings.TIME_ZONE),
        },
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused form (stale page, cookies off) in the site's layout, with a way back."""
    return render(request, "403_csrf.html", status=403)
