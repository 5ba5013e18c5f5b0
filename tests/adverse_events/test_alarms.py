"""Grouped red-flag alarms (issue 15): one open alarm per session, the 15-minute on-call
throttle with its escalation exceptions, a new alarm after acknowledgement, and what the
on-call message says (and never says) in the clinic's staff language."""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import dateformat, timezone

from adverse_events import services
from adverse_events.models import Alarm, Submission
from patients.models import MessageKind, OutboxMessage
from tests.adverse_events.patient_form_world import reaction, session_with_link

pytestmark = pytest.mark.django_db

# Two days ahead at 01:00 UTC (10:00 in Seoul): after the session the world logs now.
T0 = (timezone.now() + timedelta(days=2)).replace(hour=1, minute=0, second=0, microsecond=0)


@pytest.fixture
def reached(practitioner_a):
    return session_with_link(practitioner_a)


def red_flag(link, *codes, severity=1, free_text="", clinic_zone="Asia/Seoul"):
    today = timezone.localdate(timezone=ZoneInfo(clinic_zone))
    return services.submission_record(
        link=link,
        submission_id=uuid.uuid4(),
        all_fine=False,
        reactions=[reaction(c, patient_severity=severity, onset_date=today) for c in codes],
        free_text=free_text,
    ).submission


def alerts():
    return list(OutboxMessage.objects.filter(kind=MessageKind.RED_FLAG_ALERT).order_by("pk"))


def test_three_red_flag_submits_on_one_session_make_one_alarm_and_one_message(reached):
    """GIVEN a session WHEN the patient submits the same red flag three times in a few minutes
    THEN one open alarm holds all three submissions and the on-call phone got one message."""
    with time_machine.travel(T0, tick=False) as clock:
        subs = [red_flag(reached.link, "breathing_difficulty")]
        for _ in range(2):
            clock.shift(timedelta(minutes=4))
            subs.append(red_flag(reached.link, "breathing_difficulty"))

    alarm = Alarm.objects.get()
    assert set(alarm.submissions.all()) == set(subs)
    assert alarm.submission == subs[0] and alarm.session == reached.session
    assert [t.code for t in alarm.terms.all()] == ["breathing_difficulty"]
    assert len(alerts()) == 1


def test_another_message_goes_out_once_15_minutes_have_passed(reached):
    with time_machine.travel(T0, tick=False) as clock:
        red_flag(reached.link, "breathing_difficulty")
        clock.shift(timedelta(minutes=14, seconds=59))
        red_flag(reached.link, "breathing_difficulty")
        assert len(alerts()) == 1
        clock.shift(timedelta(seconds=1))
        red_flag(reached.link, "breathing_difficulty")
        assert len(alerts()) == 2
        clock.shift(timedelta(minutes=5))
        red_flag(reached.link, "breathing_difficulty")
    assert len(alerts()) == 2
    assert Alarm.objects.count() == 1


def test_a_red_flag_reaction_not_yet_in_the_alarm_is_sent_at_once(reached):
    with time_machine.travel(T0, tick=False) as clock:
        red_flag(reached.link, "breathing_difficulty")
        clock.shift(timedelta(minutes=2))
        red_flag(reached.link, "breathing_difficulty", "face_throat_swelling")
    first, second = alerts()
    assert "얼굴" not in first.body and "얼굴" in second.body  # face (throat) swelling
    alarm = Alarm.objects.get()
    assert {t.code for t in alarm.terms.all()} == {"breathing_difficulty", "face_throat_swelling"}


def test_a_higher_severity_is_sent_at_once_and_a_lower_one_waits(reached):
    with time_machine.travel(T0, tick=False) as clock:
        red_flag(reached.link, "breathing_difficulty", severity=2)
        clock.shift(timedelta(minutes=1))
        red_flag(reached.link, "breathing_difficulty", severity=1)
        assert len(alerts()) == 1
        clock.shift(timedelta(minutes=1))
        red_flag(reached.link, "breathing_difficulty", severity=3)
    assert len(alerts()) == 2
    assert "심함" in alerts()[1].body  # severe
    assert Alarm.objects.get().severity == 3


