"""The outbox: consent and channels, claiming, compare-and-set delivery, retries, the catch-up
policy and channel stops."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from patients import outbox
from patients.models import (
    CallReason,
    CallTask,
    Channel,
    MessageKind,
    MessageState,
    OutboxMessage,
)
from patients.sms import MemorySMSBackend, PermanentDeliveryError, TransientDeliveryError
from tests.factories import PatientFactory
from tests.requirements import require_postgres


@pytest.fixture(autouse=True)
def _memory_backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "patients.sms.MemorySMSBackend"
    MemorySMSBackend.outbox = []


def queue(patient, key="k1", due_in=timedelta(0), **extra):
    return outbox.message_to_patient(
        patient=patient,
        kind=extra.pop("kind", MessageKind.STAFF_NOTICE),
        due_at=timezone.now() + due_in,
        idempotency_key=key,
        subject="Hello",
        body="A fixed body",
        **extra,
    )


def claim_and_deliver():
    claim = outbox.outbox_claim_due()
    assert claim is not None
    return [outbox.outbox_deliver(message_id=i, claim_token=claim.token) for i in claim.message_ids]


# --- queueing -------------------------------------------------------------------------------


def test_a_message_goes_out_on_the_patients_preferred_channel(clinic_a):
    patient = PatientFactory(clinic=clinic_a, preferred_channel=Channel.SMS, phone="+821012345678")
    message = queue(patient)
    assert (message.channel, message.to_address) == (Channel.SMS, "+821012345678")


def test_it_falls_back_to_email_when_sms_was_stopped(clinic_a):
    patient = PatientFactory(
        clinic=clinic_a,
        preferred_channel=Channel.SMS,
        phone="+821012345678",
        email="jiwoo@example.com",
        sms_stopped_at=timezone.now(),
    )
    message = queue(patient)
    assert (message.channel, message.to_address) == (Channel.EMAIL, "jiwoo@example.com")


def test_without_consent_nothing_is_queued_and_the_front_desk_gets_a_call(clinic_a):
    patient = PatientFactory(clinic=clinic_a, consent_to_contact=False)
    assert queue(patient, key="checkin:1") is None
    assert not OutboxMessage.objects.exists()
    task = CallTask.objects.get()
    assert (task.patient, task.reason) == (patient, CallReason.NO_CONTACT)


def test_the_same_key_queues_one_message(clinic_a):
    patient = PatientFactory(clinic=clinic_a)
    first, second = queue(patient, key="same"), queue(patient, key="same")
    assert first.pk == second.pk
    assert OutboxMessage.objects.count() == 1


# --- claiming -------------------------------------------------------------------------------


def test_a_claim_takes_due_rows_only_with_one_token_and_a_lease(clinic_a):
    patient = PatientFactory(clinic=clinic_a)
    due = queue(patient, key="due")
    later = queue(patient, key="later", due_in=timedelta(hours=1))
    claim = outbox.outbox_claim_due()
    assert claim.message_ids == [due.pk]
    due.refresh_from_db()
    assert due.state == MessageState.CLAIMED
    assert due.claim_token == claim.token and due.lease_expires_at > timezone.now()
    assert due.attempts == 1
    later.refresh_from_db()
    assert later.state == MessageState.PENDING


def test_a_second_sweep_does_not_claim_what_the_first_holds(clinic_a):
    patient = PatientFactory(clinic=clinic_a)
    for n in range(3):
        queue(patient, key=f"m{n}")
    first = outbox.outbox_claim_due(limit=2)
    second = outbox.outbox_claim_due(limit=10)
    assert len(first.message_ids) == 2 and len(second.message_ids) == 1
    assert not set(first.message_ids) & set(second.message_ids)
    assert outbox.outbox_claim_due() is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sweepers_on_postgres_claim_disjoint_rows(clinic_a):
    """GIVEN 200 due messages WHEN four threads claim at once THEN no row is claimed twice."""
    require_postgres()
    patient = PatientFactory(clinic=clinic_a)
    for n in range(200):
        queue(patient, key=f"c{n}")
    claimed: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def sweeper():
        start.wait()
        try:
            while (claim := outbox.outbox_claim_due(limit=7)) is not None:
                with lock:
                    claimed.extend(claim.message_ids)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(claimed) == 200
    assert len(set(claimed)) == 200


# --- delivery -------------------------------------------------------------------------------


def test_delivery_sends_once_and_records_the_provider_id(clinic_a):
    patient = PatientFactory(clinic=clinic_a, email="mina@example.com")
    message = queue(patient)
    assert claim_and_deliver() == [MessageState.SENT]
    message.refresh_from_db()
    assert message.state == MessageState.SENT and message.sent_at is not None
    assert message.provider_message_id == f"<{message.uuid}@localhost>"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["mina@example.com"]


def test_sms_goes_through_the_sms_backend_with_the_message_uuid_as_idempotency_key(clinic_a):
    patient = PatientFactory(clinic=clinic_a, preferred_channel=Channel.SMS, phone="+15550001")
    message = queue(patient)
    claim_and_deliver()
    message.refresh_from_db()
    assert MemorySMSBackend.outbox[0]["key"] == str(message.uuid)
    assert message.provider_message_id == MemorySMSBackend.outbox[0]["id"]


def test_delivery_without_the_current_claim_sends_nothing(clinic_a):
    patient = PatientFactory(clinic=clinic_a)
    message = queue(patient)
    claim = outbox.outbox_claim_due()
    assert outbox.outbox_deliver(message_id=message.pk, claim_token=uuid.uuid4()) == "skipped"
    assert outbox.outbox_deliver(message_id=message.pk, claim_token=claim.token) == "sent"
    assert outbox.outbox_deliver(message_id=message.pk, claim_token=claim.token) == "skipped"
    assert len(mail.outbox) == 1


def test_an_expired_lease_returns_the_row_and_a_late_send_is_flagged_duplicate(clinic_a):
    """GIVEN a worker that claimed a message and stalled past its lease
    WHEN the sweeper re-queues and another worker sends it, and the first one wakes up
    THEN the message is sent by the second, and the first's send is flagged, not hidden."""
    patient = PatientFactory(clinic=clinic_a)
    message = queue(patient)
    stale = outbox.outbox_claim_due(lease=timedelta(seconds=-1))
    assert outbox.outbox_release_expired_leases() == 1
    fresh = outbox.outbox_claim_due()
    assert outbox.outbox_deliver(message_id=message.pk, claim_token=fresh.token) == "sent"
    # The stale worker's claim is gone, so it does not even send.
    assert outbox.outbox_deliver(message_id=message.pk, claim_token=stale.token) == "skipped"
    assert len(mail.outbox) == 1


