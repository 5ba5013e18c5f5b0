"""Reaction vocabulary, submissions, reports, assessments, alarms and lot signals: every named
constraint refuses bad data with its message, at the database and through validation; and the
report's own clean() rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from adverse_events.models import (
    Locality,
    Outcome,
    ReportSource,
    SignalKind,
    SignalStatus,
    TriageStatus,
)
from tests.constraints import (
    Refusal,
    changed,
    choices_message,
    duplicate,
    refusal,
    refused_by_database,
    refused_by_full_clean,
    refused_by_validation,
)
from tests.factories import (
    AlarmFactory,
    AssessmentFactory,
    CheckInWeekSummaryFactory,
    ClinicFactory,
    ClinicTermCodeFactory,
    LotSignalFactory,
    LotTermSummaryFactory,
    LotWeekSummaryFactory,
    ReactionReportFactory,
    ReactionTermFactory,
    ReactionWeekSummaryFactory,
    SubmissionFactory,
    SubmissionPhotoFactory,
    TreatmentSessionFactory,
)

pytestmark = pytest.mark.django_db


def _local_term(**changes: object):
    # A term of its own: changing a shipped one would leak into other tests' expectations.
    return changed(lambda: ReactionTermFactory(code="test_local_term"), **changes)


REFUSALS = [
    # ReactionTerm, ClinicTermCode
    refusal(
        "term_locality_valid",
        choices_message("locality", Locality),
        _local_term(locality="cosmic"),
        field_level=True,
    ),
    refusal(
        "term_code_unique_per_clinic",
        "This term already has a code in that system for this clinic.",
        duplicate(ClinicTermCodeFactory, "clinic", "term", "system"),
    ),
    # Submission, SubmissionPhoto
    refusal(
        "submission_source_valid",
        choices_message("source", ReportSource),
        changed(SubmissionFactory, source="rumour"),
        field_level=True,
    ),
    refusal(
        "submission_staff_has_reporter",
        "A staff report records who reported it.",
        changed(SubmissionFactory, source=ReportSource.STAFF, reported_by=None),
    ),
    refusal(
        "submission_patient_via_link",
        "A patient's report arrives through their link.",
        changed(SubmissionFactory, link=None),
    ),
    refusal(
        "submission_fine_is_not_red_flag",
        "An 'all fine' answer cannot carry a red flag.",
        changed(SubmissionFactory, all_fine=True, red_flag=True),
    ),
    refusal(
        "photo_type_allowed",
        "Photos are JPEG, PNG or WebP.",
        changed(SubmissionPhotoFactory, content_type="image/gif"),
    ),
    # ReactionReport
    refusal(
        "reaction_source_valid",
        choices_message("source", ReportSource),
        changed(ReactionReportFactory, source="rumour"),
        field_level=True,
    ),
    refusal(
        "reaction_patient_severity_1_to_3",
        "How bad: mild, moderate or severe.",
        changed(ReactionReportFactory, patient_severity=4),
        field_level=True,
    ),
    refusal(
        "reaction_ongoing_or_ended",
        "Say whether it is still going or when it ended.",
        changed(ReactionReportFactory, ongoing=False, ended_on=None),
    ),
    refusal(
        "reaction_ends_after_onset",
        "A reaction cannot end before it started.",
        changed(
            ReactionReportFactory,
            ongoing=False,
            ended_on=lambda report: report.onset_date - timedelta(days=1),
        ),
    ),
    # Assessment
    refusal(
        "assessment_triage_valid",
        choices_message("triage_status", TriageStatus),
        # Reviewed first: an ungraded row in any state but "new" breaks another constraint too.
        changed(lambda: AssessmentFactory(reviewed=True), triage_status="lost"),
        field_level=True,
    ),
    refusal(
        "assessment_outcome_valid",
        "Unknown outcome.",
        changed(AssessmentFactory, outcome="better"),
        field_level=True,
    ),
    refusal(
        "assessment_causality_valid",
        "Unknown causality category.",
        changed(AssessmentFactory, causality="karma"),
        field_level=True,
    ),
    refusal(
        "assessment_grade_1_to_4",
        "Severity grade is 1 to 4.",
        changed(AssessmentFactory, severity_grade=5),
        field_level=True,
    ),
    refusal(
        "assessment_reviewed_has_grade",
        "A reviewed report needs a severity grade and assessor.",
        changed(AssessmentFactory, triage_status=TriageStatus.REVIEWED),
    ),
    refusal(
        "assessment_closed_is_complete",
        "Closing a report needs its outcome and causality.",
        changed(lambda: AssessmentFactory(reviewed=True), triage_status="closed", causality=""),
    ),
    refusal(
        "assessment_fatal_is_serious",
        "A fatal outcome is a serious event (death).",
        changed(AssessmentFactory, outcome=Outcome.FATAL, serious_death=False),
    ),
    # Alarm
    refusal(
        "alarm_ack_has_who",
        "An acknowledgement records who made it.",
        changed(AlarmFactory, acknowledged_at=lambda _: timezone.now(), acknowledged_by=None),
    ),
    refusal(
        "alarm_one_open_per_session",
        "This session already has an open red-flag alarm.",
        duplicate(AlarmFactory, "session"),
    ),
    refusal(
        "alarm_severity_1_to_3",
        "Severity: mild, moderate or severe.",
        changed(AlarmFactory, severity=5),
        field_level=True,
    ),
    # LotSignal
    refusal(
        "signal_kind_valid",
        choices_message("kind", SignalKind),
        changed(LotSignalFactory, kind="hunch"),
        field_level=True,
    ),
    refusal(
        "signal_status_valid",
        choices_message("status", SignalStatus),
        changed(LotSignalFactory, status="ignored"),
        field_level=True,
    ),
    refusal(
        "signal_dismissal_has_reason",
        "Dismissing a signal needs a reason.",
        changed(LotSignalFactory, status=SignalStatus.DISMISSED, status_reason=""),
    ),
    refusal(
        "signal_sentinel_has_report",
        "A sentinel signal names its report.",
        changed(LotSignalFactory, kind=SignalKind.SENTINEL, report=None),
    ),
    refusal(
        "signal_cases_within_exposure",
        "A lot cannot have more cases than sessions.",
        changed(LotSignalFactory, cases=21, exposure=20),
    ),
    # Summary tables: one row per key, and counts that cannot contradict each other
    refusal(
        "lot_week_summary_unique",
        "Lot week summary with this Lot and Week already exists.",
        duplicate(LotWeekSummaryFactory, "lot", "week"),
    ),
    refusal(
        "lot_week_summary_cases_within_sessions",
        "A week cannot have more cases than sessions.",
        changed(LotWeekSummaryFactory, sessions=3, cases=4),
    ),
    refusal(
        "lot_term_summary_unique",
        "Lot term summary with this Lot and Term already exists.",
        duplicate(LotTermSummaryFactory, "lot", "term"),
    ),
    refusal(
        "reaction_week_summary_unique",
        "Reaction week summary with this Clinic, Week and Term already exists.",
        duplicate(ReactionWeekSummaryFactory, "clinic", "week", "term"),
    ),
    refusal(
        "checkin_week_summary_unique",
        "Check-in week summary with this Clinic, Week and Step code already exists.",
        duplicate(CheckInWeekSummaryFactory, "clinic", "week", "step_code"),
    ),
    refusal(
        "checkin_week_summary_answered_within_sent",
        "More check-ins answered than sent.",
        changed(CheckInWeekSummaryFactory, sent=5, answered=6),
    ),
]


@pytest.mark.parametrize("case", REFUSALS)
def test_the_database_refuses_it(case: Refusal) -> None:
    refused_by_database(case)


@pytest.mark.parametrize("case", REFUSALS)
def test_validate_constraints_refuses_it_with_its_message(case: Refusal) -> None:
    refused_by_validation(case)


@pytest.mark.parametrize("case", REFUSALS)
def test_full_clean_refuses_it(case: Refusal) -> None:
    refused_by_full_clean(case)


# --- what the constraints let through -----------------------------------------------------


def test_it_accepts_a_sentinel_signal_with_more_cases_than_sessions() -> None:
    # A sentinel event stands on its own report; the rate arithmetic does not apply.
    LotSignalFactory(sentinel=True, cases=3, exposure=1).full_clean()


def test_it_accepts_a_staff_report_without_a_link() -> None:
    session = TreatmentSessionFactory()
    SubmissionFactory(
        session=session, link=None, source=ReportSource.STAFF, reported_by=session.practitioner
    ).full_clean()


def test_it_accepts_a_closed_assessment_with_outcome_and_causality() -> None:
    AssessmentFactory(closed=True).full_clean()


# --- ReactionReport.clean() ----------------------------------------------------------------


def _report_of(term_code: str, **fields: object) -> models.Model:
    report = ReactionReportFactory()
    report.term = ReactionTermFactory(code=term_code)
    for name, value in fields.items():
        setattr(report, name, value)
    return report


def test_it_refuses_an_other_reaction_without_words() -> None:
    report = _report_of("other", other_text="   ")
    with pytest.raises(ValidationError) as caught:
        report.full_clean()
    assert caught.value.message_dict["other_text"] == ["Describe the reaction."]


def test_it_accepts_an_other_reaction_described_in_words() -> None:
    _report_of("other", other_text="Tingling lips").full_clean()


def test_it_refuses_an_onset_in_the_future() -> None:
    # "Today" is the clinic's date: after 15:00 UTC it is already tomorrow in Seoul.
    report = _report_of("redness")
    report.onset_date = report.clinic.today() + timedelta(days=1)
    with pytest.raises(ValidationError) as caught:
        report.full_clean()
    assert caught.value.message_dict["onset_date"] == ["The start date cannot be in the future."]


def test_it_accepts_an_onset_of_today() -> None:
    report = _report_of("redness")
    report.onset_date = report.clinic.today()
    report.full_clean()


def test_it_accepts_an_onset_of_today_in_the_clinics_time_zone() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    with time_machine.travel(datetime(2025, 3, 10, 1, 30, tzinfo=seoul), tick=False):
        session = TreatmentSessionFactory(clinic=ClinicFactory(time_zone="Asia/Seoul"))
        report = ReactionReportFactory(session=session, onset_date=datetime(2025, 3, 9).date())
        report.onset_date = datetime(2025, 3, 10, tzinfo=seoul).date()  # today, in Seoul
        report.full_clean()
