"""Logging staff in with both factors, for the Django test client and for Playwright.

- `login_staff(client, user)`: the real login POST (password + a fresh TOTP code). Use it
  where the login itself matters.
- `login_verified(client, user)`: the fast path: `force_login` plus the session marker that
  django-otp's OTPMiddleware reads, the same state a real login leaves. Use it everywhere else.
- `playwright_login(page, base_url, user)`: fills the real form in the browser.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.core.otp import confirmed_totp_device, totp_token

if TYPE_CHECKING:
    from django.http import HttpResponse

# Passes the project's validators (12+ characters, not common, not like the username).
PASSWORD = "Amber-Lantern-Quiet-Harbor-41"


def device_of(user: Any) -> TOTPDevice:
    device = confirmed_totp_device(user)
    assert device is not None, f"{user} has no confirmed TOTP device"
    return device


def totp_code(user_or_device: Any) -> str:
    """A code the user's device will accept now.

    django-otp refuses a code from a time step already used (replay protection), and tests log
    in faster than once per 30 s; the verifier accepts one step of drift, so take the next
    step when the current one is spent.
    """
    device = user_or_device if isinstance(user_or_device, TOTPDevice) else device_of(user_or_device)
    device.refresh_from_db()
    now = time.time()
    current_t = int(now - device.t0) // device.step
    if device.last_t >= current_t + 1:
        raise AssertionError("TOTP codes for this step and the next are spent; wait 30 s.")
    at = now if device.last_t < current_t else now + device.step
    return totp_token(device, at=at)


def login_staff(
    client: Client, user: Any, *, password: str = PASSWORD, code: str | None = None
) -> HttpResponse:
    """POST the real login form. Returns the response (302 on success)."""
    return client.post(
        reverse("core:login"),
        {
            "username": user.get_username(),
            "password": password,
            "otp_token": totp_code(user) if code is None else code,
        },
    )


def login_verified(client: Client, user: Any) -> Client:
    """Fast path: log `user` in with a verified second factor, without the form."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device_of(user).persistent_id
    session.save()
    return client


def playwright_login(page: Any, base_url: str, user: Any, *, password: str = PASSWORD) -> None:
    """Log in through the real form in the browser; waits until the login page is left."""
    page.goto(f"{base_url}{reverse('core:login')}")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password)
    page.get_by_label("Six-digit code").fill(totp_code(user))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: reverse("core:login") not in url)
