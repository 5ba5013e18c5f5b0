"""The second factor: the one confirmed authenticator-app (TOTP) device each staff member has.

django-otp stores the devices; this module holds the few questions the rest of the app asks of
them, so views, the admin login and the test kit agree on what "has a second factor" means.
"""

from __future__ import annotations

import time
from base64 import b32encode
from typing import Any

import qrcode
import qrcode.image.svg
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from qrcode.constants import ERROR_CORRECT_M

ENROLLMENT_DEVICE_NAME = "Authenticator app"


def confirmed_totp_device(user: Any) -> TOTPDevice | None:
    """The user's confirmed TOTP device, or None if they have not enrolled one yet."""
    if user is None or not getattr(user, "pk", None):
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def has_confirmed_device(user: Any) -> bool:
    return confirmed_totp_device(user) is not None


def totp_token(device: TOTPDevice, *, at: float | None = None) -> str:
    """The six-digit code the device's authenticator app shows at time `at` (default: now)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() if at is None else at
    return f"{totp.token():0{device.digits}d}"


def qr_svg(text: str) -> str:
    """An SVG QR code for `text`: a single path with presentation attributes only.

    No `style` attribute or `<style>` element, so it renders under a CSP without
    'unsafe-inline'.
    """
    image = qrcode.make(
        text,
        image_factory=qrcode.image.svg.SvgPathImage,
        box_size=10,
        border=4,
        error_correction=ERROR_CORRECT_M,
    )
    svg = image.to_string(encoding="unicode")
    # Let CSS size it: the fixed millimetre size does not suit small phones.
    return svg.replace("<svg ", '<svg role="img" aria-label="QR code" class="qr" ', 1)


def display_secret(device: TOTPDevice) -> str:
    """The device's secret in base32, in groups of four, for typing into an app by hand."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
