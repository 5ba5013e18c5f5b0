"""The words of every message: one translatable template per message kind, rendered in the
recipient's language when the message is sent (never when it is queued).

A kind's wording is the Django template `messages/<kind>.txt` (in the `templates/` folder of
the app that sends it, e.g. `treatments/templates/messages/aftercare.txt`) with a `subject`
block and a `body` block, written with `{% translate %}` / `{% blocktranslate %}` under the
message context "patient message" (staff messages may use their own). `render_message`
renders both blocks under `translation.override(language)`; the text is plain (no HTML
escaping), trailing spaces go, and runs of blank lines become one.

Every template gets, besides what the caller passes:
- `clinic`: the clinic (name, phone);
- `emergency`: the clinic's emergency number, or "your local emergency number" in the
  message's language when the clinic has none. No number is ever written into a template or
  a translation.
- `sms`: True when the message goes by SMS (keep those short).

A per-clinic wording (a later wording editor) plugs in with `register_wording_source`: a
source is asked first for the template text of (kind, clinic, language) and the shipped
template is used when every source answers None.

Patient messages: `language=patient.language`. Staff messages (alarms, on-call alerts):
`language=clinic.staff_language`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import date, datetime

from django.conf import settings
from django.template import Context, Engine, Template
from django.template.loader import get_template
from django.template.loader_tags import BlockNode
from django.utils import translation
from django.utils.translation import pgettext

from clinic.core.models import Clinic, Language

from .outbox import Rendered

# Where a link goes in a stored copy of a message: the token is never stored.
STORED_LINK = "[personal link]"

# (kind, clinic, language) -> the template text to use instead of the shipped one, or None.
WordingSource = Callable[[str, Clinic | None, str], str | None]
_wording_sources: list[WordingSource] = []


def register_wording_source(source: WordingSource) -> None:
    """Let `source` override the shipped wording (asked first, in registration order)."""
    if source not in _wording_sources:
        _wording_sources.append(source)


def unregister_wording_source(source: WordingSource) -> None:
    if source in _wording_sources:
        _wording_sources.remove(source)


def template_name(kind: str) -> str:
    return f"messages/{kind}.txt"


def _template(kind: str, clinic: Clinic | None, language: str) -> Template:
    for source in _wording_sources:
        text = source(kind, clinic, language)
        if text is not None:
            return Engine.get_default().from_string(text)
    return get_template(template_name(kind)).template


def message_language(language: str | None) -> str:
    """A language messages can be written in; anything else falls back to the default."""
    known = {code for code, _ in settings.LANGUAGES}
    return language if language in known else settings.LANGUAGE_CODE


def emergency_words(clinic: Clinic | None) -> str:
    """The clinic's emergency number, or words for it in the active language."""
    number = (clinic.emergency_number if clinic else "").strip()
    return number or pgettext("patient message", "your local emergency number")


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def render_message(
    kind: str,
    context: dict,
    language: str | None,
    *,
    clinic: Clinic | None = None,
    sms: bool = False,
) -> tuple[str, str]:
    """(subject, body) of a message of `kind` in `language`, from its template."""
    language = message_language(language)
    with translation.override(language):
        template = _template(kind, clinic, language)
        blocks = {node.name: node for node in template.nodelist.get_nodes_by_type(BlockNode)}
        missing = {"subject", "body"} - set(blocks)
        if missing:
            raise ValueError(f"message template {str(kind)!r} lacks block(s) {sorted(missing)}")
        values = {"clinic": clinic, "emergency": emergency_words(clinic), "sms": sms, **context}
        ctx = Context(values, autoescape=False)
        with ctx.render_context.push_state(template), ctx.bind_template(template):
            subject = blocks["subject"].render(ctx)
            body = blocks["body"].render(ctx)
    return " ".join(subject.split()), _tidy(body)


def render_with_link(
    kind: str,
    context: dict,
    language: str | None,
    *,
    clinic: Clinic | None,
    url: str,
    sms: bool = False,
) -> Rendered:
    """Render a message that carries a personal link (template variable `link`): the body to
    send holds the link, the copy to store holds "[personal link]" in its place."""
    # A marker no patient-typed text can contain, replaced after rendering.
    marker = f"@@link-{secrets.token_hex(8)}@@"
    subject, body = render_message(
        kind, {**context, "link": marker}, language, clinic=clinic, sms=sms
    )
    return Rendered(
        subject=subject,
        body=body.replace(marker, url),
        stored_body=body.replace(marker, STORED_LINK),
    )


# --- dates and times in the clinic's zone, as each language writes them ------------------------

_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_EN_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_KO_DAYS = "월화수목금토일"


def format_datetime(moment: datetime, *, clinic: Clinic, language: str | None) -> str:
    """A moment as the clinic's wall clock shows it: "Thursday 3 December 2026 at 14:30",
    "2026년 12월 3일 (목) 오후 2:30"."""
    local = clinic.local(moment)
    if message_language(language) == Language.KO:
        half = "오전" if local.hour < 12 else "오후"
        hour = local.hour % 12 or 12
        day = format_date(local.date(), language=language)
        return f"{day} ({_KO_DAYS[local.weekday()]}) {half} {hour}:{local.minute:02d}"
    return (
        f"{_EN_DAYS[local.weekday()]} {format_date(local.date(), language=language)} "
        f"at {local:%H:%M}"
    )


def format_date(day: date | datetime, *, language: str | None, clinic: Clinic | None = None) -> str:
    """A date (a moment's date at `clinic`): "3 December 2026", "2026년 12월 3일"."""
    if isinstance(day, datetime):
        day = clinic.local(day).date() if clinic is not None else day.date()
    if message_language(language) == Language.KO:
        return f"{day.year}년 {day.month}월 {day.day}일"
    return f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year}"
