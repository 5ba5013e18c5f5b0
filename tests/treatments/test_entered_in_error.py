"""A session entered in error stops everything that flows from it (messages queued or claimed,
check-ins, personal links), and gives its stock back up to the lot's quantity received."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import connection, connections, transaction

from clinic.core.exceptions import RuleViolation
from clinic.core.models import CheckInPlanStep
from patients import outbox, tasks
from patients.models import CallTask, MessageKind, MessageState, OutboxMessage
from tests.kit.world import logged_session, released_lot
from tests.requirements import require_postgres
from treatments import checkins
from treatments.aftercare import session_link_url
from treatments.entered_in_error import STOPPED_NOTE
from treatments.models import CheckInState, ProductLot
from treatments.services import lot_correct, session_mark_entered_in_error

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _memory_backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "patients.sms.MemorySMSBackend"


@pytest.fixture(autouse=True)
def clock():
    """10:00 in Seoul, outside clinic A's quiet hours; move it with `.shift(delta)`."""
    start = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Seoul"))
    with time_machine.travel(start, tick=False) as traveller:
        yield traveller


@pytest.fixture
def one_minute_plan(clinic_a):
    CheckInPlanStep.objects.create(
        clinic=clinic_a, code="m1", label="1 minute", offset=timedelta(minutes=1)
    )


def sweep_and_deliver(monkeypatch, django_capture_on_commit_callbacks) -> None:
    """The beat's outbox sweep, with each batch's delivery task run in place."""
    monkeypatch.setattr(
        tasks.outbox_deliver_batch,
        "delay",
        lambda ids, token: tasks.outbox_deliver_batch(ids, token),
    )
    with django_capture_on_commit_callbacks(execute=True):
        tasks.outbox_sweep()


def mark(session, user, reason="Wrong patient chosen."):
    return session_mark_entered_in_error(session=session, user=user, reason=reason)


def test_marked_before_the_sweep_nothing_is_sent_and_the_link_shows_the_neutral_page(
    client, practitioner_a, one_minute_plan, clock, monkeypatch, django_capture_on_commit_callbacks
):
    """GIVEN a session just logged (aftercare email queued, a check-in due in a minute)
    WHEN it is marked entered in error before the outbox sweep, and later the sweeps run
    THEN no email goes out, nobody is asked to call, and the report link is dead."""
    session = logged_session(practitioner_a)
    link = session_link_url(session)
    assert client.get(urlparse(link).path, follow=True).status_code == 200

    done = mark(session, practitioner_a)

    assert [m.kind for m in done.follow_up.stopped] == [MessageKind.AFTERCARE]
    sweep_and_deliver(monkeypatch, django_capture_on_commit_callbacks)
    clock.shift(timedelta(minutes=5))
    assert checkins.checkins_dispatch_due() == 0
    sweep_and_deliver(monkeypatch, django_capture_on_commit_callbacks)
    assert mail.outbox == []
    aftercare = OutboxMessage.objects.get(idempotency_key=f"aftercare:{session.pk}")
    assert (aftercare.state, aftercare.last_error) == (MessageState.CANCELLED, STOPPED_NOTE)
    assert session.checkins.get().state == CheckInState.CANCELLED
    assert not CallTask.objects.exists()
    client.cookies.clear()
    neutral = client.get(urlparse(link).path, follow=True)
    assert neutral.status_code == 404
    assert "This link does not work" in neutral.content.decode()


def test_a_message_already_claimed_by_the_sweeper_is_not_sent(practitioner_a):
    """GIVEN the aftercare email claimed by a sweep (its delivery task not yet started)
    WHEN the session is marked entered in error THEN the delivery sends nothing."""
    session = logged_session(practitioner_a)
    claim = outbox.outbox_claim_due()
    assert claim is not None

    done = mark(session, practitioner_a)

    assert len(done.follow_up.stopped) == 1
    results = [
        outbox.outbox_deliver(message_id=pk, claim_token=claim.token) for pk in claim.message_ids
    ]
    assert results == ["skipped"]
    assert mail.outbox == []
    assert OutboxMessage.objects.get().state == MessageState.CANCELLED
    assert not CallTask.objects.exists()


def test_a_check_in_queued_by_a_sweep_racing_the_marking_is_withdrawn_at_delivery(
    practitioner_a, one_minute_plan
):
    """GIVEN a session marked entered in error WHEN a check-in sweep that read the check-in
    before the marking still queues its message THEN delivery cancels it unsent, without a
    call task (the outbox guard)."""
    session = logged_session(practitioner_a)
    checkin = session.checkins.get()
    mark(session, practitioner_a)
    late = outbox.message_to_patient(
        patient=session.patient,
        kind=MessageKind.CHECKIN,
        due_at=session.performed_at,
        idempotency_key=f"checkin:{checkin.pk}",
        context={"checkin": checkin.pk},
    )

    claim = outbox.outbox_claim_due()
    assert outbox.outbox_deliver(message_id=late.pk, claim_token=claim.token) == "cancelled"

    late.refresh_from_db()
    assert (late.state, late.last_error) == (MessageState.CANCELLED, STOPPED_NOTE)
    assert mail.outbox == []
    assert not CallTask.objects.exists()


