"""The dashboard's live part (issue 15): triage order, the alarm card, and the htmx poll that
refreshes the alarm panel and triage count without keeping an unattended session alive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import dateformat

from adverse_events.models import ReactionTerm, TriageStatus
from clinic import dashboard as board
from clinic.templatetags.clinic_time import age
from tests.factories import AlarmFactory, AssessmentFactory, ReactionReportFactory
from tests.kit.auth import login_staff

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("dashboard")
LIVE = reverse("dashboard-live")
POLL = {"HTTP_X_BACKGROUND_POLL": "1", "HTTP_HX_REQUEST": "true"}
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def term(code):
    return ReactionTerm.objects.get(code=code)


# --- triage order ------------------------------------------------------------------------------


def test_the_triage_queue_puts_open_red_flags_then_severity_then_the_oldest_first(
    practitioner_a, clinic_a
):
    """GIVEN twelve-ish reports of mixed age and severity, one a red flag that came in last
    THEN the red flag is first, then severe before moderate before mild (an assessed grade
    overriding the patient's rating), oldest first within each severity."""
    with time_machine.travel(START, tick=False) as clock:

        def report(severity, **kwargs):
            clock.shift(timedelta(minutes=10))
            return ReactionReportFactory(clinic=clinic_a, patient_severity=severity, **kwargs)

        old_mild = report(1)
        old_severe = report(3)
        mild_graded_severe = report(1)  # the practitioner graded it 3
        AssessmentFactory(
            report=mild_graded_severe, triage_status=TriageStatus.NEW, severity_grade=3
        )
        severe_graded_mild = report(3)  # the practitioner graded it 1
        AssessmentFactory(
            report=severe_graded_mild, triage_status=TriageStatus.NEW, severity_grade=1
        )
        moderate = report(2)
        new_mild = report(1)
        triaged = report(3)
        AssessmentFactory(report=triaged, reviewed=True)
        acknowledged = AlarmFactory(clinic=clinic_a, acknowledged_by=practitioner_a)
        acknowledged.acknowledged_at = START
        acknowledged.save()
        after_ack = report(2, submission=acknowledged.submission, term=term("breathing_difficulty"))
        alarm = AlarmFactory(clinic=clinic_a)
        red_flag = report(
            1,
            session=alarm.session,
            submission=alarm.submission,
            term=term("breathing_difficulty"),
        )

    queue = list(board.reports_to_triage(user=practitioner_a))
    assert queue == [
        red_flag,
        old_severe,
        mild_graded_severe,
        moderate,
        after_ack,
        old_mild,
        severe_graded_mild,
        new_mild,
    ]
    assert triaged not in queue


def test_the_reactions_list_shows_waiting_reports_first_in_triage_order(
    practitioner_client, clinic_a
):
    with time_machine.travel(START, tick=False) as clock:
        done = ReactionReportFactory(clinic=clinic_a, patient_severity=3)
        AssessmentFactory(report=done, reviewed=True)
        clock.shift(timedelta(hours=1))
        mild = ReactionReportFactory(clinic=clinic_a, patient_severity=1)
        clock.shift(timedelta(hours=1))
        severe = ReactionReportFactory(clinic=clinic_a, patient_severity=3)
    with time_machine.travel(START + timedelta(hours=4, minutes=5), tick=False):
        response = practitioner_client.get(reverse("triage:reactions"))
    rows = list(response.context["rows"])
    assert rows == [severe, mild, done]
    html = response.content.decode()
    assert "waiting, 2 h 5 min ago" in html and "waiting, 3 h 5 min ago" in html


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(seconds=30), "just now"),
        (timedelta(minutes=12), "12 min ago"),
        (timedelta(hours=2, minutes=5), "2 h 5 min ago"),
        (timedelta(hours=3), "3 h ago"),
        (timedelta(days=1, hours=5), "1 day ago"),
        (timedelta(days=3, hours=1), "3 days ago"),
    ],
)
def test_a_reports_age_reads_in_hours_and_minutes_or_days(delta, words):
    assert age(START - delta, now=START) == words


def test_the_dashboard_queue_shows_each_reports_age(practitioner_client, clinic_a):
    with time_machine.travel(START, tick=False):
        ReactionReportFactory(clinic=clinic_a)
    with time_machine.travel(START + timedelta(days=3, hours=2), tick=False):
        html = practitioner_client.get(DASHBOARD).content.decode()
    assert "(3 days ago)" in html


# --- the alarm card --------------------------------------------------------------------------