def test_a_send_that_outlives_its_lease_is_flagged_duplicate(clinic_a, monkeypatch):
    patient = PatientFactory(clinic=clinic_a)
    message = queue(patient)
    claim = outbox.outbox_claim_due()
    real_send = outbox._send

    def slow_send(msg, rendered):
        # While we were sending, the lease expired and another sweeper took the row.
        OutboxMessage.objects.filter(pk=msg.pk).update(claim_token=uuid.uuid4())
        return real_send(msg, rendered)

    monkeypatch.setattr(outbox, "_send", slow_send)
    assert outbox.outbox_deliver(message_id=message.pk, claim_token=claim.token) == "duplicate"
    message.refresh_from_db()
    assert message.duplicate_suspected is True


def test_a_transient_error_retries_later_with_backoff(clinic_a, monkeypatch):
    patient = PatientFactory(clinic=clinic_a)
    message = queue(patient)

    def boom(msg, rendered):
        raise TransientDeliveryError("SMTP timeout")

    monkeypatch.setattr(outbox, "_send", boom)
    assert claim_and_deliver() == [MessageState.PENDING]
    message.refresh_from_db()
    assert message.state == MessageState.PENDING
    assert message.due_at > timezone.now() + timedelta(seconds=50)
    assert message.last_error == "SMTP timeout"


def test_after_the_last_attempt_the_message_fails_visibly_and_becomes_a_call(clinic_a, monkeypatch):
    patient = PatientFactory(clinic=clinic_a)
    message = queue(patient)

    def boom(msg, rendered):
        raise TransientDeliveryError("SMTP timeout")

    monkeypatch.setattr(outbox, "_send", boom)
    for _ in range(outbox.MAX_ATTEMPTS):
        OutboxMessage.objects.filter(pk=message.pk).update(due_at=timezone.now())
        claim_and_deliver()
    message.refresh_from_db()
    assert message.state == MessageState.FAILED and message.attempts == outbox.MAX_ATTEMPTS
    task = CallTask.objects.get()
    assert (task.reason, task.message) == (CallReason.FAILED_MESSAGE, message)


