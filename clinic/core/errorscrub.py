"""Error reports to Sentry without patient data (on only when `SENTRY_DSN` is set).

sentry-sdk collects more than a clinic may send: request bodies (a patient's answers), query
strings, cookies, the user's name and address, and the local variables of every frame (a
patient's name, phone or personal-link token while a view handles them). `sentry_init`
turns the collection off where the SDK lets it, and `scrub_event`, the `before_send` hook,
removes it again from whatever event reaches it, so a later SDK default or an integration
that adds data does not change what leaves. What stays: the exception's type, its message
with addresses, phone numbers and tokens masked, the source lines of the stack, the
request's method and path (tokens masked), the request id, the user's numeric id.
"""

from __future__ import annotations

from typing import Any

from .logredact import redact

# Headers worth keeping; every other one (cookies, authorisation, forwarded addresses) goes.
SAFE_HEADERS = frozenset({"user-agent", "content-type", "content-length", "x-request-id"})
# Keys the SDK's own scrubber masks anywhere in the event, beside its default list: the
# patient's fields, a link's token, free text.
PATIENT_KEYS = [
    "first_name",
    "last_name",
    "full_name",
    "patient_name",
    "date_of_birth",
    "phone",
    "phone_key",
    "name_key",
    "email",
    "to_address",
    "address",
    "emergency_contact",
    "token",
    "body",
    "subject",
    "notes",
    "note",
    "description",
    "free_text",
    "answer",
    "answers",
    "allergies",
    "other_notes",
]


def _scrub_frames(container: dict[str, Any] | None) -> None:
    for frame in ((container or {}).get("stacktrace") or {}).get("frames") or []:
        frame.pop("vars", None)


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    if request.get("method"):
        kept["method"] = request["method"]
    if request.get("url"):
        kept["url"] = redact(str(request["url"]).split("?", 1)[0])
    headers = request.get("headers") or {}
    kept["headers"] = {k: v for k, v in headers.items() if str(k).lower() in SAFE_HEADERS}
    return kept


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """`before_send`: the event minus anything that could name or reach a patient."""
    if "request" in event:
        event["request"] = _scrub_request(event["request"])
    if "user" in event:
        user_id = (event.get("user") or {}).get("id")
        event["user"] = {"id": user_id} if user_id is not None else {}
    for exception in (event.get("exception") or {}).get("values") or []:
        if exception.get("value"):
            exception["value"] = redact(str(exception["value"]))
        _scrub_frames(exception)
    for thread in (event.get("threads") or {}).get("values") or []:
        _scrub_frames(thread)
    for key in ("logentry", "message"):
        entry = event.get(key)
        if isinstance(entry, dict):
            entry.pop("params", None)
            for field in ("message", "formatted"):
                if entry.get(field):
                    entry[field] = redact(str(entry[field]))
        elif isinstance(entry, str):
            event[key] = redact(entry)
    event.pop("extra", None)
    breadcrumbs = event.get("breadcrumbs")
    values = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs
    for crumb in values or []:
        scrub_breadcrumb(crumb)
    return event


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """`before_breadcrumb`: a crumb keeps its category and masked message, never its data
    (a query's parameters, a log record's arguments)."""
    crumb.pop("data", None)
    if crumb.get("message"):
        crumb["message"] = redact(str(crumb["message"]))
    return crumb


def sentry_options(**options: Any) -> dict[str, Any]:
    """The options `sentry_init` passes to `sentry_sdk.init` (tests build a client from them)."""
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    return {
        "integrations": [DjangoIntegration(), CeleryIntegration()],
        # No user names, addresses, cookies or bodies from the integrations: that is the
        # SDK's default (send_default_pii off; naming it only earns a deprecation warning in
        # recent versions, which replace it with `data_collection`). Tests assert it is off.
        "include_local_variables": False,
        "max_request_body_size": "never",
        "before_send": scrub_event,
        "before_send_transaction": scrub_event,
        "before_breadcrumb": scrub_breadcrumb,
        "event_scrubber": EventScrubber(denylist=DEFAULT_DENYLIST + PATIENT_KEYS, recursive=True),
        **options,
    }


def sentry_init(**options: Any) -> None:
    import sentry_sdk

    sentry_sdk.init(**sentry_options(**options))
