"""API test helpers: one of every resource in clinic A (and a patient in clinic B)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.factories import (
    AlarmFactory,
    AppointmentFactory,
    AssessmentFactory,
    CheckInFactory,
    PatientFactory,
    ReactionReportFactory,
    ReactionTermFactory,
    TreatmentSeriesFactory,
)
from tests.kit.world import default_plan, logged_session, released_lot


@dataclass
class ApiWorld:
    patient: Any
    patient_b: Any
    appointment: Any
    series: Any
    session: Any
    product: Any
    lot: Any
    term: Any
    reaction: Any
    checkin: Any
    alarm: Any


def build_world(clinic_a: Any, clinic_b: Any, practitioner_a: Any) -> ApiWorld:
    default_plan(clinic_a)
    patient = PatientFactory(clinic=clinic_a)
    lot = released_lot(clinic_a)
    session = logged_session(practitioner_a, patient=patient, lot=lot)
    term = ReactionTermFactory()
    reaction = ReactionReportFactory(session=session, term=term)
    AssessmentFactory(report=reaction, reviewed=True)
    checkin = session.checkins.first() or CheckInFactory(session=session)
    return ApiWorld(
        patient=patient,
        patient_b=PatientFactory(clinic=clinic_b),
        appointment=AppointmentFactory(patient=patient),
        series=TreatmentSeriesFactory(patient=patient),
        session=session,
        product=lot.product,
        lot=lot,
        term=term,
        reaction=reaction,
        checkin=checkin,
        alarm=AlarmFactory(patient=patient),
    )


@pytest.fixture
def api_world(clinic_a: Any, clinic_b: Any, practitioner_a: Any) -> ApiWorld:
    return build_world(clinic_a, clinic_b, practitioner_a)
