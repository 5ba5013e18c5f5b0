"""Writes of the ground floor: staff accounts with their roles and second factor."""

from __future__ import annotations

import binascii
from collections.abc import Sequence

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Clinic, Membership, User
from .otp import ENROLLMENT_DEVICE_NAME


@transaction.atomic
def staff_create(
    *,
    username: str,
    password: str,
    clinic_roles: Sequence[tuple[Clinic, str]],
    totp_key_hex: str | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_superuser: bool = False,
) -> User:
    """Create a staff member, their clinic memberships and a confirmed TOTP device.

    `totp_key_hex` fixes the authenticator secret (demo accounts, so `demo_totp` and a printed
    QR code agree across re-seeding); None draws a random one. The password must pass the
    project's validators. A superuser is also `is_staff`, so can use the admin with the code.
    """
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=is_superuser,
        is_superuser=is_superuser,
    )
    validate_password(password, user)
    user.set_password(password)
    user.full_clean()
    user.save()
    for clinic, role in clinic_roles:
        membership = Membership(user=user, clinic=clinic, role=role)
        membership.full_clean()
        membership.save()
    device = TOTPDevice(user=user, name=ENROLLMENT_DEVICE_NAME, confirmed=True)
    if totp_key_hex is not None:
        try:
            if len(binascii.unhexlify(totp_key_hex)) < 10:
                raise ValueError
        except (binascii.Error, ValueError) as exc:
            raise ValidationError(
                {"totp_key_hex": "Give at least 20 hex characters (10 bytes) for the secret."}
            ) from exc
        device.key = totp_key_hex.lower()
    device.full_clean()
    device.save()
    return user