def test_a_red_flag_after_acknowledgement_opens_a_new_alarm_and_sends(reached, practitioner_a):
    with time_machine.travel(T0, tick=False) as clock:
        first = red_flag(reached.link, "breathing_difficulty").alarm
        clock.shift(timedelta(minutes=3))
        services.alarm_acknowledge(alarm=first, user=practitioner_a, note="Called, at the ER")
        clock.shift(timedelta(minutes=3))
        second = red_flag(reached.link, "breathing_difficulty").alarm
    assert second.pk != first.pk and second.acknowledged_at is None
    assert len(alerts()) == 2
    assert Alarm.objects.filter(acknowledged_at__isnull=True).get() == second


def test_another_session_of_the_same_patient_has_its_own_alarm(reached, practitioner_a):
    red_flag(reached.link, "breathing_difficulty")
    other = session_with_link(practitioner_a)
    red_flag(other.link, "breathing_difficulty")
    assert Alarm.objects.filter(acknowledged_at__isnull=True).count() == 2


def test_the_database_refuses_a_second_open_alarm_on_a_session(reached):
    alarm = red_flag(reached.link, "breathing_difficulty").alarm
    other = Submission.objects.create(
        clinic=alarm.clinic,
        patient=alarm.patient,
        session=alarm.session,
        link=reached.link,
        submission_id=uuid.uuid4(),
        source="patient_form",
        red_flag=True,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Alarm.objects.create(
            clinic=alarm.clinic, patient=alarm.patient, session=alarm.session, submission=other
        )


def test_a_submit_that_loses_the_race_to_open_the_alarm_joins_the_winner(reached, monkeypatch):
    """GIVEN another request opened the session's alarm after our look-up found none
    WHEN our insert hits the one-open-alarm constraint THEN we join that alarm, no error."""
    winner = red_flag(reached.link, "breathing_difficulty").alarm
    real_first = Alarm.objects.none().__class__.first
    calls = {"n": 0}

    def blind_once(qs):
        calls["n"] += 1
        return None if calls["n"] == 1 else real_first(qs)

    monkeypatch.setattr(type(Alarm.objects.all()), "first", blind_once)
    late = red_flag(reached.link, "breathing_difficulty")
    assert late.alarm == winner
    assert Alarm.objects.count() == 1 and winner.submissions.count() == 2


def test_a_submit_whose_winning_alarm_is_acknowledged_before_it_joins_opens_a_new_one(
    reached, practitioner_a, monkeypatch
):
    """GIVEN our look-up found no open alarm and our insert then lost to another request's
    alarm WHEN a clinician acknowledges that alarm before we read it back THEN the patient's
    red flag still opens a new alarm (and alerts on-call), never a server error."""
    with time_machine.travel(T0, tick=False):
        winner = red_flag(reached.link, "breathing_difficulty").alarm
    real_first = Alarm.objects.none().__class__.first
    calls = {"n": 0}

    def blind_then_acknowledged(qs):
        if qs.model is Alarm:
            calls["n"] += 1
            if calls["n"] == 1:
                return None  # the look-up before the winner committed
            if calls["n"] == 2:  # the read-back after our insert lost
                services.alarm_acknowledge(alarm=winner, user=practitioner_a, note="Called")
        return real_first(qs)

    monkeypatch.setattr(type(Alarm.objects.all()), "first", blind_then_acknowledged)
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        late = red_flag(reached.link, "breathing_difficulty")
    monkeypatch.undo()
    assert late.alarm is not None and late.alarm.pk != winner.pk
    assert Alarm.objects.filter(acknowledged_at__isnull=True).get() == late.alarm
    assert list(late.alarm.submissions.all()) == [late]
    assert len(alerts()) == 2


def test_already_acknowledged_names_who_and_the_time_on_the_clinics_clock(
    reached, practitioner_a, safety_lead_a
):
    """The server runs in UTC; clinic A is in Seoul: 01:00 UTC is 10:00 on the clinic's clock."""
    from clinic.core.exceptions import Conflict

    practitioner_a.first_name, practitioner_a.last_name = "Hana", "Kim"
    practitioner_a.save(update_fields=["first_name", "last_name"])
    with time_machine.travel(T0, tick=False):
        alarm = red_flag(reached.link, "breathing_difficulty").alarm
        services.alarm_acknowledge(alarm=alarm, user=practitioner_a, note="Called")
    with pytest.raises(Conflict) as second:
        services.alarm_acknowledge(alarm=alarm, user=safety_lead_a, note="Me too")
    assert "by Hana Kim at 10:00" in second.value.message


# --- what the message says -------------------------------------------------------------------


def test_the_on_call_message_says_clinic_reaction_severity_time_and_link(reached, clinic_b):
    patient = reached.session.patient
    with time_machine.travel(T0, tick=False):
        submission = red_flag(
            reached.link, "breathing_difficulty", severity=3, free_text="Cannot breathe well"
        )
    (alert,) = alerts()
    text = f"{alert.subject}\n{alert.body}"
    report = submission.reactions.get()
    assert reached.session.clinic.name in text
    assert "숨쉬기 어려움" in text  # clinic A's staff read Korean
    assert "심함" in text
    day = T0.astimezone(ZoneInfo("Asia/Seoul"))
    assert f"{day.year}년 {day.month}월 {day.day}일" in text and "10:00 (Asia/Seoul)" in text
    assert f"/reactions/{report.uuid}/" in text
    assert "적신호" in alert.subject
    dob = patient.date_of_birth
    for private in (
        patient.first_name,
        patient.last_name,
        dob.isoformat(),
        dob.strftime("%d/%m/%Y"),
        "Cannot breathe",
    ):
        assert private.lower() not in text.lower()


def test_clinic_b_gets_the_on_call_message_in_english_in_new_york_time(practitioner_b):
    reached = session_with_link(practitioner_b)
    at = T0 + timedelta(hours=14, minutes=30)
    with time_machine.travel(at, tick=False):
        red_flag(reached.link, "face_throat_swelling", severity=2, clinic_zone="America/New_York")
    (alert,) = alerts()
    text = f"{alert.subject}\n{alert.body}"
    assert alert.subject.startswith("Red flag at New York")
    assert "Angioedema (face / throat)" in text and "moderate" in text
    local = at.astimezone(ZoneInfo("America/New_York"))
    assert dateformat.format(local, "D j M Y, H:i") in text and "America/New_York" in text
    assert "Open the report now" in text


# --- existing rows -----------------------------------------------------------------------------


def test_the_migration_fills_existing_alarms_from_their_submission(practitioner_a):
    """GIVEN alarms from before grouping (no terms, severity unset, submission not linked)
    WHEN the data step of 0005 runs THEN each gets its red-flag terms, the patient's highest
    severity for them, and its submission linked to it."""
    import importlib

    from django.apps import apps

    from adverse_events.models import ReactionReport, ReactionTerm
    from tests.factories import AlarmFactory, ReactionReportFactory

    migration = importlib.import_module("adverse_events.migrations.0006_grouped_alarms")
    alarm = AlarmFactory(clinic=practitioner_a.memberships.first().clinic)
    breathing = ReactionTerm.objects.get(code="breathing_difficulty")
    for code, severity in (("breathing_difficulty", 2), ("redness", 3)):
        ReactionReportFactory(
            session=alarm.session,
            submission=alarm.submission,
            term=ReactionTerm.objects.get(code=code),
            patient_severity=severity,
        )
    Submission.objects.filter(pk=alarm.submission_id).update(alarm=None)
    Alarm.objects.filter(pk=alarm.pk).update(severity=1)

    migration.group_existing(apps, None)

    alarm.refresh_from_db()
    assert list(alarm.terms.all()) == [breathing]  # redness is no red flag
    assert alarm.severity == 2  # the red flag's severity, not the redness's
    assert list(alarm.submissions.all()) == [alarm.submission]
    assert alarm.alerted_at == alarm.raised_at == alarm.last_reported_at
    assert ReactionReport.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_red_flag_submits_at_the_same_moment_open_one_alarm(practitioner_a):
    """GIVEN one session WHEN two red-flag submits arrive at the same instant on PostgreSQL
    THEN both are recorded, in one open alarm, with one on-call message."""
    import threading

    from django.db import connection

    from adverse_events.models import ReactionTerm
    from adverse_events.vocabulary import load_terms
    from tests.requirements import require_postgres

    require_postgres()
    if not ReactionTerm.objects.exists():  # transactional tests flush the vocabulary
        load_terms(ReactionTerm)
    reached = session_with_link(practitioner_a)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def submit():
        barrier.wait()
        try:
            red_flag(reached.link, "breathing_difficulty")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert Submission.objects.filter(red_flag=True).count() == 2
    alarm = Alarm.objects.get()
    assert alarm.submissions.count() == 2
    assert len(alerts()) == 1
