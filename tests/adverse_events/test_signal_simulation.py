"""The signal rules on simulated data: a lot planted at 3x the baseline rate is flagged,
and fewer than 5% of 200 clean lots of the same products raise a rate signal."""

from __future__ import annotations

import time

import pytest

from adverse_events.simulation import simulate

pytestmark = pytest.mark.django_db


def test_a_planted_lot_is_flagged_and_clean_lots_rarely_are():
    """GIVEN 10 products of 20 clean lots and one lot at 3x the baseline, 12 weeks of about
    15 sessions a week per lot WHEN signals are computed after every week THEN the planted
    lot raises a rate signal and fewer than 10 of the 200 clean lots ever do."""
    started = time.monotonic()
    result = simulate(seed=20261123)
    assert result.clean_lots == 200
    assert result.planted_flagged, result
    assert result.planted_sessions_when_flagged <= result.planted_sessions_total
    assert result.false_alarm_rate < 0.05, result
    assert time.monotonic() - started < 60  # ~20 s is the target on an idle machine
