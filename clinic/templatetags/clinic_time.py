"""`age`: how long ago something happened, in the words the triage queue uses."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def age(moment: datetime | None, now: datetime | None = None) -> str:
    """ "just now", "12 min ago", "2 h 5 min ago", "3 days ago" (whole units, rounded down)."""
    if moment is None:
        return ""
    seconds = max(0, int(((now or timezone.now()) - moment).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 1:
        return "just now"
    if hours < 1:
        return f"{minutes} min ago"
    if days < 1:
        rest = minutes - hours * 60
        return f"{hours} h {rest} min ago" if rest else f"{hours} h ago"
    return "1 day ago" if days == 1 else f"{days} days ago"
