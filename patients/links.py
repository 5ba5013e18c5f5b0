"""Personal links: a patient's way in, without an account.

The database keeps only the SHA-256 of each token. The token itself is derived from the link's
uuid with an HMAC keyed by SECRET_KEY, so the app can print the same link again (the aftercare
sheet's QR code and the aftercare email carry one link) without storing anything secret: a
copy of the database alone cannot produce a working link. Resolving a token that is unknown,
expired or revoked gives None, and the pages show the same neutral answer for all three.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
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
    link_uuid = uuid.uuid4()
    token = _derive_token(link_uuid)
    now = timezone.now()
    link = PersonalLink(
        uuid=link_uuid,
        patient=patient,
        purpose=purpose,
        token_hash=PersonalLink.hash_token(token),
        expires_at=now + LIFETIME[purpose],
    )
    link.save()
    if replaces is not None and replaces.revoked_at is None:
        PersonalLink.objects.filter(pk=replaces.pk).update(revoked_at=now)
    return link, token


def _derive_token(link_uuid: uuid.UUID) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"personal-link:{link_uuid}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def link_token(link: PersonalLink) -> str | None:
    """The plain token of a live link (to print or send it again), or None if the link is
    dead or was made under another SECRET_KEY."""
    if not link.is_live:
        return None
    token = _derive_token(link.uuid)
    return token if hmac.compare_digest(PersonalLink.hash_token(token), link.token_hash) else None


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
