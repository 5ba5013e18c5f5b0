"""The real SMS provider adapter (Twilio's Messages API), against a local stand-in server."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs

import pytest

from patients.sms import PermanentDeliveryError, TransientDeliveryError, TwilioSMSBackend


class FakeTwilio(BaseHTTPRequestHandler):
    status = 201
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        FakeTwilio.requests.append(
            {
                "headers": dict(self.headers),
                "form": {k: v[0] for k, v in parse_qs(body.decode()).items()},
            }
        )
        self.send_response(FakeTwilio.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"sid": "SM123"}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def provider(settings):
    server = HTTPServer(("127.0.0.1", 0), FakeTwilio)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeTwilio.requests, FakeTwilio.status = [], 201
    settings.SMS_PROVIDER_URL = f"http://127.0.0.1:{server.server_port}/Messages.json"
    settings.SMS_PROVIDER_TOKEN = "AC1:secret"
    settings.SMS_SENDER_ID = "+15550000"
    yield FakeTwilio
    server.shutdown()
    server.server_close()


def test_it_sends_with_basic_auth_and_the_idempotency_key_and_returns_the_sid(provider):
    sid = TwilioSMSBackend().send(to="+821012345678", body="Hi Mina", idempotency_key="uuid-1")
    assert sid == "SM123"
    (request,) = provider.requests
    assert request["form"] == {"To": "+821012345678", "From": "+15550000", "Body": "Hi Mina"}
    assert (
        request["headers"]["Authorization"] == "Basic " + base64.b64encode(b"AC1:secret").decode()
    )
    assert request["headers"]["I-Twilio-Idempotency-Token"] == "uuid-1"


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, TransientDeliveryError), (429, TransientDeliveryError), (400, PermanentDeliveryError)],
)
def test_provider_errors_are_sorted_into_retry_or_give_up(provider, status, error):
    provider.status = status
    with pytest.raises(error):
        TwilioSMSBackend().send(to="+1", body="x", idempotency_key="k")


def test_an_unreachable_provider_is_worth_retrying(settings):
    settings.SMS_PROVIDER_URL = "http://127.0.0.1:9/Messages.json"  # discard port: nothing listens
    settings.SMS_PROVIDER_TOKEN = "AC1:secret"
    with pytest.raises(TransientDeliveryError):
        TwilioSMSBackend().send(to="+1", body="x", idempotency_key="k")


def test_without_configuration_it_refuses_for_good(settings):
    settings.SMS_PROVIDER_URL = ""
    with pytest.raises(PermanentDeliveryError, match="not configured"):
        TwilioSMSBackend().send(to="+1", body="x", idempotency_key="k")
