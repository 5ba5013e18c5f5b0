"""Builders shared by the patient-form tests: a logged session with its report link token,
a sent check-in with its own link, photos made with Pillow."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.utils import timezone
from PIL import Image

from adverse_events.models import ReactionTerm
from adverse_events.services import ReactionInput
from patients.links import link_issue, link_token
from patients.models import LinkPurpose, PersonalLink
from tests.factories import PatientFactory
from tests.kit.world import default_plan, logged_session
from treatments.models import CheckIn, CheckInState, TreatmentSession


@dataclass
class Reached:
    session: TreatmentSession
    link: PersonalLink
    token: str


def session_with_link(practitioner: Any, **patient: Any) -> Reached:
    """A session logged through the real workflow, its aftercare link and that link's token."""
    clinic = practitioner.memberships.first().clinic
    default_plan(clinic)
    session = logged_session(practitioner, patient=PatientFactory(clinic=clinic, **patient))
    token = link_token(session.report_link)
    assert token
    return Reached(session, session.report_link, token)


def checkin_with_link(session: TreatmentSession) -> tuple[CheckIn, PersonalLink, str]:
    """The session's first check-in, marked sent, with its own 7-day link."""
    checkin = session.checkins.order_by("due_at").first()
    link, token = link_issue(patient=session.patient, purpose=LinkPurpose.CHECKIN)
    CheckIn.objects.filter(pk=checkin.pk).update(
        link=link, state=CheckInState.SENT, sent_at=timezone.now()
    )
    checkin.refresh_from_db()
    return checkin, link, token


def term(code: str) -> ReactionTerm:
    return ReactionTerm.objects.get(code=code)


def seoul_today():
    """Clinic A's today (Asia/Seoul), which is what the form and the service go by."""
    return timezone.localdate(timezone=ZoneInfo("Asia/Seoul"))


def reaction(code: str, **extra: Any) -> ReactionInput:
    today = seoul_today()
    values = {
        "term": term(code),
        "onset_date": today,
        "ongoing": True,
        "patient_severity": 1,
        "stopped_activities": False,
        "sought_care": False,
    }
    return ReactionInput(**(values | extra))


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), exif: bool = False) -> bytes:
    image = Image.new("RGB", size, (200, 80, 80))
    out = io.BytesIO()
    kwargs: dict[str, Any] = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "PhoneMaker"  # Make
        data[0x8825] = {1: "N", 2: (37.0, 33.0, 0.0)}  # GPSInfo
        kwargs["exif"] = data.tobytes()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def clear_rate_limits() -> None:
    cache.clear()


def days_ago(n: int):
    return seoul_today() - timedelta(days=n)
