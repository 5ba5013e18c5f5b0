"""submission_record: exactly once, red flags, check-in answers, and the rules it enforces."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from adverse_events import services
from adverse_events.models import (
    Alarm,
    Assessment,
    ReactionReport,
    ReportSource,
    Submission,
    TriageStatus,
)
from clinic.core.exceptions import Conflict, RuleViolation
from patients.links import link_revoke
from patients.models import MessageKind, OutboxMessage
from tests.adverse_events.patient_form_world import (
    checkin_with_link,
    days_ago,
    reaction,
    seoul_today,
    session_with_link,
)
from treatments.models import CheckInState

pytestmark = pytest.mark.django_db


@pytest.fixture
def reached(practitioner_a):
    return session_with_link(practitioner_a)


def record(link, **kwargs):
    kwargs.setdefault("submission_id", uuid.uuid4())
    kwargs.setdefault("all_fine", False)
    return services.submission_record(link=link, **kwargs)


def test_the_same_submission_id_records_one_submission_and_returns_the_first(reached):
    """GIVEN one form's submission id WHEN it is posted twice (double tap, back button)
    THEN one Submission with one report exists and the second call gets the first back."""
    sid = uuid.uuid4()
    first = record(reached.link, submission_id=sid, reactions=[reaction("redness")])
    second = record(reached.link, submission_id=sid, reactions=[reaction("redness")])

    assert first.created and not second.created
    assert second.submission.pk == first.submission.pk
    assert Submission.objects.count() == 1
    assert ReactionReport.objects.count() == 1


def test_a_racing_duplicate_insert_returns_the_first_submission(reached, monkeypatch):
    """GIVEN a submission already committed by a parallel request after our pre-check
    WHEN our insert hits the unique constraint THEN we return that one, not an error."""
    sid = uuid.uuid4()
    first = record(reached.link, submission_id=sid, all_fine=True)
    real_existing = services._existing
    calls = {"n": 0}

    def blind_first_time(**kwargs):
        calls["n"] += 1
        return None if calls["n"] == 1 else real_existing(**kwargs)

    monkeypatch.setattr(services, "_existing", blind_first_time)
    again = record(reached.link, submission_id=sid, all_fine=True)
    assert not again.created and again.submission.pk == first.submission.pk
    assert Submission.objects.count() == 1


def test_a_submission_id_of_another_link_is_refused(reached, practitioner_a):
    other = session_with_link(practitioner_a)
    sid = uuid.uuid4()
    record(reached.link, submission_id=sid, all_fine=True)
    with pytest.raises(Conflict):
        record(other.link, submission_id=sid, all_fine=True)


def test_coming_back_later_through_the_same_link_makes_a_new_report(reached):
    record(reached.link, all_fine=True)
    record(reached.link, reactions=[reaction("swelling")])
    assert Submission.objects.filter(link=reached.link).count() == 2


def test_each_reaction_gets_a_report_and_a_new_assessment(reached):
    recorded = record(
        reached.link,
        reactions=[reaction("redness"), reaction("bruising", patient_severity=2)],
        free_text="Worse in the morning.",
        language="ko",
    )
    submission = recorded.submission
    reports = list(submission.reactions.order_by("term__display_order"))
    assert [r.term.code for r in reports] == ["redness", "bruising"]
    assert all(
        r.session == reached.session and r.patient == reached.session.patient for r in reports
    )
    assert all(r.source == ReportSource.PATIENT_FORM for r in reports)
    assert (
        Assessment.objects.filter(report__in=reports, triage_status=TriageStatus.NEW).count() == 2
    )
    assert submission.language == "ko" and submission.free_text == "Worse in the morning."
    assert not submission.red_flag and not Alarm.objects.exists()


def test_all_fine_records_no_report(reached):
    submission = record(reached.link, all_fine=True).submission
    assert submission.all_fine and not submission.reactions.exists()


def test_a_red_flag_raises_an_alarm_and_an_on_call_alert_due_now(reached, clinic_a):
    before = timezone.now()
    submission = record(
        reached.link, reactions=[reaction("breathing_difficulty", patient_severity=3)]
    ).submission

    assert submission.red_flag
    alarm = Alarm.objects.get(submission=submission)
    assert alarm.clinic == clinic_a and alarm.acknowledged_at is None
    assert alarm.session == reached.session and submission.alarm == alarm
    alert = OutboxMessage.objects.get(kind=MessageKind.RED_FLAG_ALERT)
    assert alert.kind == MessageKind.RED_FLAG_ALERT
    assert alert.to_address == clinic_a.on_call_email
    assert before <= alert.due_at <= timezone.now()
    assert alert.patient_id is None


def test_the_red_flag_alert_names_no_patient_and_links_the_report(reached):
    patient = reached.session.patient
    submission = record(
        reached.link,
        reactions=[reaction("face_throat_swelling")],
        free_text="My lips feel huge",
    ).submission
    alert = OutboxMessage.objects.get(context__alarm=submission.alarm.pk)
    text = f"{alert.subject}\n{alert.body}"
    report = submission.reactions.get()
    assert f"/reactions/{report.uuid}/" in text
    for detail in (patient.first_name, patient.last_name, "lips feel huge"):
        assert detail.lower() not in text.lower()


def test_a_failure_after_the_alarm_leaves_no_alarm_and_no_submission(reached, monkeypatch):
    def broken(**kwargs):
        raise IntegrityError("simulated crash while queueing the alert")

    monkeypatch.setattr(services.outbox, "message_to_staff", broken)
    with pytest.raises(IntegrityError):
        record(reached.link, reactions=[reaction("breathing_difficulty")])
    assert not Submission.objects.exists() and not Alarm.objects.exists()


def test_all_fine_through_a_check_in_link_answers_it_fine(reached):
    checkin, link, _token = checkin_with_link(reached.session)
    submission = record(link, all_fine=True).submission
    checkin.refresh_from_db()
    assert checkin.state == CheckInState.ANSWERED_FINE and checkin.answered_at
    assert submission.checkin == checkin and submission.source == ReportSource.CHECKIN


def test_reactions_through_a_check_in_link_answer_it_with_reactions(reached):
    checkin, link, _token = checkin_with_link(reached.session)
    submission = record(link, reactions=[reaction("itching")]).submission
    checkin.refresh_from_db()
    assert checkin.state == CheckInState.ANSWERED_REACTIONS
    assert submission.reactions.get().source == ReportSource.CHECKIN


def test_a_later_report_of_reactions_upgrades_an_all_fine_check_in_answer(reached):
    checkin, link, _token = checkin_with_link(reached.session)
    record(link, all_fine=True)
    checkin.refresh_from_db()
    first_answer = checkin.answered_at
    record(link, reactions=[reaction("swelling")])
    checkin.refresh_from_db()
    assert checkin.state == CheckInState.ANSWERED_REACTIONS
    assert checkin.answered_at == first_answer


def test_the_aftercare_link_touches_no_check_in(reached):
    submission = record(reached.link, all_fine=True).submission
    assert submission.checkin is None
    assert not reached.session.checkins.filter(answered_at__isnull=False).exists()


def test_other_needs_a_description(reached):
    with pytest.raises(RuleViolation) as refused:
        record(reached.link, reactions=[reaction("other")])
    assert refused.value.field == "reactions.0.other_text"
    recorded = record(reached.link, reactions=[reaction("other", other_text="Tiny bumps")])
    assert recorded.submission.reactions.get().other_text == "Tiny bumps"


def test_an_end_before_the_start_is_refused_naming_the_end_date(reached):
    today = seoul_today()
    with pytest.raises(RuleViolation) as refused:
        record(
            reached.link,
            reactions=[
                reaction("redness"),
                reaction(
                    "swelling", onset_date=today, ongoing=False, ended_on=today - timedelta(days=1)
                ),
            ],
        )
    assert refused.value.field == "reactions.1.ended_on"
    assert "end date" in refused.value.message
    assert not Submission.objects.exists()


def test_an_ended_reaction_needs_its_end_date(reached):
    with pytest.raises(RuleViolation) as refused:
        record(reached.link, reactions=[reaction("redness", ongoing=False)])
    assert refused.value.field == "reactions.0.ended_on"


def test_a_start_in_the_future_is_refused(reached):
    with pytest.raises(RuleViolation) as refused:
        record(
            reached.link,
            reactions=[reaction("redness", onset_date=seoul_today() + timedelta(days=1))],
        )
    assert refused.value.field == "reactions.0.onset_date"


def test_a_start_before_the_treatment_is_refused(reached):
    with pytest.raises(RuleViolation) as refused:
        record(reached.link, reactions=[reaction("redness", onset_date=days_ago(3))])
    assert refused.value.field == "reactions.0.onset_date"


def test_an_answer_needs_a_reaction_unless_all_is_fine(reached):
    with pytest.raises(RuleViolation) as refused:
        record(reached.link, reactions=[])
    assert refused.value.field == "terms"


def test_a_revoked_link_records_nothing(reached):
    link_revoke(link=reached.link)
    reached.link.refresh_from_db()
    with pytest.raises(RuleViolation):
        record(reached.link, all_fine=True)
    assert not Submission.objects.exists()
