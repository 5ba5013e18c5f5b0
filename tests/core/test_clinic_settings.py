"""Clinic settings (issue 21): basics, opening hours, closures and the check-in follow-up,
edited by the clinic's manager (the check-ins by the safety lead too), every change kept in
the history shown on the page."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from clinic.core.models import (
    CheckInPlanStep,
    ClinicClosure,
    Role,
    StaffAction,
    StaffAuditEvent,
)
from clinic.core.services import staff_create
from tests.kit.auth import PASSWORD
from tests.kit.world import default_plan, logged_session
from treatments import checkins
from treatments.models import CheckIn, CheckInState

SEOUL = ZoneInfo("Asia/Seoul")


def _basics(clinic, **overrides):
    data = {
        "name": clinic.name,
        "country": clinic.country,
        "time_zone": clinic.time_zone,
        "address": clinic.address,
        "phone": clinic.phone,
        "emergency_number": clinic.emergency_number,
        "staff_language": clinic.staff_language,
        "on_call_email": clinic.on_call_email,
        "on_call_sms": clinic.on_call_sms,
    }
    return data | overrides


def _hours(**days):
    """POST data of the hours form: Mon-Fri 09:00-18:00, Sat 10:00-14:00 unless overridden."""
    data = {"form": "hours"}
    for day in range(1, 8):
        opens, closes = days.get(
            str(day),
            ("09:00", "18:00") if day <= 5 else ("10:00", "14:00") if day == 6 else ("", ""),
        )
        data[f"opens_{day}"], data[f"closes_{day}"] = opens, closes
    return data


# --- basics and history -----------------------------------------------------------------------


def test_the_manager_changes_the_basics_and_the_history_shows_who_what_from_to(
    client_as, manager_a, clinic_a
):
    client = client_as(manager_a)
    url = reverse("settings:basics", args=[clinic_a.uuid])
    response = client.post(
        url,
        _basics(
            clinic_a,
            address="12 Gangnam-daero, Seoul",
            emergency_number="112",
            on_call_sms="+82 10 1234 5678",
        ),
    )
    assert response.status_code == 302
    clinic_a.refresh_from_db()
    assert clinic_a.address == "12 Gangnam-daero, Seoul"
    assert clinic_a.emergency_number == "112"
    assert clinic_a.on_call_sms == "+82 10 1234 5678"

    page = client.get(url).content.decode()
    assert "History of settings changes" in page
    assert "Emergency number: 119 -&gt; 112" in page
    assert "Address: " in page and "-&gt; 12 Gangnam-daero, Seoul" in page
    assert manager_a.display_name in page
    events = StaffAuditEvent.objects.filter(clinic=clinic_a, action=StaffAction.SETTINGS_CHANGED)
    assert events.count() == 3
    assert {e.actor for e in events} == {manager_a}


def test_saving_unchanged_basics_records_nothing(client_as, manager_a, clinic_a):
    client = client_as(manager_a)
    client.post(reverse("settings:basics", args=[clinic_a.uuid]), _basics(clinic_a))
    assert not StaffAuditEvent.objects.filter(action=StaffAction.SETTINGS_CHANGED).exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_zone", "Mars/Olympus", "Select a valid choice"),
        ("country", "K1", "Country code: give two letters"),
        ("phone", "call us", "Phone for patients: digits"),
        ("emergency_number", "1-1-9", "Emergency number: 2 to 6 digits"),
        ("on_call_sms", "010 1234", "On-call mobile: an international number"),
        ("on_call_email", "not-an-address", "Enter a valid email address"),
    ],
)
def test_bad_basics_get_an_error_naming_the_field(
    client_as, manager_a, clinic_a, field, value, message
):
    client = client_as(manager_a)
    response = client.post(
        reverse("settings:basics", args=[clinic_a.uuid]), _basics(clinic_a, **{field: value})
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == [field]
    assert message in response.content.decode()
    clinic_a.refresh_from_db()
    assert getattr(clinic_a, field) != value


# --- opening hours and closures ------------------------------------------------------------------


def test_the_manager_sets_opening_hours_per_weekday(client_as, manager_a, clinic_a):
    client = client_as(manager_a)
    url = reverse("settings:hours", args=[clinic_a.uuid])
    response = client.post(url, _hours(**{"3": ("12:00", "20:00"), "6": ("", "")}))
    assert response.status_code == 302
    clinic_a.refresh_from_db()
    wednesday, saturday, monday = date(2026, 3, 4), date(2026, 3, 7), date(2026, 3, 2)
    assert clinic_a.opening_span(wednesday) == (time(12), time(20))
    assert clinic_a.opening_span(saturday) is None
    assert clinic_a.opening_span(monday) == (time(9), time(18))
    page = client.get(url).content.decode()
    assert "Opening hours: Wed 09:00-18:00 -&gt; 12:00-20:00, Sat 10:00-14:00 -&gt; closed" in page


def test_bad_opening_hours_name_the_day(client_as, manager_a, clinic_a):
    client = client_as(manager_a)
    url = reverse("settings:hours", args=[clinic_a.uuid])
    response = client.post(url, _hours(**{"2": ("18:00", "09:00"), "4": ("09:00", "")}))
    assert response.status_code == 400
    body = response.content.decode()
    assert "Tuesday: the closing time must be after the opening time." in body
    assert "Thursday: give both times, or leave both empty when closed." in body
    assert set(response.context["hours_form"].errors) == {"closes_2", "closes_4"}


def test_a_closure_is_added_and_removed_only_after_confirming(client_as, manager_a, clinic_a):
    client = client_as(manager_a)
    url = reverse("settings:hours", args=[clinic_a.uuid])
    today = clinic_a.today()
    response = client.post(
        url,
        {
            "form": "closure",
            "closure-starts_on": (today + timedelta(days=10)).isoformat(),
            "closure-ends_on": (today + timedelta(days=12)).isoformat(),
            "closure-reason": "Chuseok",
        },
    )
    assert response.status_code == 302
    closure = ClinicClosure.objects.get(clinic=clinic_a)
    assert "Chuseok" in client.get(url).content.decode()

    remove = reverse("settings:closure_remove", args=[clinic_a.uuid, closure.uuid])
    asked = client.get(remove)
    assert asked.status_code == 200 and "Remove this closure?" in asked.content.decode()
    assert client.post(remove, {}).status_code == 400  # no "yes": nothing removed
    assert ClinicClosure.objects.filter(pk=closure.pk).exists()
    assert client.post(remove, {"confirm": "yes"}).status_code == 302
    assert not ClinicClosure.objects.filter(pk=closure.pk).exists()
    page = client.get(url).content.decode()
    assert "Closure added" in page and "Closure removed" in page


def test_a_closure_ending_before_it_starts_names_the_field(client_as, manager_a, clinic_a):
    client = client_as(manager_a)
    response = client.post(
        reverse("settings:hours", args=[clinic_a.uuid]),
        {"form": "closure", "closure-starts_on": "2026-05-05", "closure-ends_on": "2026-05-01"},
    )
    assert response.status_code == 400
    assert list(response.context["closure_form"].errors) == ["ends_on"]
    assert "Closed until: the last day must be on or after the first." in response.content.decode()


# --- check-ins -----------------------------------------------------------------------------------


def test_plan_changes_apply_to_sessions_logged_after_them(
    client_as, safety_lead_a, practitioner_a, clinic_a
):
    default_plan(clinic_a)
    with time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=SEOUL), tick=False):
        before = logged_session(practitioner_a)
        planned_before = sorted(
            CheckIn.objects.filter(session=before).values_list("step_code", "due_at")
        )

        client = client_as(safety_lead_a)
        url = reverse("settings:checkins", args=[clinic_a.uuid])
        page = client.get(url).content.decode()
        assert "Changes apply to sessions logged after you save them." in page
        day3 = CheckInPlanStep.objects.get(clinic=clinic_a, code="d3")
        step_url = reverse("settings:step", args=[clinic_a.uuid, day3.uuid])
        assert client.post(step_url, {"label": "Day 2", "days": "2"}).status_code == 302
        assert (
            client.post(
                url, {"form": "step", "step-label": "Day 30", "step-days": "30"}
            ).status_code
            == 302
        )
        w6 = CheckInPlanStep.objects.get(clinic=clinic_a, code="w6")
        remove = reverse("settings:step_remove", args=[clinic_a.uuid, w6.uuid])
        assert "Remove the check-in step" in client.get(remove).content.decode()
        assert client.post(remove, {"confirm": "yes"}).status_code == 302

        after = logged_session(practitioner_a)
        history = client.get(url).content.decode()

    # the earlier session keeps its check-ins and their times
    assert sorted(CheckIn.objects.filter(session=before).values_list("step_code", "due_at")) == (
        planned_before
    )
    labels = list(
        CheckIn.objects.filter(session=after)
        .order_by("due_at")
        .values_list("step_label", flat=True)
    )
    assert labels == ["Day 1", "Day 2", "Day 7", "Day 14", "Day 30", "Month 3"]
    day2 = CheckIn.objects.get(session=after, step_label="Day 2")
    assert day2.due_at - after.performed_at == timedelta(days=2)

    assert (
        "Check-in step changed: Day 3 (3 d after the session) -&gt; Day 2 (2 d after the session)"
        in history
    )
    assert "Check-in step added: Day 30" in history
    assert "Check-in step removed: Week 6" in history
    assert safety_lead_a.display_name in history


def test_bad_plan_step_names_the_field(client_as, manager_a, clinic_a):
    client = client_as(manager_a)
    url = reverse("settings:checkins", args=[clinic_a.uuid])
    response = client.post(url, {"form": "step", "step-label": "Too late", "step-days": "400"})
    assert response.status_code == 400
    assert list(response.context["step_form"].errors) == ["days"]
    assert "Days after the session: at most 365." in response.content.decode()


def test_the_clinics_reminder_and_call_delays_drive_the_follow_up(client_as, manager_a, clinic_a):
    client = client_as(manager_a)
    url = reverse("settings:checkins", args=[clinic_a.uuid])
    response = client.post(
        url,
        {
            "form": "settings",
            "quiet_hours_start": "22:00",
            "quiet_hours_end": "07:00",
            "reminder_hours": "48",
            "call_hours": "12",
        },
    )
    assert response.status_code == 302
    clinic_a.refresh_from_db()
    assert clinic_a.checkin_reminder_delay == timedelta(hours=48)
    assert clinic_a.checkin_call_delay == timedelta(hours=12)
    assert clinic_a.quiet_hours_start == time(22)
    page = client.get(url).content.decode()
    assert "Reminder after an unanswered check-in: 1 d -&gt; 2 d" in page
    assert "Quiet hours start: 21:00 -&gt; 22:00" in page

    from tests.factories import CheckInFactory, TreatmentSessionFactory

    now = datetime(2026, 3, 5, 10, 0, tzinfo=SEOUL)
    session = TreatmentSessionFactory(clinic=clinic_a)
    sent = CheckInFactory(
        session=session, state=CheckInState.SENT, sent_at=now - timedelta(hours=30)
    )
    # 30 h: past the old 24 h default, not past this clinic's 48 h
    assert checkins.checkins_follow_up(now=now) == (0, 0)
    assert checkins.checkins_follow_up(now=now + timedelta(hours=18)) == (1, 0)
    sent.refresh_from_db()
    assert sent.state == CheckInState.REMINDED
    # the call task 12 h after the reminder
    assert checkins.checkins_follow_up(now=now + timedelta(hours=29)) == (0, 0)
    assert checkins.checkins_follow_up(now=now + timedelta(hours=30)) == (0, 1)


def test_bad_follow_up_settings_name_the_field(client_as, manager_a, clinic_a):
    response = client_as(manager_a).post(
        reverse("settings:checkins", args=[clinic_a.uuid]),
        {
            "form": "settings",
            "quiet_hours_start": "25:00",
            "quiet_hours_end": "07:00",
            "reminder_hours": "0",
            "call_hours": "12",
        },
    )
    assert response.status_code == 400
    assert set(response.context["settings_form"].errors) == {"quiet_hours_start", "reminder_hours"}


# --- scoping -------------------------------------------------------------------------------------


def test_another_clinics_manager_gets_404(client_as, clinic_a, clinic_b):
    default_plan(clinic_a)
    manager_b = staff_create(
        username="manager_b", password=PASSWORD, clinic_roles=[(clinic_b, Role.MANAGER)]
    )
    client = client_as(manager_b)
    step = CheckInPlanStep.objects.filter(clinic=clinic_a).first()
    closure = ClinicClosure.objects.create(
        clinic=clinic_a, starts_on=date(2026, 12, 24), ends_on=date(2026, 12, 26)
    )
    for url in [
        reverse("settings:basics", args=[clinic_a.uuid]),
        reverse("settings:hours", args=[clinic_a.uuid]),
        reverse("settings:checkins", args=[clinic_a.uuid]),
        reverse("settings:step", args=[clinic_a.uuid, step.uuid]),
        reverse("settings:step_remove", args=[clinic_a.uuid, step.uuid]),
        reverse("settings:closure_remove", args=[clinic_a.uuid, closure.uuid]),
        # clinic A's rows are not reachable under clinic B either
        reverse("settings:step", args=[clinic_b.uuid, step.uuid]),
        reverse("settings:closure_remove", args=[clinic_b.uuid, closure.uuid]),
    ]:
        assert client.get(url).status_code == 404, url
    assert (
        client.post(
            reverse("settings:closure_remove", args=[clinic_b.uuid, closure.uuid]),
            {"confirm": "yes"},
        ).status_code
        == 404
    )
    assert ClinicClosure.objects.filter(pk=closure.pk).exists()
    # their own clinic opens
    home = client.get(reverse("settings:home"))
    assert home.status_code == 200 and home.context["clinic"] == clinic_b
    assert home.context["tab"] == "basics"


def test_front_desk_and_practitioners_get_403_and_the_safety_lead_only_the_check_ins(
    client_as, front_desk_a, practitioner_a, safety_lead_a, clinic_a
):
    urls = [
        reverse("settings:home"),
        reverse("settings:basics", args=[clinic_a.uuid]),
        reverse("settings:hours", args=[clinic_a.uuid]),
        reverse("settings:checkins", args=[clinic_a.uuid]),
    ]
    for user in (front_desk_a, practitioner_a):
        client = client_as(user)
        for url in urls:
            assert client.get(url).status_code == 403, (user, url)
        assert client.post(urls[1], _basics(clinic_a, name="Taken over")).status_code == 403

    client = client_as(safety_lead_a)
    home = client.get(urls[0])
    assert home.status_code == 200 and home.context["tab"] == "checkins"
    assert client.get(urls[1]).status_code == 403
    assert client.get(urls[2]).status_code == 403
    page = client.get(urls[3])
    assert page.status_code == 200
    assert b"Opening hours and closures" not in page.content  # no manager tabs


def test_the_navigation_and_the_staff_panel_lead_to_the_settings(client_as, manager_a, clinic_a):
    page = client_as(manager_a).get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("settings:home")}"' in page
    assert f'href="{reverse("settings:basics", args=[clinic_a.uuid])}"' in page


def test_the_settings_pages_speak_korean(client_as, manager_a, clinic_a):
    manager_a.language = "ko"
    manager_a.save()
    client = client_as(manager_a)
    basics = client.get(reverse("settings:basics", args=[clinic_a.uuid])).content.decode()
    assert "Seoul 설정" in basics and "응급 전화번호" in basics
    hours = client.get(reverse("settings:hours", args=[clinic_a.uuid])).content.decode()
    assert "진료 시간과 휴무일" in hours and "월요일" in hours
    page = client.get(reverse("settings:checkins", args=[clinic_a.uuid])).content.decode()
    assert "변경 사항은 저장한 뒤에 기록하는 시술부터 적용됩니다." in page


def test_a_double_submitted_closure_or_step_is_added_once(client_as, manager_a, clinic_a):
    import uuid

    client = client_as(manager_a)
    hours = reverse("settings:hours", args=[clinic_a.uuid])
    closure = {
        "form": "closure",
        "closure-form_token": str(uuid.uuid4()),
        "closure-starts_on": (clinic_a.today() + timedelta(days=3)).isoformat(),
        "closure-ends_on": (clinic_a.today() + timedelta(days=3)).isoformat(),
    }
    assert client.post(hours, closure).status_code == 302
    assert client.post(hours, closure).status_code == 302
    assert ClinicClosure.objects.filter(clinic=clinic_a).count() == 1

    checkins_url = reverse("settings:checkins", args=[clinic_a.uuid])
    step = {
        "form": "step",
        "step-form_token": str(uuid.uuid4()),
        "step-label": "Day 5",
        "step-days": "5",
    }
    assert client.post(checkins_url, step).status_code == 302
    assert client.post(checkins_url, step).status_code == 302
    assert CheckInPlanStep.objects.filter(clinic=clinic_a, label="Day 5").count() == 1
    added = StaffAuditEvent.objects.filter(detail__startswith="Check-in step added")
    assert added.count() == 1


def test_the_settings_lists_cost_the_same_queries_for_more_rows(client_as, manager_a, clinic_a):
    from tests.factories import CheckInPlanStepFactory, ClinicClosureFactory
    from tests.kit.queries import assert_constant_queries

    client = client_as(manager_a)

    def grow_plan(n):
        start = CheckInPlanStep.objects.filter(clinic=clinic_a).count()
        for i in range(start, start + n):
            CheckInPlanStepFactory(clinic=clinic_a, code=f"x{i}", offset=timedelta(days=i + 1))
            StaffAuditEvent.objects.create(
                clinic=clinic_a, actor=manager_a, action=StaffAction.SETTINGS_CHANGED, detail="x"
            )

    assert_constant_queries(
        client, reverse("settings:checkins", args=[clinic_a.uuid]), grow_plan, expected=12
    )

    def grow_closures(n):
        for i in range(n):
            day = clinic_a.today() + timedelta(days=10 + 3 * ClinicClosure.objects.count())
            ClinicClosureFactory(clinic=clinic_a, starts_on=day, ends_on=day)

    assert_constant_queries(
        client, reverse("settings:hours", args=[clinic_a.uuid]), grow_closures, expected=12
    )
