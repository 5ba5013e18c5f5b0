"""Check-ins: planned with the session (time zones, quiet hours), dispatched through the
outbox with a working personal link, reminded once, then handed to the front desk."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from clinic.core.models import CheckInPlanStep
from patients import outbox
from patients.links import link_resolve
from patients.models import CallReason, CallTask, LinkPurpose, MessageKind, MessageState
from tests.factories import PatientFactory, TreatmentSessionFactory
from tests.kit.world import default_plan, logged_session
from treatments import checkins
from treatments.models import CheckIn, CheckInState
from treatments.services import session_mark_entered_in_error

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
H2 = timedelta(hours=2)


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://clinic.example"


@pytest.fixture
def seoul_morning():
    """The clock at 10:00 in Seoul (outside quiet hours); shift it with `.shift(delta)`."""
    with time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=SEOUL), tick=False) as traveller:
        yield traveller


def deliver_all() -> None:
    while (claim := outbox.outbox_claim_due()) is not None:
        for message_id in claim.message_ids:
            outbox.outbox_deliver(message_id=message_id, claim_token=claim.token)


def checkin_mails() -> list:
    """Check-in messages only (the aftercare email also carries a link)."""
    return [m for m in mail.outbox if "how are you since your treatment" in m.subject]


def link_in(body: str) -> str:
    match = re.search(r"https://clinic\.example/r/([\w-]+)/", body)
    assert match, body
    return match.group(1)


# --- planning -------------------------------------------------------------------------------


def test_logging_a_session_plans_one_check_in_per_plan_step(clinic_a, practitioner_a):
    default_plan(clinic_a)
    with time_machine.travel(datetime(2026, 3, 2, 11, 0, tzinfo=SEOUL), tick=False):
        session = logged_session(practitioner_a)
    rows = list(session.checkins.order_by("due_at"))
    assert [c.step_code for c in rows] == ["d1", "d3", "d7", "d14", "w6", "m3"]
    assert rows[0].due_at == datetime(2026, 3, 3, 11, 0, tzinfo=SEOUL)
    assert rows[-1].due_at == datetime(2026, 6, 1, 11, 0, tzinfo=SEOUL)
    assert {c.state for c in rows} == {CheckInState.SCHEDULED}
    # Planning again (a retried task, a double call) adds nothing.
    checkins.checkins_plan(session=session)
    assert session.checkins.count() == 6


@pytest.mark.parametrize(
    ("performed_local", "offset", "expected_local"),
    [
        # 20:30 + 1 day = 20:30, outside quiet hours: unchanged.
        (datetime(2026, 3, 2, 20, 30), timedelta(days=1), datetime(2026, 3, 3, 20, 30)),
        # 20:30 + 1 hour = 21:30: quiet until 08:00 the next morning.
        (datetime(2026, 3, 2, 20, 30), timedelta(hours=1), datetime(2026, 3, 3, 8, 0)),
        # 23:00 + 3 hours = 02:00: quiet until 08:00 the same morning.
        (datetime(2026, 3, 2, 23, 0), timedelta(hours=3), datetime(2026, 3, 3, 8, 0)),
        # Exactly 08:00 is allowed.
        (datetime(2026, 3, 2, 7, 0), timedelta(hours=1), datetime(2026, 3, 2, 8, 0)),
    ],
)
def test_check_ins_never_fall_in_the_patients_quiet_hours(
    clinic_a, performed_local, offset, expected_local
):
    moment = performed_local.replace(tzinfo=SEOUL) + offset
    moved = clinic_a.outside_quiet_hours(moment)
    assert moved.astimezone(SEOUL).replace(tzinfo=None) == expected_local


def test_quiet_hours_follow_the_clinics_own_time_zone(clinic_b):
    # 02:00 UTC is 21:00 in New York (EST): quiet, so 08:00 New York the next day.
    moment = datetime(2026, 1, 15, 2, 0, tzinfo=ZoneInfo("UTC"))
    moved = clinic_b.outside_quiet_hours(moment)
    assert moved == datetime(2026, 1, 15, 8, 0, tzinfo=ZoneInfo("America/New_York"))


def test_planning_many_sessions_at_once_gives_each_its_clinics_plan_once(
    clinic_a, clinic_b, django_assert_max_num_queries
):
    """GIVEN sessions at two clinics (Seoul, New York), one of which already has an answered
          day-1 check-in
    WHEN  a backfill plans them all at once, and then again
    THEN  every session has one scheduled check-in per step of its clinic's plan, due outside
          that clinic's quiet hours; the answered one is left as it was; the second run adds
          nothing. (PostgreSQL streams the rows with COPY, SQLite inserts them: same rows.)"""
    default_plan(clinic_a)
    CheckInPlanStep.objects.create(clinic=clinic_b, code="h2", label="2 hours", offset=H2)
    # 20:30 in Seoul, 20:30 in New York: +2 h falls in New York's quiet hours.
    evening = datetime(2026, 3, 2, 20, 30)
    seoul = [
        TreatmentSessionFactory(clinic=clinic_a, performed_at=evening.replace(tzinfo=SEOUL))
        for _ in range(3)
    ]
    new_york = [
        TreatmentSessionFactory(clinic=clinic_b, performed_at=evening.replace(tzinfo=NEW_YORK))
        for _ in range(2)
    ]
    answered = CheckIn.objects.create(
        session=seoul[0],
        step_code="d1",
        step_label="kept as it was",
        due_at=datetime(2026, 3, 3, 20, 30, tzinfo=SEOUL),
        state=CheckInState.ANSWERED_FINE,
        answered_at=datetime(2026, 3, 3, 21, 0, tzinfo=SEOUL),
    )

    with django_assert_max_num_queries(8):  # not one per session (savepoints count)
        offered = checkins.checkins_plan_many(sessions=seoul + new_york)

    assert offered == 3 * 6 + 2
    for session in seoul:
        rows = list(session.checkins.order_by("due_at"))
        assert [c.step_code for c in rows] == ["d1", "d3", "d7", "d14", "w6", "m3"]
        assert rows[1].due_at == datetime(2026, 3, 5, 20, 30, tzinfo=SEOUL)  # day 3
    for session in new_york:
        row = session.checkins.get()
        assert (row.step_code, row.step_label) == ("h2", "2 hours")
        assert row.due_at == datetime(2026, 3, 3, 8, 0, tzinfo=NEW_YORK)  # after quiet hours
    fresh = CheckIn.objects.exclude(pk=answered.pk)
    assert {c.state for c in fresh} == {CheckInState.SCHEDULED}
    assert fresh.filter(message__isnull=True, link__isnull=True, sent_at__isnull=True).count() == 19
    assert len({c.uuid for c in CheckIn.objects.all()}) == 20
    assert all(c.created_at and c.updated_at for c in fresh)
    answered.refresh_from_db()
    assert (answered.state, answered.step_label) == (CheckInState.ANSWERED_FINE, "kept as it was")

    assert checkins.checkins_plan_many(sessions=seoul + new_york) == 20
    assert CheckIn.objects.count() == 20


def test_planning_skips_rows_a_concurrent_planner_inserted_meanwhile(clinic_a, monkeypatch):
    """GIVEN a session whose day-1 check-in another planner inserted after this one looked
          (on PostgreSQL the COPY then meets the unique constraint)
    WHEN  planning goes ahead
    THEN  it does not fail: the other rows are inserted and the existing one is kept."""
    default_plan(clinic_a)
    session = TreatmentSessionFactory(clinic=clinic_a)
    CheckIn.objects.create(
        session=session, step_code="d1", step_label="theirs", due_at=session.performed_at + H2
    )
    monkeypatch.setattr(checkins, "_planned_already", lambda session_ids: set())

    assert checkins.checkins_plan_many(sessions=[session]) == 6
    assert session.checkins.count() == 6
    assert session.checkins.get(step_code="d1").step_label == "theirs"


# --- dispatch and delivery ------------------------------------------------------------------


def test_a_due_check_in_is_sent_with_a_link_that_opens_that_check_in(
    clinic_a, practitioner_a, seoul_morning
):
    CheckInPlanStep.objects.create(
        clinic=clinic_a, code="m1", label="1 minute", offset=timedelta(minutes=1)
    )
    patient = PatientFactory(clinic=clinic_a, first_name="Mina", email="mina@example.com")
    session = logged_session(practitioner_a, patient=patient)
    checkin = session.checkins.get()
    assert checkins.checkins_dispatch_due() == 0  # not due yet

    seoul_morning.shift(timedelta(minutes=2))
    assert checkins.checkins_dispatch_due() == 1
    checkin.refresh_from_db()
    assert checkin.state == CheckInState.QUEUED and checkin.message.kind == MessageKind.CHECKIN
    deliver_all()

    checkin.refresh_from_db()
    assert checkin.state == CheckInState.SENT and checkin.sent_at is not None
    (email,) = checkin_mails()
    assert email.body.startswith("Hi Mina,") and clinic_a.name in email.body
    assert patient.last_name not in email.body  # first name only
    token = link_in(email.body)
    link = link_resolve(token)
    assert link == checkin.link and link.purpose == LinkPurpose.CHECKIN
    assert link.expires_at - link.created_at == timedelta(days=7)
    # The stored copy of the message holds no token.
    checkin.message.refresh_from_db()
    assert token not in checkin.message.body and "[personal link]" in checkin.message.body


def test_a_patient_who_cannot_be_messaged_becomes_a_call_not_a_silent_drop(
    clinic_a, practitioner_a, seoul_morning
):
    CheckInPlanStep.objects.create(
        clinic=clinic_a, code="m1", label="1 minute", offset=timedelta(minutes=1)
    )
    patient = PatientFactory(clinic=clinic_a, consent_to_contact=False)
    session = logged_session(practitioner_a, patient=patient)
    seoul_morning.shift(timedelta(minutes=2))
    checkins.checkins_dispatch_due()
    assert session.checkins.get().state == CheckInState.MISSED
    assert CallTask.objects.get(patient=patient).reason == CallReason.UNANSWERED_CHECKIN


def test_an_unanswered_check_in_is_reminded_once_with_a_new_link_then_becomes_a_call(
    clinic_a, practitioner_a, seoul_morning
):
    """GIVEN a check-in sent and not answered
    WHEN 24 h pass THEN one reminder goes out with a new link and the old link ends
    WHEN 24 h more pass THEN the check-in is missed and the front desk has a call."""
    CheckInPlanStep.objects.create(
        clinic=clinic_a, code="m1", label="1 minute", offset=timedelta(minutes=1)
    )
    patient = PatientFactory(clinic=clinic_a, email="pat@example.com")
    session = logged_session(practitioner_a, patient=patient)
    seoul_morning.shift(timedelta(minutes=2))
    checkins.checkins_dispatch_due()
    deliver_all()
    checkin = session.checkins.get()
    first_token = link_in(checkin_mails()[-1].body)

    seoul_morning.shift(timedelta(hours=25))
    assert checkins.checkins_follow_up() == (1, 0)
    assert checkins.checkins_follow_up() == (0, 0)  # once only
    deliver_all()
    checkin.refresh_from_db()
    assert checkin.state == CheckInState.REMINDED
    reminder = checkin_mails()[-1].body
    assert reminder.startswith(f"Hi {patient.first_name}, a reminder:")
    second_token = link_in(reminder)
    assert second_token != first_token
    assert link_resolve(second_token) == checkin.link
    assert link_resolve(first_token) is None  # re-sending ends the old link

    seoul_morning.shift(timedelta(hours=25))
    assert checkins.checkins_follow_up() == (0, 1)
    checkin.refresh_from_db()
    assert checkin.state == CheckInState.MISSED
    assert CallTask.objects.get(patient=patient).reason == CallReason.UNANSWERED_CHECKIN


def test_an_undeliverable_check_in_is_marked_failed(
    clinic_a, practitioner_a, monkeypatch, seoul_morning
):
    CheckInPlanStep.objects.create(
        clinic=clinic_a, code="m1", label="1 minute", offset=timedelta(minutes=1)
    )
    session = logged_session(practitioner_a)

    def refuse(msg, rendered):
        raise outbox.PermanentDeliveryError("mailbox does not exist")

    seoul_morning.shift(timedelta(minutes=2))
    checkins.checkins_dispatch_due()
    monkeypatch.setattr(outbox, "_send", refuse)
    deliver_all()
    checkin = session.checkins.get()
    assert checkin.message.state == MessageState.FAILED
    assert checkin.state == CheckInState.FAILED
    assert CallTask.objects.get(message=checkin.message).reason == CallReason.FAILED_MESSAGE


def test_a_session_entered_in_error_cancels_its_check_ins_and_returns_stock(
    clinic_a, practitioner_a
):
    default_plan(clinic_a)
    session = logged_session(practitioner_a, units_used=2)
    lot_before = session.lot.quantity_on_hand
    session_mark_entered_in_error(session=session, user=practitioner_a, reason="Wrong patient")
    assert set(session.checkins.values_list("state", flat=True)) == {CheckInState.CANCELLED}
    session.lot.refresh_from_db()
    assert session.lot.quantity_on_hand == lot_before + 2
    assert session.status == "entered_in_error"
