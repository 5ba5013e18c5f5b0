"""`{% link_to "purpose" args %}`: a lower floor's template linking a higher floor's page
(clinic/core/links.py)."""

from __future__ import annotations

from typing import Any

from django import template

from clinic.core import links

register = template.Library()


@register.simple_tag
def link_to(purpose: str, *args: Any, **kwargs: Any) -> str:
    return links.url_for(purpose, *args, **kwargs)
