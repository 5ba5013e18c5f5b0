"""Links from a lower floor's page to a page of a higher floor, without naming it.

A lower app never reverses a higher app's URL name (tests/test_floors.py): a name is an import by
another name. When a lower page or message must point upward (a patient's page offers "Book a
series"; an on-call alert links the triage page), it asks for the link by purpose, and the floor
that owns the page provides the URL name at start-up, in its `AppConfig.ready()`:

    links.provide("triage-report", "triage:report")        # clinic/apps.py
    links.url_for("triage-report", report.uuid)             # adverse_events/services.py
    {% load links %}{% link_to "patient-chart" p.uuid %}    # a template

A purpose nobody provided is a programming error and fails loudly, naming the purpose.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

_URL_NAMES: dict[str, str] = {}


def provide(purpose: str, url_name: str) -> None:
    """The owning floor says which of its pages serves `purpose` (called from `ready()`)."""
    known = _URL_NAMES.setdefault(purpose, url_name)
    if known != url_name:
        raise ValueError(f"The link {purpose!r} is already provided by {known!r}.")


def url_for(purpose: str, *args: Any, **kwargs: Any) -> str:
    """The path of the page provided for `purpose`, with the page's URL arguments."""
    try:
        url_name = _URL_NAMES[purpose]
    except KeyError:
        raise LookupError(
            f"No page provides the link {purpose!r}; provide it in ready()."
        ) from None
    return reverse(url_name, args=args or None, kwargs=kwargs or None)