def test_a_permanent_error_fails_at_once(clinic_a, monkeypatch):
    patient = PatientFactory(clinic=clinic_a)
    message = queue(patient)

    def refuse(msg, rendered):
        raise PermanentDeliveryError("invalid number")

    monkeypatch.setattr(outbox, "_send", refuse)
    assert claim_and_deliver() == [MessageState.FAILED]
    message.refresh_from_db()
    assert message.attempts == 1
    assert CallTask.objects.filter(reason=CallReason.FAILED_MESSAGE).count() == 1


# --- catch-up policy ------------------------------------------------------------------------


def test_patient_messages_more_than_48_hours_overdue_are_missed_and_become_calls(clinic_a):
    patient = PatientFactory(clinic=clinic_a)
    old = queue(patient, key="old", due_in=-timedelta(hours=49), kind=MessageKind.CHECKIN)
    recent = queue(patient, key="recent", due_in=-timedelta(hours=47), kind=MessageKind.CHECKIN)
    assert outbox.outbox_mark_missed() == 1
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.state == MessageState.MISSED
    assert recent.state == MessageState.PENDING
    assert CallTask.objects.get().reason == CallReason.MISSED_MESSAGE


def test_staff_alerts_are_sent_however_late(clinic_a):
    alert = outbox.message_to_staff(
        clinic=clinic_a,
        to_email="oncall@example.com",
        kind=MessageKind.RED_FLAG_ALERT,
        subject="Red flag",
        body="Open the dashboard.",
        idempotency_key="alarm:1",
        due_at=timezone.now() - timedelta(days=3),
    )
    assert outbox.outbox_mark_missed() == 0
    claim_and_deliver()
    alert.refresh_from_db()
    assert alert.state == MessageState.SENT


# --- channel stops --------------------------------------------------------------------------


def test_an_sms_stop_reply_stops_sms_to_that_number_and_suppresses_pending_ones(clinic_a):
    patient = PatientFactory(
        clinic=clinic_a, preferred_channel=Channel.SMS, phone="+82 10-1111-2222"
    )
    pending = queue(patient)
    assert outbox.channel_stop_sms(phone="+821011112222") == 1
    patient.refresh_from_db()
    pending.refresh_from_db()
    assert patient.sms_stopped_at is not None
    assert pending.state == MessageState.SUPPRESSED
    assert not patient.can_receive(Channel.SMS)


def test_a_hard_bounce_stops_email_to_that_address(clinic_a):
    patient = PatientFactory(clinic=clinic_a, email="Bounce@Example.com")
    pending = queue(patient)
    assert outbox.channel_stop_email(email="bounce@example.com") == 1
    pending.refresh_from_db()
    assert pending.state == MessageState.SUPPRESSED
    patient.refresh_from_db()
    assert not patient.can_receive(Channel.EMAIL)
    assert patient.history.first().email_bounced_at is not None  # the bulk update is audited


# --- the periodic sweep ---------------------------------------------------------------------


def test_the_sweep_hands_each_claimed_batch_to_one_delivery_task_after_commit(
    clinic_a, monkeypatch, django_capture_on_commit_callbacks
):
    from patients import tasks

    patient = PatientFactory(clinic=clinic_a)
    for n in range(outbox.BATCH_SIZE + 5):
        queue(patient, key=f"s{n}")
    sent: list[tuple[list[int], str]] = []
    monkeypatch.setattr(
        tasks.outbox_deliver_batch, "delay", lambda ids, token: sent.append((ids, token))
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.outbox_sweep() == 2
    assert [len(ids) for ids, _ in sent] == [outbox.BATCH_SIZE, 5]
    # Task arguments are ids and a token: nothing about the patient.
    assert all(isinstance(i, int) for ids, _ in sent for i in ids)
    for ids, token in sent:
        tasks.outbox_deliver_batch(ids, token)
    assert OutboxMessage.objects.filter(state=MessageState.SENT).count() == outbox.BATCH_SIZE + 5