def test_messages_already_sent_are_reported_and_the_check_in_links_are_revoked(
    practitioner_a, one_minute_plan, clock
):
    session = logged_session(practitioner_a)
    clock.shift(timedelta(minutes=2))
    checkins.checkins_dispatch_due()
    while (claim := outbox.outbox_claim_due()) is not None:
        for message_id in claim.message_ids:
            outbox.outbox_deliver(message_id=message_id, claim_token=claim.token)
    assert len(mail.outbox) == 2  # aftercare and the check-in, each with its link
    checkin = session.checkins.get()
    assert checkin.link.is_live

    done = mark(session, practitioner_a)

    assert {m.kind for m in done.follow_up.already_sent} == {
        MessageKind.AFTERCARE,
        MessageKind.CHECKIN,
    }
    assert done.follow_up.stopped == []
    assert done.follow_up.links_revoked == 2
    checkin.refresh_from_db()
    assert checkin.state == CheckInState.CANCELLED and not checkin.link.is_live


# --- stock --------------------------------------------------------------------------------


def test_all_units_go_back_when_the_lot_has_room(practitioner_a, clinic_a):
    lot = released_lot(clinic_a, quantity=10)
    session = logged_session(practitioner_a, lot=lot, units_used=3)
    done = mark(session, practitioner_a)
    lot.refresh_from_db()
    assert (done.units_returned, done.units_not_returned, lot.quantity_on_hand) == (3, 0, 10)


def test_after_a_downward_correction_units_go_back_up_to_the_received_quantity(
    practitioner_a, safety_lead_a, clinic_a
):
    """GIVEN 10 received, 3 used in a session (7 on hand) WHEN the received quantity is
    corrected to 8 and the session is then marked entered in error THEN one unit goes back
    (8 on hand, never above received), and the lot's history says 2 were not returned."""
    lot = released_lot(clinic_a, quantity=10)
    session = logged_session(practitioner_a, lot=lot, units_used=3)
    lot_correct(lot=lot, reason="Delivery note said 8", quantity_received=8)

    done = mark(session, practitioner_a)

    lot.refresh_from_db()
    assert (lot.quantity_received, lot.quantity_on_hand) == (8, 8)
    assert (done.units_returned, done.units_not_returned) == (1, 2)
    latest = lot.history.first()
    assert latest.history_change_reason == (
        "Session entered in error: 1 of 3 returned, 2 over the 8 received"
    )
    assert latest.history_user == practitioner_a


def test_a_lot_already_at_its_received_quantity_takes_nothing_back_and_says_so(
    practitioner_a, clinic_a
):
    lot = released_lot(clinic_a, quantity=10)
    session = logged_session(practitioner_a, lot=lot, units_used=2)
    lot_correct(lot=lot, reason="Recount", quantity_received=8, quantity_on_hand=8)
    done = mark(session, practitioner_a)
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 8 and done.units_not_returned == 2
    assert "0 of 2 returned" in lot.history.first().history_change_reason


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quantity_received": 5}, "quantity_received"),
        ({"quantity_on_hand": 11}, "quantity_on_hand"),
        ({"quantity_on_hand": -1}, "quantity_on_hand"),
        ({"quantity_received": 6, "quantity_on_hand": 7}, "quantity_on_hand"),
    ],
)
def test_a_correction_leaving_stock_above_received_or_below_zero_names_the_field(
    clinic_a, changes, field
):
    lot = released_lot(clinic_a, quantity=10)
    ProductLot.objects.filter(pk=lot.pk).update(quantity_on_hand=7)
    with pytest.raises(RuleViolation) as refused:
        lot_correct(lot=lot, reason="Recount", **changes)
    assert refused.value.field == field
    lot.refresh_from_db()
    assert (lot.quantity_received, lot.quantity_on_hand) == (10, 7)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgres_a_delivery_racing_the_marking_waits_for_it_and_sends_nothing(
    practitioner_a,
):
    """GIVEN the aftercare email claimed and its delivery about to start on another
    connection WHEN the session is marked entered in error in a transaction that has not
    committed yet THEN the delivery's "send starting" UPDATE waits on the row lock, then
    finds the row cancelled and sends nothing."""
    require_postgres()
    session = logged_session(practitioner_a)
    claim = outbox.outbox_claim_due()
    message_id = claim.message_ids[0]
    outcome: dict[str, str] = {}
    go = threading.Event()

    def deliver() -> None:
        go.wait()
        try:
            outcome["state"] = outbox.outbox_deliver(message_id=message_id, claim_token=claim.token)
        finally:
            connection.close()

    worker = threading.Thread(target=deliver)
    worker.start()
    with transaction.atomic():
        mark(session, practitioner_a)
        go.set()
        # Commit only once the delivery is blocked on the message row's lock.
        while not _a_backend_waits_on_a_lock():
            worker.join(timeout=0.05)
            assert worker.is_alive(), outcome
    worker.join()
    assert outcome["state"] == "skipped"
    assert mail.outbox == []
    assert OutboxMessage.objects.get(pk=message_id).state == MessageState.CANCELLED


def _a_backend_waits_on_a_lock() -> bool:
    with connections["default"].cursor() as cursor:
        # Inside a transaction PostgreSQL keeps one snapshot of the statistics: drop it.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0
