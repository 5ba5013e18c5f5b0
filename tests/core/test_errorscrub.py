"""Error reports leave without patient data: a real exception in a staff page, captured by
sentry-sdk with the project's options into a transport that keeps the events, holds none of
the patient's name, phone, email, link token, search words, cookies or request body."""

from __future__ import annotations

import json
import sys

import pytest
import sentry_sdk
from django.urls import reverse
from sentry_sdk.consts import DEFAULT_OPTIONS
from sentry_sdk.transport import Transport
from sentry_sdk.utils import event_from_exception

from clinic.core.errorscrub import scrub_event, sentry_options
from tests.factories import PatientFactory

NAME, SURNAME = "Seoyeon", "Hwangbo"
PHONE = "+821098765432"
EMAIL = "seoyeon.hwangbo@mail.example"
TOKEN = "Zq3x_9aB-kLmN0pQrStUvWxYz0123456789abcdEFGH"


class KeepEvents(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.events: list[dict] = []

    def capture_envelope(self, envelope):
        event = envelope.get_event() or envelope.get_transaction_event()
        if event is not None:
            self.events.append(event)


@pytest.fixture
def sentry_events():
    transport = KeepEvents()
    sentry_sdk.init(
        **sentry_options(
            dsn="https://public@o0.ingest.sentry.invalid/1",
            transport=transport,
            default_integrations=False,
        )
    )
    yield transport.events
    sentry_sdk.get_client().close()
    sentry_sdk.init(default_integrations=False)  # no DSN: off again for the rest of the run


def as_text(event: dict) -> str:
    return json.dumps(event, default=str)


def assert_no_patient_data(text: str, *more: str) -> None:
    for secret in (NAME, SURNAME, PHONE, "1098765432", EMAIL, TOKEN, *more):
        assert secret not in text, f"{secret!r} left in the event"


def reach_patient(first_name: str, phone: str, email: str, token: str) -> None:
    """What a view's frame looks like when it fails while holding a patient's data. The
    message quotes what libraries quote (an address, a number, a URL), never a name."""
    greeting = f"Dear {first_name}"  # noqa: F841 - a local that holds her name
    raise RuntimeError(f"could not reach {phone} / {email} via /r/{token}/")


def test_a_staff_pages_exception_reaches_sentry_scrubbed(
    front_desk_client, clinic_a, sentry_events, monkeypatch
):
    """GIVEN Sentry on with the project's options
    WHEN registration fails while handling a POST of her name, with her session cookie
    and a query string, in a frame that holds her data
    THEN the event keeps the error's kind and the page, and none of her data."""
    patient = PatientFactory(
        clinic=clinic_a, first_name=NAME, last_name=SURNAME, phone=PHONE, email=EMAIL
    )
    from patients import views

    def render_fails(*args, **kwargs):
        reach_patient(patient.first_name, patient.phone, patient.email, TOKEN)

    monkeypatch.setattr(views, "render", render_fails)
    front_desk_client.raise_request_exception = False
    front_desk_client.cookies["tracking"] = EMAIL
    response = front_desk_client.post(
        reverse("patients:register") + f"?q={SURNAME}",
        {"first_name": NAME, "last_name": SURNAME, "phone": PHONE},
        HTTP_X_REQUEST_ID="req-sentry-0001",
    )
    assert response.status_code == 500
    sentry_sdk.flush()

    errors = [e for e in sentry_events if e.get("exception")]
    assert errors, sentry_events
    event = errors[-1]
    text = as_text(event)
    assert_no_patient_data(text, response.client.cookies["sessionid"].value)
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "RuntimeError"
    assert "[phone]" in exception["value"] and "/r/[token]/" in exception["value"]
    assert event["transaction"] == reverse("patients:register")
    # The test client bypasses the WSGI layer that adds the method and URL; the scrubber's
    # handling of a full request is the next test's.
    assert set(event["request"]) <= {"method", "url", "headers"}
    assert set(event.get("user") or {}) <= {"id"}
    for frame in exception["stacktrace"]["frames"]:
        assert "vars" not in frame


def test_before_send_drops_frame_variables_even_when_collected():
    """Should local variables ever be collected, the scrubber removes them."""
    try:
        reach_patient(NAME, PHONE, EMAIL, TOKEN)
    except RuntimeError:
        event, hint = event_from_exception(
            sys.exc_info(),
            client_options=DEFAULT_OPTIONS | {"include_local_variables": True},
        )
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert any(NAME in as_text(frame.get("vars", {})) for frame in frames)  # it was there

    event["request"] = {
        "method": "POST",
        "url": f"https://clinic.example/r/{TOKEN}/",
        "query_string": f"q={SURNAME}",
        "data": {"first_name": NAME},
        "cookies": {"sessionid": "abc"},
        "headers": {"Cookie": "sessionid=abc", "User-Agent": "test", "X-Forwarded-For": "1.2.3.4"},
    }
    event["user"] = {"id": 7, "email": EMAIL, "username": NAME, "ip_address": "1.2.3.4"}
    event["extra"] = {"patient": f"{NAME} {SURNAME}"}
    event["breadcrumbs"] = {
        "values": [
            {"category": "query", "message": "SELECT 1", "data": {"params": [PHONE]}},
            {"category": "patients.sms", "message": f"SMS to {PHONE}"},
        ]
    }
    scrubbed = scrub_event(event, hint)
    assert_no_patient_data(as_text(scrubbed), "sessionid", "1.2.3.4")
    assert scrubbed["user"] == {"id": 7}
    assert scrubbed["request"] == {
        "method": "POST",
        "url": "https://clinic.example/r/[token]/",
        "headers": {"User-Agent": "test"},
    }


def test_the_integrations_send_no_personal_data(sentry_events):
    assert sentry_sdk.get_client().should_send_default_pii() is False
    assert sentry_sdk.get_client().options["include_local_variables"] is False


def test_sentry_is_off_without_a_dsn(settings):
    assert settings.SENTRY_DSN == ""
    assert sentry_sdk.get_client().transport is None  # nothing would be sent


def test_a_dsn_in_the_environment_switches_it_on_with_the_scrubber(tmp_path):
    from tests.infra._processes import demo_env, manage

    code = (
        "import sentry_sdk; o = sentry_sdk.get_client().options; "
        "print(o['before_send'].__name__, o['include_local_variables'], o['environment'])"
    )
    result = manage(
        "shell",
        "-c",
        code,
        env=demo_env(
            tmp_path,
            SENTRY_DSN="https://public@o0.ingest.sentry.invalid/1",
            SENTRY_ENVIRONMENT="staging",
        ),
    )
    last_line = result.stdout.strip().splitlines()[-1]  # after the shell's own notice
    assert last_line.split() == ["scrub_event", "False", "staging"], result.stderr
