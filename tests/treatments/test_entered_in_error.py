"""A session entered in error stops everything that flows from it (messages queued or claimed,
check-ins, personal links, the front desk's calls, its place on recall notices not yet sent),
lets go of its appointment, and gives its stock back up to the lot's quantity received."""

from __future__ import annotations

import csv
import io
import re
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from clinic.core.exceptions import RuleViolation
from clinic.core.models import CheckInPlanStep
from patients import outbox, tasks
from patients.messages import format_date
from patients.models import CallState, CallTask, MessageKind, MessageState, OutboxMessage
from patients.services import call_task_done
from patients.sms import MemorySMSBackend
from tests.factories import AppointmentFactory, PatientFactory, TreatmentSeriesFactory
from tests.kit.recall_world import recalled_lot
from tests.kit.world import default_plan, logged_session, released_lot
from tests.requirements import require_postgres
from treatments import checkins, recalls
from treatments.aftercare import session_link_url
from treatments.entered_in_error import STOPPED_NOTE
from treatments.models import (
    Appointment,
    AppointmentStatus,
    CheckInState,
    DeliveryMethod,
    ProductLot,
    SessionStatus,
    TreatmentSession,
)
from treatments.recalls import recall_message_all
from treatments.services import lot_correct, session_mark_entered_in_error

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _memory_backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "patients.sms.MemorySMSBackend"
    MemorySMSBackend.outbox = []


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


def deliver_all() -> None:
    """Claim and deliver everything due, as the outbox sweep and its tasks would."""
    while (claim := outbox.outbox_claim_due()) is not None:
        for message_id in claim.message_ids:
            outbox.outbox_deliver(message_id=message_id, claim_token=claim.token)


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


# --- the front desk's calls ---------------------------------------------------------------


def unreachable_patient(clinic):
    return PatientFactory(clinic=clinic, first_name="Hana", consent_to_contact=False)


def test_the_call_about_an_unreachable_patients_check_in_is_cancelled(
    front_desk_client, practitioner_a, clinic_a, one_minute_plan, clock
):
    """GIVEN a patient without consent to be contacted, whose day-1 check-in became a
    "call the patient" task WHEN the session is marked entered in error (wrong patient)
    THEN the call is cancelled with the reason and leaves the front desk's list."""
    session = logged_session(practitioner_a, patient=unreachable_patient(clinic_a))
    clock.shift(timedelta(minutes=2))
    checkins.checkins_dispatch_due()
    task = CallTask.objects.get()
    assert task.state == CallState.OPEN
    assert "Hana" in front_desk_client.get(reverse("patients:calls")).content.decode()

    done = mark(session, practitioner_a)

    task.refresh_from_db()
    assert (task.state, task.outcome) == (CallState.CANCELLED, STOPPED_NOTE)
    assert done.follow_up.calls_cancelled == 1
    assert "Hana" not in front_desk_client.get(reverse("patients:calls")).content.decode()


def test_the_call_about_an_unanswered_check_in_is_cancelled(practitioner_a, one_minute_plan, clock):
    """GIVEN a check-in sent, reminded and never answered (a call task opened) WHEN the
    session is marked entered in error THEN that call is cancelled."""
    session = logged_session(practitioner_a)
    clock.shift(timedelta(minutes=2))
    checkins.checkins_dispatch_due()
    deliver_all()
    clock.shift(checkins.REMIND_AFTER + timedelta(minutes=1))
    checkins.checkins_follow_up()
    deliver_all()
    clock.shift(checkins.CALL_AFTER_REMINDER + timedelta(minutes=1))
    assert checkins.checkins_follow_up() == (0, 1)
    task = CallTask.objects.get(dedupe_key=f"checkin:{session.checkins.get().pk}")

    mark(session, practitioner_a)

    task.refresh_from_db()
    assert task.state == CallState.CANCELLED


