"""Provider webhooks stop a channel only when the provider's signature is right."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from patients.models import Channel, MessageState
from patients.outbox import message_to_patient
from patients.webhooks import email_signature, twilio_signature
from tests.factories import PatientFactory

AUTH_TOKEN = "twilio-auth-token-for-tests"
SECRET = "bounce-secret-for-tests"


@pytest.fixture(autouse=True)
def _provider_secrets(settings):
    settings.SMS_PROVIDER_TOKEN = f"AC123:{AUTH_TOKEN}"
    settings.EMAIL_WEBHOOK_SECRET = SECRET


def post_sms(client, params, signature=None):
    url = "http://testserver" + reverse("hooks:sms-inbound")
    signature = signature or twilio_signature(url, params, AUTH_TOKEN)
    return client.post(reverse("hooks:sms-inbound"), params, HTTP_X_TWILIO_SIGNATURE=signature)


def post_bounce(client, event, signature=None):
    body = json.dumps(event).encode()
    return client.post(
        reverse("hooks:email-bounce"),
        body,
        content_type="application/json",
        HTTP_X_WEBHOOK_SIGNATURE=signature or email_signature(body, SECRET),
    )


def test_a_signed_stop_reply_stops_sms_and_suppresses_what_was_pending(client, clinic_a):
    patient = PatientFactory(clinic=clinic_a, preferred_channel=Channel.SMS, phone="+821055556666")
    pending = message_to_patient(
        patient=patient, kind="staff_notice", due_at=timezone.now(), idempotency_key="p1", body="x"
    )
    response = post_sms(client, {"From": "+821055556666", "Body": " stop "})
    assert response.status_code == 200
    patient.refresh_from_db()
    pending.refresh_from_db()
    assert patient.sms_stopped_at is not None
    assert pending.state == MessageState.SUPPRESSED


def test_an_ordinary_sms_reply_changes_nothing(client, clinic_a):
    patient = PatientFactory(clinic=clinic_a, preferred_channel=Channel.SMS, phone="+821055556666")
    assert (
        post_sms(client, {"From": "+821055556666", "Body": "Thanks, all good"}).status_code == 200
    )
    patient.refresh_from_db()
    assert patient.sms_stopped_at is None


def test_an_unsigned_or_forged_stop_is_refused(client, clinic_a):
    patient = PatientFactory(clinic=clinic_a, preferred_channel=Channel.SMS, phone="+821055556666")
    response = post_sms(client, {"From": "+821055556666", "Body": "STOP"}, signature="forged")
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.sms_stopped_at is None


def test_a_signed_hard_bounce_stops_email_but_a_soft_one_does_not(client, clinic_a):
    patient = PatientFactory(clinic=clinic_a, email="gone@example.com")
    soft = post_bounce(
        client, {"type": "bounce", "bounce_type": "soft", "email": "gone@example.com"}
    )
    assert soft.json() == {"stopped": 0}
    hard = post_bounce(
        client, {"type": "bounce", "bounce_type": "hard", "email": "GONE@example.com"}
    )
    assert hard.json() == {"stopped": 1}
    patient.refresh_from_db()
    assert patient.email_bounced_at is not None


def test_a_forged_bounce_is_refused_and_a_malformed_one_says_what_is_missing(client, clinic_a):
    PatientFactory(clinic=clinic_a, email="x@example.com")
    forged = post_bounce(
        client, {"type": "bounce", "bounce_type": "hard", "email": "x@example.com"}, "sha256=00"
    )
    assert forged.status_code == 403
    malformed = post_bounce(client, {"type": "bounce"})
    assert malformed.status_code == 400 and "email" in malformed.json()["error"]


def test_without_a_configured_secret_every_bounce_is_refused(client, settings):
    settings.EMAIL_WEBHOOK_SECRET = ""
    body = b'{"email": "a@example.com"}'
    response = client.post(
        reverse("hooks:email-bounce"),
        body,
        content_type="application/json",
        HTTP_X_WEBHOOK_SIGNATURE=email_signature(body, ""),
    )
    assert response.status_code == 403
