"""The lease rules the fault tests rely on, pinned one by one (fast; SQLite and PostgreSQL).

Each was found by a fault test in this folder: a backlog longer than the lease made stale
batches send rows the sweeper had already handed to another worker, and a kill between the
provider's acceptance and our commit re-sent a message without flagging it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

import pytest
from django.db import OperationalError
from django.utils import timezone

from patients import outbox, tasks
from patients.models import Channel, MessageKind, MessageState, OutboxMessage
from patients.sms import MemorySMSBackend
from tests.factories import PatientFactory


@pytest.fixture(autouse=True)
def _memory_sms(settings):
    settings.SMS_BACKEND = "patients.sms.MemorySMSBackend"
    MemorySMSBackend.outbox = []


@pytest.fixture
def three_due(clinic_a) -> list[OutboxMessage]:
    patient = PatientFactory(clinic=clinic_a, preferred_channel=Channel.SMS, phone="+447700900123")
    now = timezone.now()
    return [
        outbox.message_to_patient(
            patient=patient,
            kind=MessageKind.STAFF_NOTICE,
            due_at=now - timedelta(minutes=3 - n),
            idempotency_key=f"lease:{n}",
            body="A fixed body",
        )
        for n in range(3)
    ]


def sent_keys() -> list[str]:
    return [entry["key"] for entry in MemorySMSBackend.outbox]


def flagged_pks() -> set[int]:
    return set(OutboxMessage.objects.filter(duplicate_suspected=True).values_list("pk", flat=True))


def expire(claim: outbox.Claim) -> None:
    OutboxMessage.objects.filter(claim_token=claim.token).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_row_whose_lease_ran_out_is_not_sent_even_before_the_sweeper_releases_it(three_due):
    """GIVEN a batch that waited in the broker's queue past its lease
    WHEN  its task finally delivers a row the sweeper has not yet released
    THEN  nothing is sent: the sweeper may hand that row to another worker at any moment."""
    claim = outbox.outbox_claim_due()
    expire(claim)
    assert outbox.outbox_deliver(message_id=claim.message_ids[0], claim_token=claim.token) == (
        "skipped"
    )
    assert sent_keys() == []


def test_a_batch_task_renews_its_lease_when_it_starts(three_due):
    claim = outbox.outbox_claim_due(lease=timedelta(seconds=5))
    assert outbox.outbox_lease_renew(claim_token=claim.token) == 3
    leases = OutboxMessage.objects.filter(claim_token=claim.token).values_list(
        "lease_expires_at", flat=True
    )
    assert min(leases) > timezone.now() + outbox.LEASE - timedelta(seconds=5)


def test_a_stale_batch_task_skips_all_its_rows_and_sends_nothing(three_due):
    """GIVEN a batch released by the sweeper and claimed again under a new token
    WHEN  the first, stale task runs
    THEN  it sends nothing; the fresh task delivers every row once."""
    stale = outbox.outbox_claim_due()
    expire(stale)
    assert outbox.outbox_release_expired_leases() == 3
    fresh = outbox.outbox_claim_due()
    assert tasks.outbox_deliver_batch(stale.message_ids, str(stale.token)) == {"skipped": 3}
    assert tasks.outbox_deliver_batch(fresh.message_ids, str(fresh.token)) == {"sent": 3}
    assert sorted(sent_keys()) == sorted(str(m.uuid) for m in three_due)


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it in the worker runs (not an Exception, so no
    handler in the delivery code catches it)."""


class DyingSMSBackend(MemorySMSBackend):
    """The provider accepts the message, then the worker dies before hearing the answer
    (`die_after` keys), or the database fails at that instant (`fail_after` keys)."""

    die_after: ClassVar[set[str]] = set()
    fail_after: ClassVar[set[str]] = set()

    def send(self, *, to: str, body: str, idempotency_key: str) -> str:
        provider_id = super().send(to=to, body=body, idempotency_key=idempotency_key)
        if idempotency_key in self.die_after:
            self.die_after.discard(idempotency_key)
            raise WorkerKilled
        if idempotency_key in self.fail_after:
            self.fail_after.discard(idempotency_key)
            raise OperationalError("server closed the connection unexpectedly")
        return provider_id


@pytest.fixture
def dying_sms(settings) -> type[DyingSMSBackend]:
    settings.SMS_BACKEND = f"{__name__}.DyingSMSBackend"
    DyingSMSBackend.die_after, DyingSMSBackend.fail_after = set(), set()
    return DyingSMSBackend


def deliver_batch_until_killed(claim: outbox.Claim) -> None:
    with pytest.raises(WorkerKilled):
        tasks.outbox_deliver_batch(claim.message_ids, str(claim.token))


