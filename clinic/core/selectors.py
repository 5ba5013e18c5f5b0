"""Reads of the ground floor: a clinic's staff, its invitations and its staff audit.

The views get the clinic through `visible_or_404(Clinic, ..., roles=MANAGER_ONLY)` first;
everything here is then narrowed to that one clinic.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Clinic, Invitation, Membership, StaffAuditEvent, User

STAFF_PAGE_SIZE = 50
# Invitations stay on the staff list this long after they were sent (then the audit has them).
INVITATIONS_SHOWN_FOR = timedelta(days=14)


@dataclass
class StaffPage:
    rows: list[User]
    next_after: str | None  # the last row's uuid when there is a next page


def _staff_of(clinic: Clinic) -> QuerySet[User]:
    """Everyone who ever held a role at `clinic` (a deactivated colleague stays listed),
    with their roles here (`roles_here`) and whether their second factor is enrolled."""
    return (
        User.objects.filter(pk__in=Membership.objects.filter(clinic=clinic).values("user_id"))
        .annotate(
            second_factor=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
        )
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=Membership.objects.filter(clinic=clinic, active=True).order_by("role"),
                to_attr="roles_here",
            )
        )
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def staff_page(
    *, clinic: Clinic, after: str | None = None, size: int = STAFF_PAGE_SIZE
) -> StaffPage:
    """A page of the clinic's staff by name (keyset: the page after the user `after`)."""
    staff = _staff_of(clinic).order_by("first_name", "last_name", "pk")
    anchor = None
    if after and _is_uuid(after):
        anchor = User.objects.filter(uuid=after).values("first_name", "last_name", "pk").first()
    if anchor:
        first, last, pk = anchor["first_name"], anchor["last_name"], anchor["pk"]
        staff = staff.filter(
            Q(first_name__gt=first)
            | Q(first_name=first, last_name__gt=last)
            | Q(first_name=first, last_name=last, pk__gt=pk)
        )
    rows = list(staff[: size + 1])
    next_after = str(rows[size - 1].uuid) if len(rows) > size else None
    return StaffPage(rows=rows[:size], next_after=next_after)


def staff_member_or_404(*, clinic: Clinic, user_uuid: Any) -> User:
    """The staff member of `clinic` a URL names (a colleague of another clinic is a 404)."""
    member = _staff_of(clinic).filter(uuid=user_uuid).first()
    if member is None:
        raise Http404("No such staff member at this clinic.")
    return member


def invitations_open(*, clinic: Clinic) -> QuerySet[Invitation]:
    """Invitations not used nor withdrawn, sent recently (expired ones show as expired)."""
    return (
        Invitation.objects.filter(
            clinic=clinic,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            created_at__gte=timezone.now() - INVITATIONS_SHOWN_FOR,
        )
        .select_related("invited_by")
        .order_by("-created_at")
    )


def staff_audit(*, clinic: Clinic, subject: User | None = None, limit: int = 30) -> list[Any]:
    """The latest staff changes at `clinic` (of one person when `subject` is given)."""
    events = StaffAuditEvent.objects.filter(clinic=clinic).select_related("actor", "subject")
    if subject is not None:
        events = events.filter(subject=subject)
    return list(events.order_by("-created_at", "-pk")[:limit])


@dataclass
class StaffCounts:
    active: int
    deactivated: int
    invited: int
    without_second_factor: int


def staff_counts(*, clinic: Clinic) -> StaffCounts:
    """The dashboard's staff panel: how many colleagues are active, deactivated, invited, and
    how many active ones have not set up their authenticator app yet."""
    counts = _staff_of(clinic).aggregate(
        active=Count("pk", filter=Q(is_active=True)),
        deactivated=Count("pk", filter=Q(is_active=False)),
        without_second_factor=Count("pk", filter=Q(is_active=True, second_factor=False)),
    )
    invited = invitations_open(clinic=clinic).filter(expires_at__gt=timezone.now()).count()
    return StaffCounts(invited=invited, **counts)


def staff_with_role(*, clinics: Any, roles: Iterable[str]) -> QuerySet[User]:
    """The people a staff picker offers: active staff holding one of `roles` (an active
    membership) at `clinics` (a clinic, a queryset of clinics or of their ids), by name.

    A superuser without a membership (`admin`) and holders of other roles (the safety lead in
    a practitioner picker) are never offered."""
    if isinstance(clinics, Clinic):
        clinics = [clinics.pk]
    memberships = Membership.objects.active().filter(clinic__in=clinics, role__in=list(roles))
    return User.objects.filter(pk__in=memberships.values("user_id")).order_by(
        "last_name", "first_name", "username"
    )