def test_the_alarm_card_names_reactions_severity_time_and_links_the_report(
    practitioner_client, clinic_a
):
    with time_machine.travel(START, tick=False):
        alarm = AlarmFactory(
            clinic=clinic_a,
            severity=3,
            terms=[term("breathing_difficulty"), term("face_throat_swelling")],
        )
        report = ReactionReportFactory(
            session=alarm.session, submission=alarm.submission, term=term("breathing_difficulty")
        )
    with time_machine.travel(START + timedelta(hours=2, minutes=5), tick=False):
        html = practitioner_client.get(DASHBOARD).content.decode()
    card = html.split(f'id="alarm-{alarm.uuid}"', 1)[1].split("</li>", 1)[0]
    assert "(2 h 5 min ago)" in card  # the same words as the triage queue's ages
    assert "Angioedema (face / throat), Dyspnoea / anaphylaxis" in card
    assert "Severe" in card and "patient's rating" in card
    seoul = START.astimezone(ZoneInfo("Asia/Seoul"))
    assert dateformat.format(seoul, "D j M Y, H:i") in card  # 18:00 in Seoul
    assert reverse("triage:report", args=[report.uuid]) in card


# --- the poll ------------------------------------------------------------------------------------


def test_the_dashboard_polls_its_live_part_with_the_configured_interval(
    practitioner_client, settings
):
    settings.DASHBOARD_POLL_SECONDS = 7
    html = practitioner_client.get(DASHBOARD).content.decode()
    assert f'hx-get="{LIVE}"' in html and 'hx-trigger="every 7s"' in html
    assert "X-Background-Poll" in html
    # Without JavaScript: when it was read, and a way to read it again.
    assert "Updated <time" in html and f'<a href="{DASHBOARD}">Refresh now</a>' in html


def test_a_poll_returns_new_alarms_and_the_triage_count(practitioner_client, clinic_a):
    before = practitioner_client.get(LIVE, **POLL).content.decode()
    assert "No open alarms." in before
    alarm = AlarmFactory(clinic=clinic_a)
    report = ReactionReportFactory(clinic=clinic_a)
    response = practitioner_client.get(LIVE, **POLL)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="alarm-{alarm.uuid}"' in html
    assert '<span id="triage-count" class="badge badge-status-new" hx-swap-oob="true">1</span>' in (
        html
    )
    assert '<div id="triage-list" hx-swap-oob="true">' in html
    assert reverse("triage:report", args=[report.uuid]) in html
    assert "<html" not in html  # a fragment, not a page


def test_a_poll_never_shows_another_clinics_alarm(practitioner_client, clinic_b):
    alarm = AlarmFactory(clinic=clinic_b)
    assert str(alarm.uuid) not in practitioner_client.get(LIVE, **POLL).content.decode()


def test_the_front_desk_cannot_poll_the_alarm_panel(front_desk_client, clinic_a):
    AlarmFactory(clinic=clinic_a)
    assert front_desk_client.get(LIVE, **POLL).status_code == 403


def test_a_poll_after_sign_out_says_so_and_stops_polling(client):
    response = client.get(LIVE, **POLL)
    assert response.status_code == 286
    html = response.content.decode()
    assert "Signed out; not updating." in html and "<form" not in html


def test_a_poll_does_not_extend_the_idle_session(client, practitioner_a):
    """GIVEN a dashboard left open WHEN only its polls reach the server for 15 minutes
    THEN the session ends on time, and the next poll says "signed out; not updating"."""
    with time_machine.travel(START, tick=False) as clock:
        login_staff(client, practitioner_a)
        assert client.get(DASHBOARD).status_code == 200
        for _ in range(3):
            clock.shift(timedelta(minutes=5))
            assert client.get(LIVE, **POLL).status_code == 200
        clock.shift(timedelta(seconds=1))
        ended = client.get(LIVE, **POLL)
        assert ended.status_code == 286
        assert "Signed out; not updating." in ended.content.decode()
        assert client.get(DASHBOARD)["Location"].startswith(reverse("core:login"))


def test_a_real_request_still_extends_the_idle_session(client, practitioner_a):
    with time_machine.travel(START, tick=False) as clock:
        login_staff(client, practitioner_a)
        clock.shift(timedelta(minutes=14))
        assert client.get(DASHBOARD).status_code == 200
        clock.shift(timedelta(minutes=14))
        assert client.get(LIVE, **POLL).status_code == 200


def test_a_poll_costs_the_same_queries_for_two_or_twelve_alarms(practitioner_client, clinic_a):
    from tests.kit.queries import assert_constant_queries

    def grow(n):
        for _ in range(n):
            alarm = AlarmFactory(clinic=clinic_a, terms=[term("breathing_difficulty")])
            ReactionReportFactory(
                session=alarm.session,
                submission=alarm.submission,
                term=term("breathing_difficulty"),
            )

    # Session, user, OTP device, roles; alarms, their reactions, opening reports, count;
    # triage rows and count; the day list's clinics, rows and count. No session write: a
    # poll does not touch the idle clock.
    assert_constant_queries(practitioner_client, LIVE, grow, expected=13, **POLL)
