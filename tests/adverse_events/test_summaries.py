"""The summary tables equal the live aggregates, after a full build and after incremental
refreshes that see new reports, sessions entered in error, lot corrections and bulk writes;
and a refresh with nothing new recomputes nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from adverse_events import summaries
from adverse_events.models import ReactionTerm, SummaryFillState
from adverse_events.summaries import (
    live_checkin_weeks,
    live_lot_terms,
    live_lot_weeks,
    live_reaction_weeks,
    summaries_as_of,
    summaries_refresh,
    table_checkin_weeks,
    table_lot_terms,
    table_lot_weeks,
    table_reaction_weeks,
    week_of,
)
from clinic.core.models import CheckInPlanStep
from tests import factories as f
from treatments.models import CheckIn, CheckInState, TreatmentSession
from treatments.services import session_mark_entered_in_error

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # a Wednesday
TERMS = ["redness", "swelling", "bruising", "headache", "fever"]
STEPS = [("d1", 1), ("d3", 3), ("d7", 7)]
STATES = [
    CheckInState.SCHEDULED,
    CheckInState.SENT,
    CheckInState.REMINDED,
    CheckInState.ANSWERED_FINE,
    CheckInState.ANSWERED_REACTIONS,
    CheckInState.MISSED,
    CheckInState.CANCELLED,
]


def _hours(n: float) -> Any:
    return time_machine.travel(T0 + timedelta(hours=n), tick=False)


def _world(rng: random.Random) -> dict[str, Any]:
    """Three clinics, two lots each, ~60 sessions over ten weeks (some late on a Sunday night
    in UTC), reports of several terms, check-ins in every state."""
    clinics = [f.ClinicFactory() for _ in range(3)]
    lots = {
        c.pk: [f.ProductLotFactory(product__clinic=c, quantity_on_hand=10) for _ in range(2)]
        for c in clinics
    }
    for clinic in clinics:
        for code, days in STEPS[:2]:  # d7 is not in the plan: day_after from the due times
            f.CheckInPlanStepFactory(clinic=clinic, code=code, offset=timedelta(days=days))
    sessions = []
    for i in range(60):
        clinic = clinics[i % 3]
        performed_at = T0 - timedelta(days=rng.randint(0, 70), hours=rng.randint(0, 23))
        if i % 11 == 0:  # Sunday 23:30 UTC: the week before Monday's, whatever Seoul says
            performed_at = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)
        session = f.TreatmentSessionFactory(
            patient__clinic=clinic, lot=rng.choice(lots[clinic.pk]), performed_at=performed_at
        )
        sessions.append(session)
        for _ in range(rng.choice([0, 0, 1, 2])):
            f.ReactionReportFactory(
                session=session,
                term=f.ReactionTermFactory(code=rng.choice(TERMS)),
                onset_date=performed_at.date() + timedelta(days=rng.randint(0, 3)),
            )
        for code, days in STEPS:
            state = rng.choice(STATES)
            f.CheckInFactory(
                session=session,
                step_code=code,
                due_at=performed_at + timedelta(days=days, hours=rng.choice([0, 10])),
                state=state,
                answered_at=timezone.now() if state.startswith("answered") else None,
            )
    return {"clinics": clinics, "lots": lots, "sessions": sessions}


def _assert_tables_equal_live() -> None:
    assert table_lot_weeks() == live_lot_weeks()
    assert table_lot_terms() == live_lot_terms()
    assert table_reaction_weeks() == live_reaction_weeks()
    assert table_checkin_weeks() == live_checkin_weeks()


def _live() -> tuple[Any, ...]:
    return live_lot_weeks(), live_lot_terms(), live_reaction_weeks(), live_checkin_weeks()


@pytest.mark.parametrize("chunk", [500, 2], ids=["one-chunk", "many-chunks"])
def test_incremental_refreshes_keep_the_tables_equal_to_the_live_aggregates(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a random-ish world of clinics, lots, sessions, reports and check-ins
    WHEN the summaries are built, then the world changes, then they are refreshed
    THEN the tables equal the aggregates computed from the raw rows, each time."""
    monkeypatch.setattr(summaries, "CHUNK", chunk)
    rng = random.Random(9)
    with _hours(0):
        world = _world(rng)
    with _hours(1):
        first = summaries_refresh()
    live = _live()
    assert all(live), "the world has rows in every table"
    assert first["lots"] == 6
    _assert_tables_equal_live()

    sessions: list[TreatmentSession] = world["sessions"]
    user = f.PractitionerFactory(clinic=world["clinics"][0])
    with _hours(2):
        # New reports on sessions that had none.
        for session in [s for s in sessions if not s.reactions.exists()][:4]:
            f.ReactionReportFactory(
                session=session,
                term=ReactionTerm.objects.get(code="fever"),
                onset_date=session.performed_at.date(),
            )
        # A session with reports entered in error: its exposure, cases and check-ins go.
        first_clinic = world["clinics"][0]
        wrong = next(s for s in sessions if s.reactions.exists() and s.clinic == first_clinic)
        session_mark_entered_in_error(session=wrong, user=user, reason="Wrong patient")
        # A lot correction: the session moves to its clinic's other lot.
        moved = next(s for s in sessions if s.reactions.exists() and s.pk != wrong.pk)
        old_lot = moved.lot
        moved.lot = next(lot for lot in world["lots"][moved.clinic_id] if lot != old_lot)
        moved.save()
        # Check-ins answered in one bulk write (no save(), no signals).
        answered = CheckIn.objects.filter(state=CheckInState.SENT)[:5]
        assert CheckIn.objects.filter(pk__in=[c.pk for c in answered]).update(
            state=CheckInState.ANSWERED_FINE, answered_at=timezone.now()
        )
    assert _live() != live, "the changes show in the live aggregates"
    with _hours(3):
        second = summaries_refresh()
    _assert_tables_equal_live()
    assert second["lots"] >= 2  # at least the corrected session's old and new lots

    # And the old lot lost the moved session.
    old_weeks = {k: v for k, v in table_lot_weeks().items() if k[0] == old_lot.pk}
    assert old_weeks == {k: v for k, v in live_lot_weeks().items() if k[0] == old_lot.pk}


