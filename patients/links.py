"""Personal links: a patient's way in, without an account.

The plain token exists only in the message or QR code that carries it; the database keeps its
SHA-256. Resolving a token that is unknown, expired or revoked gives None, and the pages show
the same neutral answer for all three.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import LinkPurpose, Patient, PersonalLink

LIFETIME = {
    LinkPurpose.SESSION_REPORT: timedelta(days=120),
    LinkPurpose.CHECKIN: timedelta(days=7),
    LinkPurpose.RECALL: timedelta(days=60),
}


def link_issue(
    *, patient: Patient, purpose: str, replaces: PersonalLink | None = None
) -> tuple[PersonalLink, str]:
    """Create a link and return it with its plain token; revoke the link it replaces."""
    token = PersonalLink.new_token()
    now = timezone.now()
    link = PersonalLink(
        patient=patient,
        purpose=purpose,
        token_hash=PersonalLink.hash_token(token),
        expires_at=now + LIFETIME[purpose],
    )
    link.save()
    if replaces is not None and replaces.revoked_at is None:
        PersonalLink.objects.filter(pk=replaces.pk).update(revoked_at=now)
    return link, token


def link_revoke(*, link: PersonalLink) -> None:
    PersonalLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def link_resolve(token: str) -> PersonalLink | None:
    """The live link for a token, or None (unknown, expired and revoked look the same)."""
    if not token or len(token) > 100:
        return None
    return (
        PersonalLink.objects.live()
        .select_related("patient", "patient__clinic")
        .filter(token_hash=PersonalLink.hash_token(token))
        .first()
    )


def link_url(token: str) -> str:
    """The address printed or sent to the patient (the form swaps it for a session)."""
    return f"{settings.SITE_URL.rstrip('/')}/r/{token}/"
