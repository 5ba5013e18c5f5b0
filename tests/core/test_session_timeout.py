"""Staff sessions end after 15 idle minutes or 12 hours after login."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from tests.kit.auth import login_staff

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("dashboard")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _expired(response) -> bool:
    return response.status_code == 302 and response["Location"] == (
        reverse("core:login") + "?expired=1"
    )


def test_a_session_idle_for_more_than_fifteen_minutes_ends(client, practitioner_a):
    with time_machine.travel(START, tick=False) as clock:
        assert login_staff(client, practitioner_a).status_code == 302
        assert client.get(DASHBOARD).status_code == 200
        clock.shift(timedelta(minutes=15, seconds=1))
        assert _expired(client.get(DASHBOARD))
        # Logged out for good, not just redirected once.
        assert client.get(DASHBOARD)["Location"].startswith(reverse("core:login") + "?next=")


def test_activity_within_fifteen_minutes_keeps_the_session(client, practitioner_a):
    with time_machine.travel(START, tick=False) as clock:
        login_staff(client, practitioner_a)
        for _ in range(4):
            clock.shift(timedelta(minutes=14))
            assert client.get(DASHBOARD).status_code == 200


def test_a_busy_session_still_ends_twelve_hours_after_login(client, practitioner_a):
    with time_machine.travel(START, tick=False) as clock:
        login_staff(client, practitioner_a)
        for _ in range(12 * 6 - 1):  # a request every 10 minutes until 11:50 after login
            clock.shift(timedelta(minutes=10))
            assert client.get(DASHBOARD).status_code == 200
        clock.shift(timedelta(minutes=10, seconds=1))
        assert _expired(client.get(DASHBOARD))


def test_the_absolute_limit_counts_from_the_login_not_the_first_page(client, practitioner_a):
    with time_machine.travel(START, tick=False) as clock:
        login_staff(client, practitioner_a)
        clock.shift(timedelta(minutes=14))
        assert client.get(DASHBOARD).status_code == 200  # the first page, 14 min after login
        for _ in range(12 * 6 - 2):
            clock.shift(timedelta(minutes=10))
            assert client.get(DASHBOARD).status_code == 200
        clock.shift(timedelta(minutes=6, seconds=1))  # 12 h + 1 s after login
        assert _expired(client.get(DASHBOARD))


def test_an_expired_api_call_answers_401_not_a_redirect(client, practitioner_a):
    with time_machine.travel(START, tick=False) as clock:
        login_staff(client, practitioner_a)
        clock.shift(timedelta(minutes=16))
        assert client.get("/api/anything/").status_code == 401


def test_the_login_page_says_the_session_ended(client):
    response = client.get(reverse("core:login") + "?expired=1")
    assert "Your session ended" in response.content.decode()
