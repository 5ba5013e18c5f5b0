"""The clinic's clock: today, local time, wall-clock instants, opening hours, quiet hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
import time_machine
from django.utils import timezone

from clinic.core.exceptions import RuleViolation
from tests.factories import ClinicFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seoul():
    return ClinicFactory(name="Seoul clock", time_zone="Asia/Seoul")


@pytest.fixture
def new_york():
    return ClinicFactory(name="New York clock", time_zone="America/New_York")


def test_today_is_the_clinics_date_not_the_servers(seoul, new_york):
    # 15:30 UTC is already tomorrow in Seoul; 02:00 UTC is still yesterday in New York.
    with time_machine.travel(datetime(2026, 12, 7, 15, 30, tzinfo=UTC), tick=False):
        assert seoul.today() == date(2026, 12, 8)
        assert new_york.today() == date(2026, 12, 7)
    with time_machine.travel(datetime(2026, 12, 8, 2, 0, tzinfo=UTC), tick=False):
        assert new_york.today() == date(2026, 12, 7)
        assert seoul.today() == date(2026, 12, 8)


def test_local_and_at_local_agree(seoul):
    moment = seoul.at_local(date(2026, 12, 8), time(0, 1))
    assert moment.astimezone(UTC) == datetime(2026, 12, 7, 15, 1, tzinfo=UTC)
    assert seoul.local(moment.astimezone(UTC)).date() == date(2026, 12, 8)


def test_a_time_skipped_by_spring_forward_is_refused(new_york):
    with pytest.raises(RuleViolation, match="does not exist"):
        new_york.at_local(date(2026, 3, 8), time(2, 30))


def test_day_span_covers_the_clinics_day(seoul):
    start, end = seoul.day_span(date(2026, 12, 8))
    assert start.astimezone(UTC) == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    assert (end - start).total_seconds() == 24 * 3600


def test_opening_span_reads_the_weekday_and_none_when_shut(seoul):
    seoul.opening_hours = {"1": ["09:00", "18:00"]}
    assert seoul.opening_span(date(2026, 12, 7)) == (time(9), time(18))  # a Monday
    assert seoul.opening_span(date(2026, 12, 6)) is None  # a Sunday


def test_quiet_hours_move_a_late_message_to_the_morning(seoul):
    late = seoul.at_local(date(2026, 12, 7), time(22, 15))
    moved = seoul.outside_quiet_hours(late)
    assert seoul.local(moved) == seoul.at_local(date(2026, 12, 8), time(8, 0))
    noon = seoul.at_local(date(2026, 12, 7), time(12, 0))
    assert seoul.outside_quiet_hours(noon) == noon
    early = seoul.at_local(date(2026, 12, 7), time(6, 0))
    assert seoul.local(seoul.outside_quiet_hours(early)) == seoul.at_local(
        date(2026, 12, 7), time(8, 0)
    )


def test_quiet_hours_that_do_not_wrap_midnight(seoul):
    seoul.quiet_hours_start, seoul.quiet_hours_end = time(13), time(14)
    lunch = seoul.at_local(date(2026, 12, 7), time(13, 30))
    assert seoul.local(seoul.outside_quiet_hours(lunch)).time() == time(14)
    seoul.quiet_hours_start = seoul.quiet_hours_end = time(0)
    assert seoul.outside_quiet_hours(lunch) == lunch


def test_tel_targets_keep_digits_and_a_leading_plus(seoul):
    seoul.phone, seoul.emergency_number = "+82 2-555 0100", "119"
    assert seoul.phone_tel == "+8225550100"
    assert seoul.emergency_tel == "119"


def test_activate_shows_times_on_the_clinics_wall_clock(seoul, new_york):
    moment = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
    with seoul.activate():
        assert timezone.localtime(moment).strftime("%d %H:%M") == "08 00:30"
        with new_york.activate():
            assert timezone.localtime(moment).strftime("%d %H:%M") == "07 10:30"
        assert timezone.get_current_timezone_name() == "Asia/Seoul"
    assert timezone.get_current_timezone_name() != "Asia/Seoul"
