"""Writes of a staff member's own login: the audit row, recovery codes, a new authenticator.

Views and forms call these; each writes its rows in one transaction and records a
`SecurityEvent` (never a secret, never an address).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import RecoveryCode, RecoveryCodeDevice, SecurityEvent, SecurityEventKind, User
from .otp import ENROLLMENT_DEVICE_NAME
from .recovery import CODES_PER_SET, hash_recovery_code, new_recovery_code

RECOVERY_DEVICE_NAME = "Recovery codes"


def security_event_record(*, user: User, kind: str, detail: str = "") -> SecurityEvent:
    event = SecurityEvent(user=user, kind=kind, detail=detail)
    event.full_clean()
    event.save()
    return event


def security_events_recent(*, user: Any, limit: int = 10) -> list[SecurityEvent]:
    """The user's own latest security events, for their profile (one query)."""
    return list(SecurityEvent.objects.filter(user=user).order_by("-at", "-pk")[:limit])


def recovery_device_of(user: Any) -> RecoveryCodeDevice | None:
    if user is None or not getattr(user, "pk", None):
        return None
    return RecoveryCodeDevice.objects.filter(user=user, confirmed=True).first()


def recovery_codes_left(user: Any) -> int | None:
    """How many unused recovery codes the user has; None when they never had any."""
    device = recovery_device_of(user)
    return None if device is None else device.remaining()


@transaction.atomic
def recovery_codes_issue(*, user: User) -> list[str]:
    """Draw a new set of codes for `user`, ending every code of the old set.

    Returns the codes in plain text: the caller shows them once; only hashes are stored.
    The device row is kept, so a session verified with a recovery code stays verified.
    """
    device, _created = RecoveryCodeDevice.objects.select_for_update().get_or_create(
        user=user, defaults={"name": RECOVERY_DEVICE_NAME, "confirmed": True}
    )
    device.codes.all().delete()
    codes = [new_recovery_code() for _ in range(CODES_PER_SET)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(device=device, hashed=hash_recovery_code(code)) for code in codes
    )
    security_event_record(
        user=user, kind=SecurityEventKind.RECOVERY_CODES_ISSUED, detail=f"{len(codes)} codes"
    )
    return codes


def recovery_code_used(*, user: User, device: RecoveryCodeDevice) -> int:
    """Record a login with a recovery code; returns how many codes remain."""
    remaining = device.remaining()
    security_event_record(
        user=user,
        kind=SecurityEventKind.RECOVERY_CODE_USED,
        detail=f"{remaining} recovery codes left",
    )
    return remaining


def pending_totp_device(*, user: User) -> TOTPDevice:
    """The user's unconfirmed authenticator (the same secret across reloads of the QR page)."""
    device, _created = TOTPDevice.objects.get_or_create(
        user=user, confirmed=False, defaults={"name": ENROLLMENT_DEVICE_NAME}
    )
    return device


@transaction.atomic
def authenticator_replace(*, user: User, new_device: TOTPDevice) -> TOTPDevice:
    """Confirm `new_device` and remove the old authenticator: the old phone stops working."""
    TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=new_device.pk).delete()
    new_device.confirmed = True
    new_device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    security_event_record(user=user, kind=SecurityEventKind.AUTHENTICATOR_REPLACED)
    return new_device
