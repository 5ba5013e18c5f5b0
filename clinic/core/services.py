"""Writes of the ground floor: staff accounts with their roles and second factor, and the
staff lifecycle a clinic manager runs (invitations, roles, deactivation, second-factor reset),
each change written to the staff audit."""

from __future__ import annotations

import binascii
import hashlib
import secrets
from collections.abc import Iterable, Sequence

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from .exceptions import RuleViolation
from .models import (
    INVITATION_VALID_FOR,
    Clinic,
    Invitation,
    Membership,
    Role,
    StaffAction,
    StaffAuditEvent,
    User,
)
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


# --- staff lifecycle (a clinic manager's writes; each one audited) ---------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _audit(
    *,
    clinic: Clinic,
    actor: User | None,
    action: str,
    subject: User | None = None,
    subject_name: str = "",
    detail: str = "",
) -> StaffAuditEvent:
    event = StaffAuditEvent(
        clinic=clinic,
        actor=actor,
        subject=subject,
        subject_name=subject_name or (subject.display_name if subject else ""),
        action=action,
        detail=detail,
    )
    event.full_clean()
    event.save()
    return event


def _valid_roles(roles: Iterable[str]) -> list[str]:
    chosen = sorted({str(r) for r in roles})
    unknown = [r for r in chosen if r not in Role.values]
    if unknown:
        raise ValidationError({"roles": f"Unknown role: {', '.join(unknown)}."})
    if not chosen:
        raise ValidationError(
            {"roles": "Choose at least one role. To end someone's access, deactivate them."}
        )
    return chosen


def _role_labels(roles: Iterable[str]) -> str:
    return ", ".join(str(Role(r).label) for r in sorted(roles))


@transaction.atomic
def invitation_create(
    *,
    clinic: Clinic,
    invited_by: User,
    first_name: str,
    last_name: str = "",
    email: str,
    roles: Iterable[str],
    username: str = "",
) -> tuple[Invitation, str]:
    """Invite someone to `clinic` with `roles`; returns the invitation and its one-time token.

    Only the token's SHA-256 is stored: the token travels in the email alone (see
    `invitation_send`). The link works once, for INVITATION_VALID_FOR.
    """
    chosen = _valid_roles(roles)
    if username and User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "This username is taken; choose another."})
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        clinic=clinic,
        invited_by=invited_by,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip(),
        username=username.strip(),
        roles=chosen,
        token_hash=_token_hash(token),
        expires_at=timezone.now() + INVITATION_VALID_FOR,
    )
    invitation.full_clean()
    invitation.save()
    _audit(
        clinic=clinic,
        actor=invited_by,
        action=StaffAction.INVITED,
        subject_name=invitation.display_name,
        detail=_role_labels(chosen),
    )
    return invitation, token


def invitation_send(*, invitation: Invitation, token: str, link: str) -> None:
    """Email the invitation link (Django's mail: the demo writes it to a file)."""
    context = {"invitation": invitation, "link": link, "valid_hours": 72}
    send_mail(
        subject=render_to_string("core/email/invitation_subject.txt", context).strip(),
        message=render_to_string("core/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a link's token belongs to (used, expired or not), or None."""
    return (
        Invitation.objects.select_related("clinic")
        .filter(token_hash=_token_hash(token or ""))
        .first()
    )


@transaction.atomic
def invitation_accept(*, invitation: Invitation, username: str, password: str) -> User:
    """Make the invitee's account with the invited roles; the link is spent in the same step.

    The account has no second factor yet: the first page they reach is enrolment. A second
    use of the link, even at the same instant, changes nothing (a conditional UPDATE claims it).
    """
    username = (invitation.username or username).strip()
    user = User(
        username=username,
        email=invitation.email,
        first_name=invitation.first_name,
        last_name=invitation.last_name,
    )
    validate_password(password, user)
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "This username is taken; choose another."})
    now = timezone.now()
    claimed = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    ).update(accepted_at=now)
    if claimed != 1:
        raise RuleViolation("This invitation was already used or has expired.")
    user.set_password(password)
    user.full_clean()
    user.save()
    for role in invitation.roles:
        Membership.objects.create(user=user, clinic=invitation.clinic, role=role)
    Invitation.objects.filter(pk=invitation.pk).update(user=user)
    _audit(
        clinic=invitation.clinic,
        actor=user,
        action=StaffAction.INVITATION_ACCEPTED,
        subject=user,
        detail=_role_labels(invitation.roles),
    )
    return user