def test_a_kill_between_the_providers_acceptance_and_the_commit_flags_the_resent_message(
    three_due, dying_sms
):
    """GIVEN a batch of three whose worker sent the first, then handed the second to the
          provider and was killed before committing it
    WHEN  the lease runs out, the sweeper releases the rows and they are delivered again
    THEN  the second is sent again (the provider sees its key twice) and is flagged
          duplicate_suspected; the first is not re-sent and the third is not flagged."""
    first, second, third = three_due
    claim = outbox.outbox_claim_due()
    assert claim.message_ids == [first.pk, second.pk, third.pk]
    dying_sms.die_after = {str(second.uuid)}
    deliver_batch_until_killed(claim)
    second.refresh_from_db()
    assert second.state == MessageState.CLAIMED and second.send_started_at is not None
    expire(claim)

    assert outbox.outbox_release_expired_leases() == 2
    assert flagged_pks() == {second.pk}  # flagged as the lease is released
    again = outbox.outbox_claim_due()
    assert tasks.outbox_deliver_batch(again.message_ids, str(again.token)) == {"sent": 2}

    assert sent_keys().count(str(second.uuid)) == 2
    assert sent_keys().count(str(first.uuid)) == sent_keys().count(str(third.uuid)) == 1
    assert flagged_pks() == {second.pk}
    assert OutboxMessage.objects.filter(state=MessageState.SENT).count() == 3


def test_a_kill_before_the_next_send_started_flags_nothing(three_due):
    """GIVEN a batch of three whose worker sent and committed the first and was killed before
          it began sending the second
    WHEN  the lease runs out, the sweeper releases the rows and they are delivered again
    THEN  each message reached the provider once and none is flagged: the second's send had
          not started, so it cannot be a repeat."""
    first, second, third = three_due
    claim = outbox.outbox_claim_due()
    assert outbox.outbox_deliver(message_id=first.pk, claim_token=claim.token) == "sent"
    expire(claim)  # then: SIGKILL, before the second row's send started

    assert outbox.outbox_release_expired_leases() == 2
    assert flagged_pks() == set()
    again = outbox.outbox_claim_due()
    assert tasks.outbox_deliver_batch(again.message_ids, str(again.token)) == {"sent": 2}
    assert sorted(sent_keys()) == sorted(str(m.uuid) for m in three_due)
    assert flagged_pks() == set()


def test_a_claim_whose_task_never_ran_flags_nothing(three_due):
    """GIVEN a claimed batch whose task was lost with the broker (or waited in a killed
          worker's prefetch) and never started
    WHEN  its lease runs out and the sweeper releases it
    THEN  no row is flagged: nothing of it can have reached the provider."""
    claim = outbox.outbox_claim_due()
    expire(claim)
    assert outbox.outbox_release_expired_leases() == 3
    assert flagged_pks() == set()
    assert not OutboxMessage.objects.filter(send_started_at__isnull=False).exists()


def test_a_batch_retried_after_the_database_failed_mid_send_flags_that_row(three_due, dying_sms):
    """GIVEN a batch whose first row was sent and committed, and whose second was accepted by
          the provider just as the database connection failed (so `sent` was never committed)
    WHEN  Celery retries the batch with the same claim
    THEN  the first row is skipped, the second is sent again and flagged, the third is sent
          unflagged."""
    first, second, third = three_due
    claim = outbox.outbox_claim_due()
    dying_sms.fail_after = {str(second.uuid)}
    with pytest.raises(OperationalError):
        tasks.outbox_deliver_batch(claim.message_ids, str(claim.token))
    result = tasks.outbox_deliver_batch.apply(
        args=(claim.message_ids, str(claim.token)), retries=1
    ).get()
    assert result == {"skipped": 1, "sent": 2}
    assert sent_keys().count(str(second.uuid)) == 2
    assert flagged_pks() == {second.pk}


def test_a_batch_retried_before_its_next_send_started_flags_nothing(three_due):
    """GIVEN a batch whose first row was sent and committed before the database failed (the
          second row's send had not started)
    WHEN  Celery retries the batch with the same claim
    THEN  the first row is skipped and the other two are sent once each, unflagged."""
    first, second, third = three_due
    claim = outbox.outbox_claim_due()
    assert outbox.outbox_deliver(message_id=first.pk, claim_token=claim.token) == "sent"
    result = tasks.outbox_deliver_batch.apply(
        args=(claim.message_ids, str(claim.token)), retries=1
    ).get()
    assert result == {"skipped": 1, "sent": 2}
    assert sorted(sent_keys()) == sorted(str(m.uuid) for m in three_due)
    assert flagged_pks() == set()


def test_a_first_run_of_a_batch_flags_nothing(three_due):
    claim = outbox.outbox_claim_due()
    assert tasks.outbox_deliver_batch(claim.message_ids, str(claim.token)) == {"sent": 3}
    assert not OutboxMessage.objects.filter(duplicate_suspected=True).exists()
    # The row keeps when its send began.
    assert not OutboxMessage.objects.filter(send_started_at__isnull=True).exists()
