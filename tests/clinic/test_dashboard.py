"""The staff dashboard: panels by role, what each selector keeps and drops, query counts
pinned at two data sizes, and acknowledging a red-flag alarm."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from adverse_events.models import Alarm, SignalStatus, TriageStatus
from adverse_events.services import alarm_acknowledge
from clinic import dashboard as board
from clinic.core.exceptions import Conflict
from patients.models import CallState
from tests.factories import (
    AlarmFactory,
    AppointmentFactory,
    AssessmentFactory,
    CallTaskFactory,
    CheckInFactory,
    LotSignalFactory,
    ProductLotFactory,
    ReactionReportFactory,
    ReactionTermFactory,
    TreatmentSeriesFactory,
    TreatmentSessionFactory,
)
from tests.kit.queries import assert_constant_queries
from treatments.models import AppointmentStatus, CheckInState, SeriesStatus

pytestmark = pytest.mark.django_db
URL = reverse("dashboard")


def _clinical_rows(clinic, n: int) -> None:
    """n of every row a clinical panel shows."""
    slow = ReactionTermFactory(code="slow_course", usual_course_days=2)
    now = timezone.now()
    for _ in range(n):
        AlarmFactory(clinic=clinic)
        AssessmentFactory(report__clinic=clinic)
        ReactionReportFactory(
            clinic=clinic, term=slow, onset_date=timezone.localdate() - timedelta(days=5)
        )
        session = TreatmentSessionFactory(clinic=clinic, performed_at=now)
        CheckInFactory(
            session=session, state=CheckInState.ANSWERED_FINE, sent_at=now, answered_at=now
        )
        LotSignalFactory(lot=ProductLotFactory(product__clinic=clinic))


def _front_desk_rows(clinic, n: int) -> None:
    for _ in range(n):
        AppointmentFactory(clinic=clinic, starts_at=timezone.now())
        CallTaskFactory(clinic=clinic)
        TreatmentSeriesFactory(clinic=clinic, sessions_planned=3)


class TestQueryCounts:
    def test_the_practitioner_dashboard_costs_the_same_at_two_data_sizes(
        self, practitioner_client, clinic_a
    ):
        # 23: the prolonged panel reads the clinics' time zones for each clinic's "today";
        # the alarm cards prefetch their reactions and the opening report (issue 15: +2);
        # the practitioner's day list: its clinics' today, its rows and its count (+3).
        assert_constant_queries(
            practitioner_client, URL, lambda n: _clinical_rows(clinic_a, n), expected=26
        )

    def test_the_front_desk_dashboard_costs_the_same_at_two_data_sizes(
        self, front_desk_client, clinic_a
    ):
        assert_constant_queries(
            front_desk_client, URL, lambda n: _front_desk_rows(clinic_a, n), expected=15
        )


class TestPanelsByRole:
    def test_a_practitioner_sees_alarms_triage_and_signals(self, practitioner_client, clinic_a):
        alarm = AlarmFactory(clinic=clinic_a)
        new = AssessmentFactory(report__clinic=clinic_a)
        response = practitioner_client.get(URL)
        html = response.content.decode()
        assert response.status_code == 200
        assert "Red-flag alarms" in html
        assert reverse("triage:alarm_acknowledge", args=[alarm.uuid]) in html
        assert reverse("triage:report", args=[new.report.uuid]) in html
        # The patient's rating in one word, not cut off mid-sentence.
        word = new.report.severity_word
        assert word in ("Mild", "Moderate", "Severe")
        assert f'badge-severity-{new.report.patient_severity}">{word}</span>' in html
        assert "Lots with open safety signals" in html
        assert "Today's appointments" not in html

    def test_the_front_desk_never_sees_alarms_reactions_or_assessments(
        self, front_desk_client, clinic_a
    ):
        alarm = AlarmFactory(clinic=clinic_a)
        report = AssessmentFactory(report__clinic=clinic_a).report
        response = front_desk_client.get(URL)
        html = response.content.decode()
        assert response.status_code == 200
        for hidden in ("Red-flag alarms", "triage", "Prolonged", "safety signals", "Check-in"):
            assert hidden not in html
        assert str(alarm.uuid) not in html and str(report.uuid) not in html
        assert "alarms" not in response.context and "to_triage" not in response.context
        assert "Today's appointments" in html and "Calls to make" in html

    def test_the_navigation_offers_only_pages_the_role_may_open(
        self, front_desk_client, practitioner_client
    ):
        products = reverse("treatments:product_list")
        assert f'href="{products}"' not in front_desk_client.get(URL).content.decode()
        assert front_desk_client.get(products).status_code == 403
        assert f'href="{products}"' in practitioner_client.get(URL).content.decode()
        # The user's name leads to their profile (which links their API tokens).
        assert f'href="{reverse("core:profile")}"' in front_desk_client.get(URL).content.decode()

    def test_another_clinics_alarm_is_not_on_my_dashboard(self, practitioner_client, clinic_b):
        alarm = AlarmFactory(clinic=clinic_b)
        html = practitioner_client.get(URL).content.decode()
        assert str(alarm.uuid) not in html


class TestSelectors:
    def test_acknowledged_alarms_leave_the_panel(self, practitioner_a, clinic_a):
        open_alarm = AlarmFactory(clinic=clinic_a)
        done = AlarmFactory(clinic=clinic_a)
        alarm_acknowledge(alarm=done, user=practitioner_a)
        assert list(board.alarms_unacknowledged(user=practitioner_a)) == [open_alarm]

    def test_only_new_assessments_wait_for_triage(self, practitioner_a, clinic_a):
        new = AssessmentFactory(report__clinic=clinic_a)
        AssessmentFactory(report__clinic=clinic_a, reviewed=True)
        assert list(board.reports_to_triage(user=practitioner_a)) == [new.report]

    def test_a_reaction_is_prolonged_only_when_ongoing_past_its_usual_course(
        self, practitioner_a, clinic_a
    ):
        term = ReactionTermFactory(code="three_days", usual_course_days=3)
        today = clinic_a.today()  # the clinic's date, as the panel reads it
        late = ReactionReportFactory(clinic=clinic_a, term=term, onset_date=today - timedelta(4))
        ReactionReportFactory(clinic=clinic_a, term=term, onset_date=today - timedelta(3))
        ReactionReportFactory(
            clinic=clinic_a,
            term=term,
            onset_date=today - timedelta(10),
            ongoing=False,
            ended_on=today - timedelta(8),
        )
        no_course = ReactionTermFactory(code="no_course", usual_course_days=None)
        ReactionReportFactory(clinic=clinic_a, term=no_course, onset_date=today - timedelta(30))
        assert list(board.reactions_prolonged(user=practitioner_a)) == [late]

    def test_a_reaction_is_prolonged_by_the_clinics_date_not_the_servers(
        self, practitioner_a, clinic_a
    ):
        """GIVEN a Seoul clinic at 08:00 Seoul time (23:00 the day before in UTC)
        AND a 3-day reaction that started 4 days ago by Seoul's date (3 by UTC's)
        THEN it is prolonged: its course ended yesterday in Seoul."""
        assert clinic_a.time_zone == "Asia/Seoul"
        term = ReactionTermFactory(code="three_days", usual_course_days=3)
        with time_machine.travel(datetime(2026, 6, 9, 23, 0, tzinfo=UTC), tick=False):
            seoul_today = date(2026, 6, 10)
            late = ReactionReportFactory(
                clinic=clinic_a, term=term, onset_date=seoul_today - timedelta(4)
            )
            ReactionReportFactory(clinic=clinic_a, term=term, onset_date=seoul_today - timedelta(3))
            assert timezone.localdate() == date(2026, 6, 9), "the server's date is a day behind"
            assert list(board.reactions_prolonged(user=practitioner_a)) == [late]

    def test_todays_sessions_are_today_in_the_clinics_time_zone(self, practitioner_a, clinic_a):
        today = TreatmentSessionFactory(clinic=clinic_a, performed_at=timezone.now())
        TreatmentSessionFactory(clinic=clinic_a, performed_at=timezone.now() - timedelta(days=2))
        assert list(board.sessions_today(user=practitioner_a)) == [today]

    def test_response_rate_counts_answered_of_sent_in_the_last_30_days(
        self, practitioner_a, clinic_a
    ):
        now = timezone.now()
        session = TreatmentSessionFactory(clinic=clinic_a)
        states = [
            (CheckInState.ANSWERED_FINE, now),
            (CheckInState.ANSWERED_REACTIONS, now),
            (CheckInState.SENT, None),
            (CheckInState.MISSED, None),
        ]
        for state, answered in states:
            CheckInFactory(session=session, state=state, sent_at=now, answered_at=answered)
        CheckInFactory(session=session, state=CheckInState.SCHEDULED)
        CheckInFactory(session=session, state=CheckInState.FAILED, sent_at=now)
        old = now - timedelta(days=40)
        CheckInFactory(session=session, state=CheckInState.SENT, sent_at=old)
        rate = board.checkin_response_rate(user=practitioner_a)
        assert (rate.asked, rate.answered, rate.percent) == (4, 2, 50)

    def test_no_check_ins_sent_gives_no_rate_rather_than_a_division_by_zero(self, practitioner_a):
        assert board.checkin_response_rate(user=practitioner_a).percent is None

    def test_only_new_and_under_review_signals_are_open(self, practitioner_a, clinic_a):
        lot = ProductLotFactory(product__clinic=clinic_a)
        new = LotSignalFactory(lot=lot)
        LotSignalFactory(lot=lot, status=SignalStatus.ACTIONED)
        review = LotSignalFactory(lot=lot, status=SignalStatus.UNDER_REVIEW)
        assert set(board.lots_with_open_signals(user=practitioner_a)) == {new, review}

    def test_series_to_book_have_fewer_live_appointments_than_planned(self, front_desk_a, clinic_a):
        short = TreatmentSeriesFactory(clinic=clinic_a, sessions_planned=2)
        AppointmentFactory(clinic=clinic_a, patient=short.patient, series=short)
        AppointmentFactory(
            clinic=clinic_a,
            patient=short.patient,
            series=short,
            status=AppointmentStatus.CANCELLED,
        )
        full = TreatmentSeriesFactory(clinic=clinic_a, sessions_planned=1)
        AppointmentFactory(clinic=clinic_a, patient=full.patient, series=full)
        TreatmentSeriesFactory(clinic=clinic_a, status=SeriesStatus.COMPLETED)
        assert list(board.series_to_book(user=front_desk_a)) == [short]

    def test_done_calls_leave_the_calls_panel(self, front_desk_a, clinic_a):
        open_call = CallTaskFactory(clinic=clinic_a)
        CallTaskFactory(clinic=clinic_a, state=CallState.DONE, done_at=timezone.now())
        assert list(board.calls_open(user=front_desk_a)) == [open_call]


class TestAcknowledge:
    def test_acknowledging_records_who_when_and_the_note(
        self, practitioner_client, practitioner_a, clinic_a
    ):
        """GIVEN an open alarm WHEN a practitioner acknowledges it with a note
        THEN it records them, the time and the note, keeps a history row, and leaves the panel."""
        alarm = AlarmFactory(clinic=clinic_a)
        url = reverse("triage:alarm_acknowledge", args=[alarm.uuid])
        response = practitioner_client.post(url, {"note": "Called her, cold compress"})
        assert response.status_code == 302
        alarm.refresh_from_db()
        assert alarm.acknowledged_by == practitioner_a
        assert alarm.acknowledged_at is not None
        assert alarm.acknowledgement_note == "Called her, cold compress"
        assert alarm.history.first().history_user == practitioner_a
        assert str(alarm.uuid) not in practitioner_client.get(URL).content.decode()

    def test_a_second_acknowledgement_is_refused_and_keeps_the_first(
        self, practitioner_a, safety_lead_a, clinic_a
    ):
        alarm = AlarmFactory(clinic=clinic_a)
        alarm_acknowledge(alarm=alarm, user=practitioner_a, note="first")
        with pytest.raises(Conflict):
            alarm_acknowledge(alarm=alarm, user=safety_lead_a, note="second")
        alarm.refresh_from_db()
        assert (alarm.acknowledged_by, alarm.acknowledgement_note) == (practitioner_a, "first")

    def test_a_get_cannot_acknowledge(self, practitioner_client, clinic_a):
        alarm = AlarmFactory(clinic=clinic_a)
        response = practitioner_client.get(reverse("triage:alarm_acknowledge", args=[alarm.uuid]))
        assert response.status_code == 405
        assert Alarm.objects.get(pk=alarm.pk).acknowledged_at is None

    def test_the_front_desk_cannot_acknowledge(self, front_desk_client, clinic_a):
        alarm = AlarmFactory(clinic=clinic_a)
        url = reverse("triage:alarm_acknowledge", args=[alarm.uuid])
        assert front_desk_client.post(url).status_code == 403
        assert Alarm.objects.get(pk=alarm.pk).acknowledged_at is None

    def test_a_too_long_note_is_refused_with_a_message_and_nothing_saved(
        self, practitioner_client, clinic_a
    ):
        alarm = AlarmFactory(clinic=clinic_a)
        url = reverse("triage:alarm_acknowledge", args=[alarm.uuid])
        response = practitioner_client.post(url, {"note": "x" * 1001}, follow=True)
        assert "too long" in response.content.decode()
        assert Alarm.objects.get(pk=alarm.pk).acknowledged_at is None


def test_triage_status_default_is_new():
    assert AssessmentFactory.build().triage_status == TriageStatus.NEW
