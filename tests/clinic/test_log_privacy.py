"""No patient data in the logs: the main flows run with every project logger at DEBUG, and
every record, formatted as production (JSON) and the demo (plain) would write it, is searched
for the patients' names, phones, emails, free-text answers and personal-link tokens."""

from __future__ import annotations

import logging
import re
import smtplib
from datetime import timedelta

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse
from django.utils import timezone

from adverse_events.models import ReactionReport, Submission
from clinic.core.logcontext import ContextFilter
from clinic.core.logformat import JsonFormatter, PlainFormatter
from clinic.core.logredact import RedactTokensFilter
from patients import outbox
from patients.links import link_token
from patients.models import MessageState, OutboxMessage, Patient, PersonalLink
from patients.tasks import outbox_deliver_batch
from tests.adverse_events.patient_form_world import clear_rate_limits, seoul_today
from tests.kit.world import default_plan, released_lot
from treatments import checkins
from treatments.models import CheckIn, DeliveryMethod, TreatmentSession

pytestmark = pytest.mark.django_db

PROJECT_LOGGERS = [
    "clinic",
    "patients",
    "treatments",
    "adverse_events",
    "django.request",
    "django.security",
    "celery",
    "",
]
FREE_TEXT = "Burning like pepper under my left eye since the second night qzx"
SESSION_NOTES = "Patient anxious about her sister's wedding; went slowly qzy"
ACTION = "Called her back; advised cold compress and antihistamine qzw"


class RefusingEmailBackend(BaseEmailBackend):
    """An SMTP server that refuses the recipient and says whom, as real ones do."""

    def send_messages(self, email_messages):
        address = email_messages[0].to[0]
        raise smtplib.SMTPRecipientsRefused({address: (550, f"5.1.1 <{address}> unknown")})


def drain_outbox() -> None:
    while (claim := outbox.outbox_claim_due()) is not None:
        outbox_deliver_batch(claim.message_ids, str(claim.token))


def secrets_in_the_database() -> set[str]:
    """What must never be logged: every patient's identity and contact, every free-text
    answer and clinical note, every live personal link's token."""
    found: set[str] = set()
    for patient in Patient.objects.all():
        found |= {patient.first_name, patient.last_name, patient.email}
        digits = re.sub(r"\D", "", patient.phone)
        found |= {patient.phone, digits, "0" + digits[2:] if digits.startswith("82") else digits}
    found |= set(Submission.objects.exclude(free_text="").values_list("free_text", flat=True))
    found |= set(TreatmentSession.objects.exclude(notes="").values_list("notes", flat=True))
    for link in PersonalLink.objects.all():
        token = link_token(link)
        if token:
            found.add(token)
    return {s for s in found if s and len(s) >= 3}


def formatted(record: logging.LogRecord) -> list[str]:
    """The record as the configured handler would write it, in both formats."""
    RedactTokensFilter().filter(record)
    ContextFilter().filter(record)
    return [JsonFormatter().format(record), PlainFormatter().format(record)]


