"""Outbox tasks: a periodic sweep that claims due rows, and delivery by batch.

Tasks take ids and a claim token, never message content or patient data. Delivery is safe to
run twice (compare-and-set on the claim token), so it acknowledges late and is rejected back
to the queue when its worker dies.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError, transaction

from clinic.core.tasks import heartbeat

from . import outbox

MAX_BATCHES_PER_SWEEP = 40


@shared_task(
    name="patients.tasks.outbox_sweep",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def outbox_sweep() -> int:
    """Return expired leases to the queue, apply the catch-up policy, then claim due rows in
    batches and hand each batch to one delivery task. Returns the number of batches."""
    outbox.outbox_release_expired_leases()
    outbox.outbox_mark_missed()
    batches = 0
    for _ in range(MAX_BATCHES_PER_SWEEP):
        claim = outbox.outbox_claim_due()
        if claim is None:
            break
        # The claim is committed; if this enqueue is lost, the lease brings the rows back.
        transaction.on_commit(
            lambda c=claim: outbox_deliver_batch.delay(c.message_ids, str(c.token))
        )
        batches += 1
    heartbeat("outbox_sweep")
    return batches


@shared_task(
    name="patients.tasks.outbox_deliver_batch",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def outbox_deliver_batch(message_ids: list[int], claim_token: str) -> dict[str, int]:
    """Deliver one claimed batch, in order. Rows whose claim or lease was lost are skipped.

    A retried run (the database failed mid-batch) or a redelivered one (its worker died) may
    follow a send the provider accepted but we never recorded: that row's `send_started_at`
    is set, and `outbox_deliver` flags it `duplicate_suspected` as it sends it again."""
    if not outbox.outbox_lease_renew(claim_token=claim_token):
        return {"skipped": len(message_ids)}
    results: dict[str, int] = {}
    for message_id in message_ids:
        state = outbox.outbox_deliver(message_id=message_id, claim_token=claim_token)
        results[state] = results.get(state, 0) + 1
    return results
