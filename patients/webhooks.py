"""Provider webhooks that stop a channel: an SMS "STOP" reply, a hard email bounce.

Both are public endpoints, so both demand the provider's signature:
- SMS (Twilio inbound message webhook): `X-Twilio-Signature` = base64 HMAC-SHA1 of the full
  URL followed by the sorted POST parameters, keyed by the auth token (the part of
  SMS_PROVIDER_TOKEN after the colon). A body of STOP, STOPALL, UNSUBSCRIBE, CANCEL, END or
  QUIT (any case) stops SMS to the sender.
- Email (a JSON bounce webhook): `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw
  body keyed by EMAIL_WEBHOOK_SECRET>`, body `{"type": "bounce", "bounce_type": "hard",
  "email": "..."}`. Soft bounces are ignored (the outbox retries).
Nothing about the patient is echoed back or logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .outbox import channel_stop_email, channel_stop_sms

logger = logging.getLogger(__name__)

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "수신거부"}


def twilio_signature(url: str, params: dict[str, str], auth_token: str) -> str:
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def email_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@csrf_exempt
@require_POST
def sms_inbound(request: HttpRequest) -> HttpResponse:
    auth_token = settings.SMS_PROVIDER_TOKEN.partition(":")[2]
    params = {key: request.POST[key] for key in request.POST}
    expected = twilio_signature(request.build_absolute_uri(), params, auth_token)
    given = request.headers.get("X-Twilio-Signature", "")
    if not auth_token or not hmac.compare_digest(expected, given):
        return HttpResponseForbidden("bad signature")
    if params.get("Body", "").strip().upper() in STOP_WORDS:
        stopped = channel_stop_sms(phone=params.get("From", ""))
        logger.info("SMS STOP received; %d patient record(s) stopped", stopped)
    # An empty TwiML answer: we send no auto-reply (the carrier confirms STOP itself).
    return HttpResponse("<Response/>", content_type="application/xml")


@csrf_exempt
@require_POST
def email_bounce(request: HttpRequest) -> HttpResponse:
    secret = settings.EMAIL_WEBHOOK_SECRET
    given = request.headers.get("X-Webhook-Signature", "")
    if not secret or not hmac.compare_digest(email_signature(request.body, secret), given):
        return HttpResponseForbidden("bad signature")
    try:
        event = json.loads(request.body)
        email = str(event["email"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "body must be JSON with an 'email' field"}, status=400)
    stopped = 0
    if event.get("type") == "bounce" and event.get("bounce_type") == "hard":
        stopped = channel_stop_email(email=email)
        logger.info("hard bounce received; %d patient record(s) stopped", stopped)
    return JsonResponse({"stopped": stopped})


app_name = "hooks"
urlpatterns = [
    path("sms/inbound/", sms_inbound, name="sms-inbound"),
    path("email/bounce/", email_bounce, name="email-bounce"),
]