def test_a_refresh_with_nothing_new_recomputes_no_keys() -> None:
    with _hours(0):
        _world(random.Random(1))
    with _hours(1):
        assert all(summaries_refresh().values())
    with _hours(2):
        assert summaries_refresh() == {"lots": 0, "reactions": 0, "checkins": 0}
    assert set(SummaryFillState.objects.values_list("last_keys", flat=True)) == {0}
    _assert_tables_equal_live()


def test_a_refresh_recomputes_only_what_changed() -> None:
    """GIVEN built summaries
    WHEN one report arrives
    THEN the next refresh recomputes one lot, one reaction week and no check-in week."""
    with _hours(0):
        world = _world(random.Random(2))
    with _hours(1):
        summaries_refresh()
    with _hours(2):
        session = world["sessions"][5]
        f.ReactionReportFactory(
            session=session,
            term=ReactionTerm.objects.get(code="headache"),
            onset_date=session.performed_at.date(),
        )
    with _hours(3):
        assert summaries_refresh() == {"lots": 1, "reactions": 1, "checkins": 0}
    _assert_tables_equal_live()


def test_a_change_that_committed_late_is_still_seen() -> None:
    """A row stamped a few minutes before the last run (its transaction committed after the
    run read) is picked up by the next run, thanks to the overlap."""
    with _hours(0):
        world = _world(random.Random(3))
    with _hours(1):
        summaries_refresh()
    session = world["sessions"][7]
    with time_machine.travel(T0 + timedelta(hours=1, minutes=-5), tick=False):
        f.ReactionReportFactory(
            session=session,
            term=ReactionTerm.objects.get(code="bruising"),
            onset_date=session.performed_at.date(),
        )
    with _hours(1.5):
        summaries_refresh()
    _assert_tables_equal_live()


def test_a_lost_fill_state_rebuilds_everything() -> None:
    with _hours(0):
        _world(random.Random(4))
    with _hours(1):
        summaries_refresh()
    SummaryFillState.objects.all().delete()
    with _hours(2):
        rebuilt = summaries_refresh()
    assert rebuilt["lots"] == 6
    _assert_tables_equal_live()


def test_sessions_count_in_their_utc_week_and_plan_steps_give_the_day() -> None:
    clinic = f.ClinicFactory()
    CheckInPlanStep.objects.filter(clinic=clinic).delete()
    f.CheckInPlanStepFactory(clinic=clinic, code="d3", offset=timedelta(days=3))
    sunday_night = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)  # Monday morning in Seoul
    session = f.TreatmentSessionFactory(patient__clinic=clinic, performed_at=sunday_night)
    f.CheckInFactory(
        session=session,
        step_code="d3",
        due_at=sunday_night + timedelta(days=3, hours=10),
        state=CheckInState.ANSWERED_FINE,
        answered_at=sunday_night + timedelta(days=3, hours=11),
    )
    f.CheckInFactory(
        session=session,
        step_code="w2",  # not in the plan: from the due time, in whole days
        due_at=sunday_night + timedelta(days=14, hours=9),
        state=CheckInState.MISSED,
    )
    summaries_refresh()
    monday = week_of(sunday_night)
    assert monday.isoformat() == "2026-05-25"
    assert table_checkin_weeks() == {
        (clinic.pk, monday, "d3"): (3, 1, 1),
        (clinic.pk, monday, "w2"): (14, 1, 0),
    }
    assert table_lot_weeks() == {(session.lot_id, monday): (1, 0)}
    assert summaries_as_of() is not None


def test_the_task_refreshes_and_beat_runs_it_every_five_minutes() -> None:
    from adverse_events.tasks import summaries_refresh_task
    from clinic.celery import app

    session = f.TreatmentSessionFactory()
    f.ReactionReportFactory(session=session, onset_date=session.performed_at.date())
    assert summaries_refresh_task() == {"lots": 1, "reactions": 1, "checkins": 0}
    assert table_lot_weeks() == {(session.lot_id, week_of(session.performed_at)): (1, 1)}
    entry = app.conf.beat_schedule["summaries-refresh"]
    assert entry["task"] == summaries_refresh_task.name
    assert entry["schedule"] == 300


def test_an_idle_refresh_costs_the_same_few_queries_at_any_size() -> None:
    """Nothing changed: a refresh only looks for changed rows (index lookups) and moves the
    fill states on, whether the clinic has ten sessions or a hundred."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for hour, seed in ((0, 5), (3, 6)):
        with _hours(hour):
            _world(random.Random(seed))
        with _hours(hour + 1):
            summaries_refresh()
        with _hours(hour + 2), CaptureQueriesContext(connection) as ctx:
            assert summaries_refresh() == {"lots": 0, "reactions": 0, "checkins": 0}
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1] <= 24, counts  # 21 today: ~7 per table
