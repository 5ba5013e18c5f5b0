"""Logging a session: screening, lot rules, stock, and what the workflow leaves behind."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from adverse_events.models import ReactionReport
from clinic.core.exceptions import Conflict, NotAllowed, RuleViolation
from clinic.workflows import screening_evaluate
from patients.links import link_resolve, link_token
from patients.models import MessageKind, OutboxMessage
from tests.factories import PatientFactory, ReactionReportFactory
from tests.kit.world import default_plan, logged_session, released_lot
from tests.requirements import require_postgres
from treatments.models import DeliveryMethod, LotStatus, ProductLot, SessionStatus
from treatments.services import session_add_addendum, session_sign


def test_a_logged_session_takes_stock_plans_check_ins_and_sends_aftercare(clinic_a, practitioner_a):
    default_plan(clinic_a)
    lot = released_lot(clinic_a, quantity=10)
    session = logged_session(practitioner_a, lot=lot, units_used=2)
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 8
    assert session.checkins.count() == 6
    aftercare = OutboxMessage.objects.get(kind=MessageKind.AFTERCARE)
    assert aftercare.patient == session.patient and aftercare.context == {"session": session.pk}
    # The session's report link lives 120 days and can be printed again.
    link = session.report_link
    assert link_resolve(link_token(link)) == link
    assert round((link.expires_at - link.created_at).total_seconds() / 86400) == 120


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"status": LotStatus.QUARANTINED, "status_reason": "Cold chain broken"},
            "is quarantined: Cold chain broken",
        ),
        (
            {"status": LotStatus.RECALLED, "status_reason": "Manufacturer recall"},
            "was recalled: Manufacturer recall",
        ),
    ],
)
def test_a_held_lot_is_refused_with_the_reason(clinic_a, practitioner_a, change, message):
    lot = released_lot(clinic_a, quantity=5)
    ProductLot.objects.filter(pk=lot.pk).update(**change)
    lot.refresh_from_db()
    with pytest.raises(RuleViolation, match=message) as caught:
        logged_session(practitioner_a, lot=lot)
    assert caught.value.field == "lot"
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 5


def test_a_lot_expired_by_the_clinics_local_date_is_refused(clinic_a, practitioner_a):
    """GIVEN a lot that expires on 3 March
    WHEN it is 3 March 23:30 UTC (already 4 March in Seoul) THEN Seoul may not use it."""
    lot = released_lot(clinic_a, expiry_date=date(2026, 3, 3), received_on=date(2026, 1, 1))
    late_utc = datetime(2026, 3, 3, 23, 30, tzinfo=ZoneInfo("UTC"))
    with (
        time_machine.travel(late_utc, tick=False),
        pytest.raises(RuleViolation, match="expired on 2026-03-03"),
    ):
        logged_session(practitioner_a, lot=lot)
    with time_machine.travel(datetime(2026, 3, 3, 10, 0, tzinfo=ZoneInfo("UTC")), tick=False):
        assert logged_session(practitioner_a, lot=lot).lot == lot


def test_the_last_unit_goes_to_one_session_and_the_next_gets_a_clear_message(
    clinic_a, practitioner_a
):
    lot = released_lot(clinic_a, quantity=1)
    logged_session(practitioner_a, lot=lot)
    with pytest.raises(Conflict, match="has only 0 vial"):
        logged_session(practitioner_a, lot=lot)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_practitioners_taking_the_last_unit_at_once_one_wins(clinic_a, practitioner_a):
    """GIVEN a lot with one unit WHEN two sessions are logged at the same moment on
    PostgreSQL THEN one succeeds, the other gets a clear message, and stock is 0, not -1."""
    require_postgres()
    lot = released_lot(clinic_a, quantity=1)
    patients = [PatientFactory(clinic=clinic_a) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def log(patient):
        barrier.wait()
        try:
            logged_session(practitioner_a, patient=patient, lot=ProductLot.objects.get(pk=lot.pk))
            outcomes.append("ok")
        except Conflict as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=log, args=(p,)) for p in patients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes, key=len) == [
        "ok",
        f"Lot {lot.lot_number} has only 0 vial(s) left; 1 needed.",
    ]
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 0


def test_a_hard_stop_blocks_the_session_unless_overridden_with_a_reason(clinic_a, practitioner_a):
    patient = PatientFactory(clinic=clinic_a, pregnant_or_breastfeeding=True)
    with pytest.raises(RuleViolation, match="Pregnant or breastfeeding") as caught:
        logged_session(practitioner_a, patient=patient)
    assert caught.value.field == "screening_override_reason"
    session = logged_session(
        practitioner_a,
        patient=patient,
        screening_override_reason="Obstetrician cleared, letter on file",
    )
    assert session.screening_override_reason == "Obstetrician cleared, letter on file"
    # (Besides the reminder that the record's facts were never confirmed: tests/patients.)
    assert {f["code"] for f in session.screening["findings"] if f["level"] != "reconfirm"} == {
        "pregnancy"
    }


def test_active_infection_answered_at_screening_is_a_hard_stop(clinic_a, practitioner_a):
    with pytest.raises(RuleViolation, match="Active skin infection"):
        logged_session(practitioner_a, screening_answers={"active_infection": True})


def test_an_unresolved_reaction_from_an_earlier_session_is_a_hard_stop(clinic_a, practitioner_a):
    first = logged_session(practitioner_a)
    ReactionReportFactory(session=first, ongoing=True)
    assert ReactionReport.objects.filter(patient=first.patient, ongoing=True).exists()
    with pytest.raises(RuleViolation, match="not resolved"):
        logged_session(practitioner_a, patient=first.patient)


def test_warnings_must_be_acknowledged(clinic_a, practitioner_a):
    patient = PatientFactory(clinic=clinic_a, on_anticoagulants=True, fitzpatrick_type=6)
    screening = screening_evaluate(
        patient=patient, delivery_method=DeliveryMethod.LASER, answers={}
    )
    assert {f.code for f in screening.warnings} == {"anticoagulants", "fitzpatrick_laser"}
    assert screening.hard_stops == []
    with pytest.raises(RuleViolation, match="blood thinners") as caught:
        logged_session(practitioner_a, patient=patient, warnings_acknowledged=False)
    assert caught.value.field == "warnings_acknowledged"


def test_a_practitioner_of_another_clinic_cannot_log_a_session_here(clinic_a, practitioner_b):
    patient = PatientFactory(clinic=clinic_a)
    lot = released_lot(clinic_a)
    with pytest.raises(NotAllowed):
        from clinic.workflows import session_log

        session_log(
            practitioner=practitioner_b,
            patient=patient,
            lot=lot,
            delivery_method=DeliveryMethod.TOPICAL,
            treated_areas=["cheeks"],
        )


def test_a_lot_of_another_clinic_is_refused(clinic_a, clinic_b, practitioner_a):
    foreign = released_lot(clinic_b)
    with pytest.raises(RuleViolation, match="another clinic"):
        logged_session(practitioner_a, lot=foreign)


def test_running_low_alerts_the_safety_lead_once(clinic_a, practitioner_a, safety_lead_a):
    lot = released_lot(clinic_a, quantity=clinic_a.low_stock_threshold + 2)
    logged_session(practitioner_a, lot=lot)
    assert not OutboxMessage.objects.filter(kind=MessageKind.LOW_STOCK_ALERT).exists()
    logged_session(practitioner_a, lot=lot)
    logged_session(practitioner_a, lot=lot)
    alert = OutboxMessage.objects.get(kind=MessageKind.LOW_STOCK_ALERT)
    assert alert.to_address == safety_lead_a.email
    assert lot.lot_number in alert.subject


def test_a_signed_session_is_locked_and_corrected_by_addenda(clinic_a, practitioner_a):
    session = logged_session(practitioner_a)
    session_sign(session=session, user=practitioner_a)
    assert session.status == SessionStatus.SIGNED and session.is_locked
    with pytest.raises(RuleViolation, match="already signed"):
        session_sign(session=session, user=practitioner_a)
    addendum = session_add_addendum(
        session=session, author=practitioner_a, text="Also treated the neck."
    )
    assert addendum.author == practitioner_a and session.addenda.count() == 1
    with pytest.raises(RuleViolation, match="Write the correction"):
        session_add_addendum(session=session, author=practitioner_a, text="  ")
    assert timedelta(0) <= (addendum.created_at - session.signed_at)
