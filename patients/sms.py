"""SMS backends: a small interface, a console backend for the demo and tests, and one real
provider adapter (Twilio's REST API) configured from the environment.

A backend either returns the provider's message id or raises `TransientDeliveryError`
(worth retrying: timeouts, 5xx, rate limits) or `PermanentDeliveryError` (never retry: invalid
number, unsubscribed). Every send carries an idempotency key so a provider that honours it
does not deliver the same message twice after a crash-and-retry.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class TransientDeliveryError(Exception):
    """The provider could not take the message now; try again later."""


class PermanentDeliveryError(Exception):
    """The provider refused the message for good (bad address, opted out)."""


class SMSBackend(Protocol):
    def send(self, *, to: str, body: str, idempotency_key: str) -> str: ...


class ConsoleSMSBackend:
    """Writes SMS to the log (recipient masked) and returns a fake provider id."""

    def send(self, *, to: str, body: str, idempotency_key: str) -> str:
        provider_id = f"console-{uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex[:16]}"
        logger.info("SMS %s to ***%s (%d chars)", provider_id, to[-3:], len(body))
        return provider_id


class MemorySMSBackend:
    """Keeps sent messages in memory; tests read `MemorySMSBackend.outbox`."""

    outbox: list[dict[str, str]] = []

    def send(self, *, to: str, body: str, idempotency_key: str) -> str:
        provider_id = f"mem-{len(self.outbox) + 1}"
        self.outbox.append({"to": to, "body": body, "key": idempotency_key, "id": provider_id})
        return provider_id


class TwilioSMSBackend:
    """Twilio Messages API. SMS_PROVIDER_URL is the account's Messages endpoint
    (https://api.twilio.com/2010-04-01/Accounts/<SID>/Messages.json), SMS_PROVIDER_TOKEN is
    "<SID>:<auth token>", SMS_SENDER_ID the sending number or messaging service."""

    timeout = 10

    def send(self, *, to: str, body: str, idempotency_key: str) -> str:
        if not settings.SMS_PROVIDER_URL or ":" not in settings.SMS_PROVIDER_TOKEN:
            raise PermanentDeliveryError("SMS provider is not configured")
        data = urllib.parse.urlencode(
            {"To": to, "From": settings.SMS_SENDER_ID, "Body": body}
        ).encode()
        auth = base64.b64encode(settings.SMS_PROVIDER_TOKEN.encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - URL comes from settings, https
            settings.SMS_PROVIDER_URL,
            data=data,
            headers={
                "Authorization": f"Basic {auth}",
                "I-Twilio-Idempotency-Token": idempotency_key[:64],
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return str(json.load(response)["sid"])
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise TransientDeliveryError(f"provider answered {exc.code}") from exc
            raise PermanentDeliveryError(f"provider refused the message ({exc.code})") from exc
        except (urllib.error.URLError, TimeoutError) as exc:
            raise TransientDeliveryError("provider unreachable") from exc


def get_sms_backend() -> SMSBackend:
    return import_string(settings.SMS_BACKEND)()