def test_the_call_about_a_missed_message_is_cancelled_and_a_call_made_stays_made(
    practitioner_a, front_desk_a, clinic_a, clock
):
    """GIVEN two sessions whose aftercare messages were never delivered within 48 h (each a
    "message missed" call), one call already made WHEN both sessions are marked entered in
    error THEN the open call is cancelled and the call made keeps its outcome."""
    first, second = logged_session(practitioner_a), logged_session(practitioner_a)
    clock.shift(outbox.CATCH_UP_LIMIT + timedelta(hours=1))
    assert outbox.outbox_mark_missed() == 2
    made = CallTask.objects.get(patient=second.patient)
    call_task_done(task=made, user=front_desk_a, outcome="Spoke to the patient.")

    mark(first, practitioner_a)
    mark(second, practitioner_a)

    states = {t.patient_id: (t.state, t.outcome) for t in CallTask.objects.all()}
    assert states == {
        first.patient_id: (CallState.CANCELLED, STOPPED_NOTE),
        second.patient_id: (CallState.DONE, "Spoke to the patient."),
    }


# --- sweeps racing the marking -------------------------------------------------------------


def mark_when_the_sweep_opens_its_row_transaction(monkeypatch, session, user) -> None:
    """The sweep has read its due rows; the marking commits just before the row's own
    transaction starts."""
    real_atomic = checkins.transaction.atomic
    fired = []

    @contextmanager
    def atomic_after_marking(*args, **kwargs):
        if not fired:
            fired.append(True)
            mark(session, user)
        with real_atomic(*args, **kwargs):
            yield

    monkeypatch.setattr(checkins.transaction, "atomic", atomic_after_marking)


def test_a_check_in_sweep_racing_the_marking_opens_no_call_task(
    practitioner_a, clinic_a, one_minute_plan, clock, monkeypatch
):
    """GIVEN an unreachable patient's check-in due, read by the sweep WHEN the session is
    marked entered in error before the sweep handles it THEN no call task is opened and the
    check-in stays cancelled."""
    session = logged_session(practitioner_a, patient=unreachable_patient(clinic_a))
    clock.shift(timedelta(minutes=2))
    mark_when_the_sweep_opens_its_row_transaction(monkeypatch, session, practitioner_a)

    assert checkins.checkins_dispatch_due() == 0

    assert session.checkins.get().state == CheckInState.CANCELLED
    assert not CallTask.objects.exists()


def test_a_reminder_sweep_racing_the_marking_queues_no_reminder(
    practitioner_a, one_minute_plan, clock, monkeypatch
):
    """GIVEN a check-in sent a day ago and unanswered, read by the reminder sweep WHEN the
    session is marked entered in error before the sweep handles it THEN no reminder is
    queued."""
    session = logged_session(practitioner_a)
    clock.shift(timedelta(minutes=2))
    checkins.checkins_dispatch_due()
    deliver_all()
    clock.shift(checkins.REMIND_AFTER + timedelta(minutes=1))
    mark_when_the_sweep_opens_its_row_transaction(monkeypatch, session, practitioner_a)

    assert checkins.checkins_follow_up() == (0, 0)

    assert not OutboxMessage.objects.filter(kind=MessageKind.CHECKIN_REMINDER).exists()
    assert session.checkins.get().state == CheckInState.CANCELLED


def test_a_check_in_sweep_still_queues_and_counts_live_check_ins(
    practitioner_a, clinic_a, one_minute_plan, clock
):
    reachable = logged_session(practitioner_a)
    unreachable = logged_session(practitioner_a, patient=unreachable_patient(clinic_a))
    clock.shift(timedelta(minutes=2))
    assert checkins.checkins_dispatch_due() == 2
    assert checkins.checkins_dispatch_due() == 0
    assert reachable.checkins.get().state == CheckInState.QUEUED
    assert reachable.checkins.get().message.kind == MessageKind.CHECKIN
    assert unreachable.checkins.get().state == CheckInState.MISSED
    assert CallTask.objects.get().patient == unreachable.patient


