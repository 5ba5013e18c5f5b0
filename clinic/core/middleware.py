"""Request guards that apply to every page."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, resolve_url
from django.utils import translation

SESSION_LOGIN_AT = "staff_login_at"
# The user's `session_epoch` at login; a session holding an older one has been ended.
SESSION_EPOCH = "staff_session_epoch"
SESSION_SEEN_AT = "staff_seen_at"
# A request the page makes by itself (the dashboard's htmx poll) carries this header: it is
# not someone at the keyboard, so it must not keep an unattended session alive.
POLL_HEADER = "X-Background-Poll"
# What a poll gets once the session has ended: htmx swaps it in and 286 stops the polling,
# instead of the login page landing inside the panel.
POLL_STOP_STATUS = 286


def is_background_poll(request: HttpRequest) -> bool:
    return request.headers.get(POLL_HEADER) == "1"


def signed_out_poll_response() -> HttpResponse:
    login = resolve_url(settings.LOGIN_URL)
    fragment = (
        '<p class="poll-ended" role="status"><strong>Signed out; not updating.</strong> '
        f'<a href="{login}">Sign in again</a> to see new alarms.</p>'
    )
    response = HttpResponse(fragment, status=POLL_STOP_STATUS)
    response["Cache-Control"] = "no-store"
    return response


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address in {"localhost"}


class DemoLoopbackOnlyMiddleware:
    """In DEMO_MODE, answer only requests that come from this machine.

    Settings already refuse a public ALLOWED_HOSTS and the demo server binds to loopback; this
    is the last line, should someone put a proxy in front of a demo.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.DEMO_MODE and not is_loopback(request.META.get("REMOTE_ADDR", "")):
            return HttpResponseForbidden("This is a demo; it serves this machine only.")
        return self.get_response(request)


@receiver(user_logged_in, dispatch_uid="core.stamp_staff_login")
def stamp_staff_login(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    """Start both clocks at login, so the absolute limit counts from the login itself."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SESSION_LOGIN_AT] = now
        request.session[SESSION_SEEN_AT] = now
        user = kwargs.get("user")
        request.session[SESSION_EPOCH] = getattr(user, "session_epoch", 0)


class SessionEpochMiddleware:
    """Log out a session whose user's epoch moved on since it logged in.

    Deactivation and a reset second factor raise `User.session_epoch`: every session of that
    user, on any session backend, ends on its next request. Sits after the authentication
    middleware; the user row it compares with is the one that middleware loaded.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        # Sessions from before the epoch existed carry none: they hold epoch 0.
        if (
            user is not None
            and user.is_authenticated
            and request.session.get(SESSION_EPOCH, 0) != user.session_epoch
        ):
            logout(request)
            if request.path.startswith("/api/"):
                return HttpResponse(status=401)
            if is_background_poll(request):
                return signed_out_poll_response()
            return redirect(resolve_url(settings.LOGIN_URL))
        return self.get_response(request)


class StaffSessionTimeoutMiddleware:
    """Log staff out after 15 idle minutes or 12 hours since login, whichever comes first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            session = request.session
            login_at = session.setdefault(SESSION_LOGIN_AT, now)
            seen_at = session.get(SESSION_SEEN_AT, now)
            idle = now - seen_at > settings.STAFF_IDLE_TIMEOUT.total_seconds()
            too_old = now - login_at > settings.STAFF_ABSOLUTE_TIMEOUT.total_seconds()
            if idle or too_old:
                logout(request)
                if request.path.startswith("/api/"):
                    return HttpResponse(status=401)
                if is_background_poll(request):
                    return signed_out_poll_response()
                return redirect(f"{resolve_url(settings.LOGIN_URL)}?expired=1")
            if not is_background_poll(request):
                session[SESSION_SEEN_AT] = now
        return self.get_response(request)


class StaffLanguageMiddleware:
    """A staff member's language from their profile, over the browser's (LocaleMiddleware).

    Sits after the authentication middleware. Patient pages choose their own language from the
    patient's record inside the view, so a staff member's choice never leaks into them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = getattr(request.user, "language", "") if request.user.is_authenticated else ""
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
