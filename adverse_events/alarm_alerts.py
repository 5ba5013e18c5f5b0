"""The on-call message of a red-flag alarm, in the clinic's staff language.

What it says is deliberately narrow: which clinic, which red-flag reaction(s), the severity
the patient gave, when (clinic time) and the staff link. Never the patient's name, date of
birth or their own words: the on-call address may be a shared inbox or a pager.

Rendered when queued, under `translation.override(clinic.staff_language)`; the text is a
template plus gettext, so it can move onto the shared message-template mechanism later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from clinic.core.models import Clinic

from .models import ReactionTerm

# The patient's own rating, in the staff language (one word each).
SEVERITY_WORDS = {1: _("mild"), 2: _("moderate"), 3: _("severe")}
# The app's one date-and-time format; Korean readers get the same fields in Korean order.
TIME_FORMATS = {"en": "D j M Y, H:i", "ko": "Y년 n월 j일 (D) H:i"}


@dataclass(frozen=True)
class AlertText:
    subject: str
    body: str


def term_label(term: ReactionTerm, language: str) -> str:
    """A reaction's name for staff: the clinical name, or the Korean plain words in Korean."""
    return term.patient_label_ko if language == "ko" and term.patient_label_ko else term.name


def alarm_alert_text(
    *,
    clinic: Clinic,
    terms: Sequence[ReactionTerm],
    severity: int,
    reported_at: datetime,
    link: str,
    follow_up: bool,
) -> AlertText:
    """Subject and body of one on-call message (`follow_up`: the alarm was already open)."""
    language = clinic.staff_language or "en"
    with translation.override(language), clinic.activate():
        context = {
            "clinic": clinic.name,
            "reactions": ", ".join(term_label(t, language) for t in terms),
            "severity": str(SEVERITY_WORDS.get(severity, severity)),
            "reported_at": timezone.localtime(reported_at),
            "time_format": TIME_FORMATS.get(language, TIME_FORMATS["en"]),
            "time_zone": clinic.time_zone,
            "link": link,
            "follow_up": follow_up,
        }
        subject = render_to_string("adverse_events/alerts/red_flag_subject.txt", context)
        body = render_to_string("adverse_events/alerts/red_flag_body.txt", context)
    return AlertText(subject=" ".join(subject.split()), body=body.strip() + "\n")