def test_the_48_hour_catch_up_cancels_a_withdrawn_message_without_a_call(
    practitioner_a, one_minute_plan, clock
):
    """GIVEN a check-in message queued by a sweep that raced the marking, and the outbox
    down for two days WHEN the 48-hour catch-up runs THEN the message is cancelled (its
    session is entered in error), not turned into a "message missed" call."""
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
    clock.shift(timedelta(hours=49))

    assert outbox.outbox_mark_missed() == 0

    late.refresh_from_db()
    assert (late.state, late.last_error) == (MessageState.CANCELLED, STOPPED_NOTE)
    assert not CallTask.objects.exists()


# --- recall notices -------------------------------------------------------------------------


@pytest.fixture
def recall_world(practitioner_a, safety_lead_a):
    """Mina (two sessions with the lot), Joon and Ara (no consent), the lot recalled."""
    return recalled_lot(practitioner_a, safety_lead_a)


def lot_sessions(world, name):
    notice = world.notice(name)
    return list(notice.sessions.order_by("performed_at"))


def test_a_recall_does_not_message_a_patient_whose_only_session_was_entered_in_error(
    practitioner_a, safety_lead_a, safety_lead_client, recall_world
):
    """GIVEN a recall not messaged yet WHEN Joon's only session with the lot is marked
    entered in error and the safety lead presses "message all" THEN Joon gets nothing, and
    the recall page and its CSV show his notice as withdrawn, not as someone to reach."""
    (joon_session,) = lot_sessions(recall_world, "joon")
    mark(joon_session, practitioner_a)

    result = recall_message_all(recall=recall_world.recall, user=safety_lead_a)

    assert (result.queued, result.calls) == (1, 1)  # Mina queued, Ara to call
    joon = recall_world.patients["joon"]
    assert not OutboxMessage.objects.filter(kind=MessageKind.RECALL, patient=joon).exists()
    url = reverse("treatments:recall", kwargs={"uuid": recall_world.recall.uuid})
    html = safety_lead_client.get(url).content.decode()
    rows = dict(re.findall(r'recall-row recall-(\w+)">\s*<td><a [^>]*>([^<]+)</a>', html))
    assert rows == {"queued": "Park, Mina", "withdrawn": "Kim, Joon", "call": "Lee, Ara"}
    assert "2 received this lot" in html
    assert "withdrawn (session entered in error)" in html
    csv_url = reverse("treatments:recall_csv", kwargs={"uuid": recall_world.recall.uuid})
    response = safety_lead_client.get(csv_url)
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    joon_row = next(r for r in rows if r["first name"] == "Joon")
    assert "Withdrawn: session entered in error" in joon_row.values()


def test_a_queued_recall_notice_is_cancelled_and_its_call_closed_when_its_session_is_in_error(
    practitioner_a, safety_lead_a, recall_world
):
    """GIVEN "message all" pressed (Joon's notice queued, Ara's a call) WHEN Joon's and Ara's
    only sessions are marked entered in error THEN Joon's notice is cancelled unsent and
    Ara's call is cancelled."""
    recall_message_all(recall=recall_world.recall, user=safety_lead_a)
    joon, ara = recall_world.notice("joon"), recall_world.notice("ara")

    done = mark(lot_sessions(recall_world, "joon")[0], practitioner_a)
    mark(lot_sessions(recall_world, "ara")[0], practitioner_a)

    joon.message.refresh_from_db()
    assert (joon.message.state, joon.message.last_error) == (MessageState.CANCELLED, STOPPED_NOTE)
    assert CallTask.objects.get(pk=ara.call_task_id).state == CallState.CANCELLED
    assert done.follow_up.notices_withdrawn == 1
    deliver_all()
    sent = OutboxMessage.objects.filter(kind=MessageKind.RECALL, state=MessageState.SENT)
    assert [m.patient for m in sent] == [recall_world.patients["mina"]]