@transaction.atomic
def invitation_withdraw(*, invitation: Invitation, actor: User) -> None:
    """Withdraw an invitation that has not been used: its link stops working."""
    updated = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if updated:
        _audit(
            clinic=invitation.clinic,
            actor=actor,
            action=StaffAction.INVITATION_WITHDRAWN,
            subject_name=invitation.display_name,
        )


@transaction.atomic
def staff_roles_set(*, clinic: Clinic, user: User, roles: Iterable[str], actor: User) -> None:
    """Give `user` exactly `roles` at `clinic`; they apply from the user's next request.

    A removed role's row stays, inactive (the audit says who removed it and when). A manager
    cannot take the manager role from themselves: another manager must.
    """
    chosen = set(_valid_roles(roles))
    rows = {
        m.role: m for m in Membership.objects.select_for_update().filter(user=user, clinic=clinic)
    }
    held = {role for role, m in rows.items() if m.active}
    if user.pk == actor.pk and Role.MANAGER in held and Role.MANAGER not in chosen:
        raise ValidationError(
            {"roles": "You cannot remove your own manager role; ask another manager."}
        )
    for role in sorted(chosen - held):
        if role in rows:
            Membership.objects.filter(pk=rows[role].pk).update(active=True)
        else:
            Membership.objects.create(user=user, clinic=clinic, role=role)
        _audit(clinic=clinic, actor=actor, action=StaffAction.ROLE_ADDED, subject=user,
               detail=str(Role(role).label))  # fmt: skip
    for role in sorted(held - chosen):
        Membership.objects.filter(pk=rows[role].pk).update(active=False)
        _audit(clinic=clinic, actor=actor, action=StaffAction.ROLE_REMOVED, subject=user,
               detail=str(Role(role).label))  # fmt: skip


def _end_sessions_and_tokens(user: User) -> None:
    """Every session of `user` ends on its next request (the epoch), every API token now."""
    from knox.models import AuthToken

    User.objects.filter(pk=user.pk).update(session_epoch=F("session_epoch") + 1)
    AuthToken.objects.filter(user=user).delete()
    user.refresh_from_db(fields=["session_epoch"])


@transaction.atomic
def staff_deactivate(*, clinic: Clinic, user: User, actor: User) -> None:
    """End `user`'s access: no login, every session and API token ends at once.

    Their records, memberships and history stay; `staff_reactivate` undoes it.
    """
    if user.pk == actor.pk:
        raise ValidationError({"confirm": "You cannot deactivate yourself."})
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.is_active = False
    _end_sessions_and_tokens(user)
    _audit(clinic=clinic, actor=actor, action=StaffAction.DEACTIVATED, subject=user)


@transaction.atomic
def staff_reactivate(*, clinic: Clinic, user: User, actor: User) -> None:
    """Let a deactivated user log in again, with the roles they held."""
    User.objects.filter(pk=user.pk).update(is_active=True)
    user.is_active = True
    _audit(clinic=clinic, actor=actor, action=StaffAction.REACTIVATED, subject=user)


@transaction.atomic
def staff_second_factor_reset(*, clinic: Clinic, user: User, actor: User) -> None:
    """Forget `user`'s authenticator app: they enrol a new one at their next login.

    Their sessions end (the epoch): a session verified with the old app must not live on.
    """
    TOTPDevice.objects.filter(user=user).delete()
    _end_sessions_and_tokens(user)
    _audit(clinic=clinic, actor=actor, action=StaffAction.SECOND_FACTOR_RESET, subject=user)
