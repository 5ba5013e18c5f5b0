"""Small builders for the clinical world that tests share: a released lot, a session logged
through the real workflow. (Plain rows come from tests/factories.py.)"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from clinic.core.models import CheckInPlanStep, Clinic
from clinic.workflows import session_log
from tests.factories import PatientFactory, ProductFactory, ProductLotFactory
from treatments.models import DeliveryMethod, ProductLot, TreatmentSession


def default_plan(clinic: Clinic) -> None:
    CheckInPlanStep.objects.bulk_create(
        [
            CheckInPlanStep(clinic=clinic, code=code, label=label, offset=offset)
            for code, label, offset in CheckInPlanStep.DEFAULT_PLAN
        ],
        ignore_conflicts=True,
    )


def released_lot(clinic: Clinic, *, quantity: int = 20, **extra: Any) -> ProductLot:
    product = ProductFactory(clinic=clinic)
    today = timezone.localdate()
    defaults = {
        "product": product,
        "expiry_date": today + timedelta(days=365),
        "received_on": today - timedelta(days=10),
        "quantity_received": quantity,
        "quantity_on_hand": quantity,
    }
    return ProductLotFactory(**(defaults | extra))


def logged_session(practitioner: Any, *, patient=None, lot=None, **extra: Any) -> TreatmentSession:
    """A microneedling session logged through the real workflow (screening, stock, check-ins)."""
    clinic = practitioner.memberships.first().clinic
    patient = patient or PatientFactory(clinic=clinic)
    lot = lot or released_lot(clinic)
    kwargs = {
        "practitioner": practitioner,
        "patient": patient,
        "lot": lot,
        "delivery_method": DeliveryMethod.MICRONEEDLING,
        "needle_depth_mm": Decimal("0.50"),
        "treated_areas": ["cheeks", "forehead"],
        "units_used": 1,
        "warnings_acknowledged": True,
    }
    return session_log(**(kwargs | extra))