def test_a_patient_with_another_live_session_still_gets_the_notice_naming_only_that_one(
    practitioner_a, safety_lead_a, recall_world, clinic_a
):
    """GIVEN Mina received the lot in two sessions WHEN one is entered in error THEN her
    notice still goes out and names only the live session's date."""
    wrong, live = lot_sessions(recall_world, "mina")
    TreatmentSession.objects.filter(pk=wrong.pk).update(
        performed_at=live.performed_at - timedelta(days=40)
    )
    wrong.refresh_from_db()
    mark(wrong, practitioner_a)

    recall_message_all(recall=recall_world.recall, user=safety_lead_a)
    deliver_all()

    sent = OutboxMessage.objects.get(
        kind=MessageKind.RECALL, state=MessageState.SENT, patient=recall_world.patients["mina"]
    )
    assert format_date(live.performed_at, language="en", clinic=clinic_a) in sent.body
    assert format_date(wrong.performed_at, language="en", clinic=clinic_a) not in sent.body
    assert [s.pk for s in recall_world.notice("mina").sessions.all()] == [live.pk]


def test_a_recall_message_of_a_notice_with_no_live_session_is_withdrawn_at_delivery(
    practitioner_a, recall_world
):
    """GIVEN Joon's only session entered in error WHEN a recall message for his notice is
    queued anyway (a "message all" racing the marking) THEN delivery cancels it unsent."""
    mark(lot_sessions(recall_world, "joon")[0], practitioner_a)
    notice = recall_world.notice("joon")
    late = outbox.message_to_patient(
        patient=notice.patient,
        kind=MessageKind.RECALL,
        due_at=timezone.now(),
        idempotency_key=f"recall:{notice.recall_id}:{notice.patient_id}",
        context={"notice": notice.pk},
    )
    deliver_all()
    late.refresh_from_db()
    assert (late.state, late.last_error) == (MessageState.CANCELLED, STOPPED_NOTE)
    assert [m for m in MemorySMSBackend.outbox if m["to"] == notice.patient.phone] == []


# --- the appointment ---------------------------------------------------------------------


@pytest.fixture
def todays_appointment(practitioner_a, clinic_a):
    default_plan(clinic_a)
    patient = PatientFactory(clinic=clinic_a)
    now = timezone.now()
    return AppointmentFactory(
        patient=patient,
        practitioner=practitioner_a,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        status=AppointmentStatus.ARRIVED,
    )


def test_the_correct_session_can_be_logged_against_the_appointment_after_the_wrong_one(
    practitioner_a, clinic_a, todays_appointment
):
    """GIVEN a session logged against today's appointment with the wrong lot WHEN it is
    marked entered in error THEN the appointment is arrived again, free of it (the link is
    kept in the session's history), and the correct session is logged against it."""
    appointment = todays_appointment
    wrong = logged_session(practitioner_a, patient=appointment.patient, appointment=appointment)

    mark(wrong, practitioner_a, reason="Wrong lot")

    appointment.refresh_from_db()
    wrong.refresh_from_db()
    assert appointment.status == AppointmentStatus.ARRIVED
    assert wrong.appointment is None
    assert appointment.pk in set(wrong.history.values_list("appointment_id", flat=True))
    right = logged_session(
        practitioner_a,
        patient=appointment.patient,
        appointment=appointment,
        lot=released_lot(clinic_a),
    )
    appointment.refresh_from_db()
    assert (right.appointment, appointment.status) == (appointment, AppointmentStatus.COMPLETED)