def test_the_main_flows_log_no_patient_data(
    caplog, client, front_desk_client, practitioner_client, clinic_a, settings, tmp_path
):
    """GIVEN every project logger at DEBUG
    WHEN the front desk registers a patient, a practitioner logs her session, the outbox
    sends the aftercare (console SMS) and a check-in (file email), the patient reports a
    reaction with free text through her personal link, a practitioner triages it, an email
    is refused by the server, and a dead link is opened
    THEN no log line, as JSON or plain text, carries her name, phone, email, words or link."""
    for name in PROJECT_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    clear_rate_limits()
    settings.SMS_BACKEND = "patients.sms.ConsoleSMSBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    default_plan(clinic_a)
    lot = released_lot(clinic_a, quantity=10, lot_number="EXO-LOG-01")

    # The front desk registers her (SMS preferred).
    response = front_desk_client.post(
        reverse("patients:register"),
        {
            "clinic": clinic_a.pk,
            "first_name": "Seoyeon",
            "last_name": "Hwangbo",
            "date_of_birth": "1988-02-29",
            "email": "seoyeon.hwangbo@mail.example",
            "phone": "+82 10 9876 5432",
            "preferred_channel": "sms",
            "consent_to_contact": "on",
            "language": "ko",
            "fitzpatrick_type": "",
        },
    )
    assert response.status_code == 302, response.content
    patient = Patient.objects.get(last_name="Hwangbo")

    # A practitioner logs her session; the aftercare SMS goes out through the console.
    response = practitioner_client.post(
        reverse("clinical:session_new", kwargs={"uuid": patient.uuid}),
        {
            "delivery_method": DeliveryMethod.MICRONEEDLING,
            "needle_depth_mm": "0.75",
            "treated_areas": ["cheeks"],
            "lot": lot.lot_number,
            "units_used": "1",
            "notes": SESSION_NOTES,
            "aftercare_given": "on",
        },
    )
    assert response.status_code == 302, response.content
    session = TreatmentSession.objects.get(patient=patient)
    drain_outbox()
    assert OutboxMessage.objects.filter(patient=patient, state=MessageState.SENT).exists()

    # Her first check-in falls due and goes out by email (she switched channels).
    Patient.objects.filter(pk=patient.pk).update(preferred_channel="email")
    CheckIn.objects.filter(pk=session.checkins.order_by("due_at").first().pk).update(
        due_at=timezone.now() - timedelta(minutes=1)
    )
    checkins.checkins_dispatch_due()
    drain_outbox()
    assert list((tmp_path / "mail").iterdir()), "the check-in email was written"

    # She reports a reaction with her own words through her personal link.
    token = link_token(session.report_link)
    client.get(reverse("report:entry", kwargs={"token": token}))
    page = client.get(reverse("report:report")).content.decode()
    sid = re.search(r'name="submission_id" value="([0-9a-f-]+)"', page).group(1)
    client.post(
        reverse("report:report"), {"step": "choose", "submission_id": sid, "terms": ["redness"]}
    )
    today = seoul_today().isoformat()
    response = client.post(
        reverse("report:report"),
        {
            "step": "details",
            "submission_id": sid,
            "terms": ["redness"],
            "redness-onset_date": today,
            "redness-status": "ongoing",
            "redness-ended_on": "",
            "redness-patient_severity": "2",
            "redness-stopped_activities": "no",
            "redness-sought_care": "no",
            "free_text": FREE_TEXT,
        },
    )
    assert response["Location"] == reverse("report:thanks")
    report = ReactionReport.objects.get(submission__submission_id=sid)

    # A practitioner triages it.
    response = practitioner_client.post(
        reverse("triage:report", args=[report.uuid]),
        {"triage_status": "reviewed", "severity_grade": "2", "action_taken": ACTION},
    )
    assert response.status_code == 302

    # An email the server refuses, naming the recipient in its error.
    settings.EMAIL_BACKEND = f"{__name__}.RefusingEmailBackend"
    outbox.message_to_patient(
        patient=Patient.objects.get(pk=patient.pk),
        kind="staff_notice",
        due_at=timezone.now(),
        idempotency_key="refused",
        body="x",
    )
    drain_outbox()
    refused = OutboxMessage.objects.get(idempotency_key="refused")
    assert "seoyeon.hwangbo@mail.example" in refused.last_error  # kept for staff, not logs

    # A dead personal link: Django logs its 404.
    session.report_link.revoked_at = timezone.now()
    session.report_link.save()
    client.get(reverse("report:entry", kwargs={"token": token}))

    secrets = secrets_in_the_database() | {token, FREE_TEXT, SESSION_NOTES, ACTION}
    secrets |= {"Seoyeon", "Hwangbo", "seoyeon.hwangbo@mail.example", "+821098765432"}
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("SMS console-") for m in messages), messages
    assert any(m.startswith("submission ") for m in messages), messages
    leaks = [
        (secret, text)
        for record in caplog.records
        for text in formatted(record)
        for secret in secrets
        if secret in text
    ]
    assert not leaks, leaks[:5]
    # The refusal and the dead link were logged, with their data masked; a line logged
    # outside a request (the outbox's, here as in a worker) carries no request's ids.
    lines = [formatted(r)[0] for r in caplog.records]
    refusal = next(line for line in lines if "will be retried" in line)
    assert "[email]" in refusal and "request_id" not in refusal
    assert any("Not Found: /r/[token]/" in line for line in lines)