def test_the_log_page_of_the_appointment_opens_again_after_the_wrong_session(
    practitioner_client, practitioner_a, clinic_a, todays_appointment
):
    appointment = todays_appointment
    wrong = logged_session(practitioner_a, patient=appointment.patient, appointment=appointment)
    url = reverse("clinical:session_new_from_appointment", kwargs={"uuid": appointment.uuid})
    assert practitioner_client.get(url).status_code == 302
    marked = practitioner_client.post(
        reverse("clinical:session_entered_in_error", kwargs={"uuid": wrong.uuid}),
        {"reason": "Wrong lot", "understood": "on", "confirm": "yes"},
        follow=True,
    )
    assert "Its appointment is open again (arrived)" in marked.content.decode()
    wrong.refresh_from_db()
    assert wrong.status == SessionStatus.ENTERED_IN_ERROR

    assert practitioner_client.get(url).status_code == 200
    lot = released_lot(clinic_a, lot_number="EXO-RIGHT-1")
    response = practitioner_client.post(
        url,
        {
            "delivery_method": DeliveryMethod.MICRONEEDLING,
            "needle_depth_mm": "0.75",
            "treated_areas": ["cheeks"],
            "lot": lot.lot_number,
            "units_used": "1",
            "aftercare_given": "on",
        },
    )
    right = TreatmentSession.objects.exclude(pk=wrong.pk).get(patient=appointment.patient)
    assert response["Location"] == reverse("clinical:aftercare", kwargs={"uuid": right.uuid})
    assert right.appointment_id == appointment.pk


def test_marking_keeps_the_series_maintenance_reminder_at_its_last_session(
    practitioner_a, clinic_a, todays_appointment
):
    """The appointment goes back to arrived, still part of the series: the maintenance
    reminder stays planned from it (re-synced, one pending message)."""
    series = TreatmentSeriesFactory(patient=todays_appointment.patient, clinic=clinic_a)
    Appointment.objects.filter(pk=todays_appointment.pk).update(series=series)
    todays_appointment.refresh_from_db()
    wrong = logged_session(
        practitioner_a, patient=todays_appointment.patient, appointment=todays_appointment
    )
    mark(wrong, practitioner_a)
    series.refresh_from_db()
    assert series.maintenance_due_on is not None
    assert (
        OutboxMessage.objects.filter(
            kind=MessageKind.MAINTENANCE, state=MessageState.PENDING
        ).count()
        == 1
    )


def test_the_api_answer_says_which_appointment_was_freed_and_the_page_says_so_too(
    practitioner_client, practitioner_a, clinic_a, todays_appointment
):
    appointment = todays_appointment
    wrong = logged_session(practitioner_a, patient=appointment.patient, appointment=appointment)
    response = practitioner_client.post(
        f"/api/v1/sessions/{wrong.uuid}/entered-in-error/",
        {"reason": "Wrong lot"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["appointment_freed"] == str(appointment.uuid)
    assert (body["calls_cancelled"], body["recall_notices_withdrawn"]) == (0, 0)
    walk_in = logged_session(practitioner_a, patient=appointment.patient)
    page = practitioner_client.post(
        reverse("clinical:session_entered_in_error", kwargs={"uuid": walk_in.uuid}),
        {"reason": "Never happened", "understood": "on", "confirm": "yes"},
        follow=True,
    )
    assert "Its appointment is open again" not in page.content.decode()


def test_a_failed_recall_notice_call_is_cancelled_and_a_notice_that_reached_stays(
    practitioner_a, safety_lead_a, recall_world
):
    """GIVEN "message all" sent: Mina's notice reached her, Joon's failed (a call to make)
    WHEN both patients' sessions with the lot are marked entered in error THEN Joon's call
    is cancelled and his notice withdrawn; Mina's notice still says it reached her, with the
    sessions it named."""
    recall_message_all(recall=recall_world.recall, user=safety_lead_a)
    deliver_all()
    joon = recall_world.notice("joon")
    OutboxMessage.objects.filter(pk=joon.message_id).update(state=MessageState.FAILED)
    recall_message_all(recall=recall_world.recall, user=safety_lead_a)  # Joon: to call
    joon.refresh_from_db()
    assert joon.call_task.state == CallState.OPEN

    for name in ("joon", "mina"):
        for session in lot_sessions(recall_world, name):
            mark(session, practitioner_a)

    joon.call_task.refresh_from_db()
    assert joon.call_task.state == CallState.CANCELLED
    notices = {n.patient.first_name: n for n in recalls.recall_notices(recall_world.recall)}
    assert recalls.reach_status(notices["Joon"])[0] == "withdrawn"
    assert recalls.reach_status(notices["Mina"])[0] == "reached"
    assert recall_world.notice("mina").sessions.count() == 2
