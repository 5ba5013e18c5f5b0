"""Products, lots, series, appointments, sessions, addenda and check-ins: every named
constraint refuses bad data with its message, at the database and through validation; and the
session's treated-area rule."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from tests.constraints import (
    Refusal,
    changed,
    choices_message,
    duplicate,
    refusal,
    refused_by_database,
    refused_by_full_clean,
    refused_by_validation,
)
from tests.factories import (
    AppointmentFactory,
    CheckInFactory,
    ProductFactory,
    ProductLotFactory,
    RecallFactory,
    RecallNoticeFactory,
    SeriesTemplateFactory,
    SessionAddendumFactory,
    TreatmentSeriesFactory,
    TreatmentSessionFactory,
)
from treatments.models import (
    AppointmentStatus,
    CheckInState,
    DeliveryMethod,
    LotStatus,
    ProductForm,
    ProductSource,
    SeriesStatus,
    SessionStatus,
    Storage,
)

pytestmark = pytest.mark.django_db


def _second_booking_of_a_booked_series_step() -> models.Model:
    series = TreatmentSeriesFactory()
    AppointmentFactory(patient=series.patient, series=series, sequence=1)
    second = AppointmentFactory(patient=series.patient, series=series, sequence=2)
    second.sequence = 1
    return second


def _second_checkin_for_the_same_step() -> models.Model:
    first = CheckInFactory(step_code="d1")
    second = CheckInFactory(session=first.session, step_code="d3")
    second.step_code = "d1"
    return second


REFUSALS = [
    # Product
    refusal(
        "product_unique_per_clinic",
        "This clinic already has this product.",
        duplicate(ProductFactory, "clinic", "name", "manufacturer"),
    ),
    refusal(
        "product_source_valid",
        choices_message("source", ProductSource),
        changed(ProductFactory, source="goat"),
        field_level=True,
    ),
    refusal(
        "product_form_valid",
        choices_message("form", ProductForm),
        changed(ProductFactory, form="gas"),
        field_level=True,
    ),
    refusal(
        "product_storage_valid",
        choices_message("storage", Storage),
        changed(ProductFactory, storage="sauna"),
        field_level=True,
    ),
    # ProductLot
    refusal(
        "lot_number_unique_per_product",
        "This product already has a lot with this number.",
        duplicate(ProductLotFactory, "product", "lot_number"),
    ),
    refusal(
        "lot_stock_never_negative",
        "Not enough stock left in this lot.",
        changed(ProductLotFactory, quantity_on_hand=-1),
    ),
    refusal(
        "lot_stock_at_most_received",
        "A lot cannot hold more than was received.",
        changed(ProductLotFactory, quantity_on_hand=lambda lot: lot.quantity_received + 1),
    ),
    refusal(
        "lot_received_quantity_positive",
        "A received lot has at least one unit.",
        changed(ProductLotFactory, quantity_received=0, quantity_on_hand=0),
    ),
    refusal(
        "lot_expires_after_receipt",
        "The expiry date must come after the date received.",
        changed(ProductLotFactory, expiry_date=lambda lot: lot.received_on),
    ),
    refusal(
        "lot_hold_has_reason",
        "Quarantine and recall need a reason.",
        changed(ProductLotFactory, status=LotStatus.QUARANTINED, status_reason=""),
    ),
    refusal(
        "lot_status_valid",
        choices_message("status", LotStatus),
        changed(ProductLotFactory, status="lost", status_reason="Fell behind the fridge"),
        field_level=True,
    ),
    # Recall and RecallNotice
    refusal(
        "recall_one_per_lot",
        "This lot has already been recalled.",
        duplicate(RecallFactory, "lot"),
    ),
    refusal(
        "recall_has_reason",
        "A recall needs a reason.",
        changed(RecallFactory, reason=""),
        field_level=True,
    ),
    refusal(
        "recall_notice_one_per_patient",
        "This patient already has a notice for this recall.",
        duplicate(RecallNoticeFactory, "recall", "patient"),
    ),
    # SeriesTemplate
    refusal(
        "template_name_unique",
        "A template with this name exists.",
        duplicate(SeriesTemplateFactory, "clinic", "name"),
    ),
    refusal(
        "template_sessions_1_to_12",
        "A series has 1 to 12 sessions.",
        changed(SeriesTemplateFactory, sessions_planned=13),
    ),
    refusal(
        "template_interval_within_window",
        "The interval must lie within the allowed window.",
        changed(SeriesTemplateFactory, interval_weeks=8),
    ),
    refusal(
        "template_maintenance_1_to_24_months",
        "Maintenance comes 1 to 24 months after a course.",
        changed(SeriesTemplateFactory, maintenance_interval_months=0),
    ),
    refusal(
        "template_session_length_sane",
        "A session lasts 10 minutes to 8 hours.",
        changed(SeriesTemplateFactory, session_minutes=5),
    ),
    # TreatmentSeries
    refusal(
        "series_status_valid",
        choices_message("status", SeriesStatus),
        changed(TreatmentSeriesFactory, status="paused"),
        field_level=True,
    ),
    refusal(
        "series_sessions_1_to_12",
        "A series has 1 to 12 sessions.",
        changed(TreatmentSeriesFactory, sessions_planned=0),
    ),
    # Appointment
    refusal(
        "appointment_ends_after_start",
        "An appointment must end after it starts.",
        changed(AppointmentFactory, ends_at=lambda appointment: appointment.starts_at),
    ),
    refusal(
        "appointment_status_valid",
        choices_message("status", AppointmentStatus),
        changed(AppointmentFactory, status="maybe"),
        field_level=True,
    ),
    refusal(
        "appointment_one_live_per_series_step",
        "This step of the series is already booked.",
        _second_booking_of_a_booked_series_step,
    ),
    refusal(
        "appointment_hold_clearance_has_reason",
        "Clearing a safety hold needs a reason.",
        changed(
            AppointmentFactory,
            safety_hold=True,
            hold_cleared_at=lambda _: timezone.now(),
            hold_cleared_by=lambda appointment: appointment.practitioner,
            hold_clearance_reason="",
        ),
    ),
    # TreatmentSession
    refusal(
        "session_method_valid",
        choices_message("delivery_method", DeliveryMethod),
        changed(TreatmentSessionFactory, delivery_method="osmosis"),
        field_level=True,
    ),
    refusal(
        "session_status_valid",
        choices_message("status", SessionStatus),
        changed(TreatmentSessionFactory, status="draft"),
        field_level=True,
    ),
    refusal(
        "session_laser_type_valid",
        "Unknown laser type.",
        changed(TreatmentSessionFactory, laser_type="death_ray"),
        field_level=True,
    ),
    refusal(
        "session_amount_positive",
        "The amount used must be greater than zero.",
        changed(TreatmentSessionFactory, units_used=0),
    ),
    refusal(
        "session_microneedling_depth",
        "Microneedling needs a needle depth of 0.1 to 3.0 mm.",
        changed(TreatmentSessionFactory, needle_depth_mm=Decimal("3.50")),
    ),
    refusal(
        "session_laser_has_type",
        "A laser session needs the laser type.",
        changed(TreatmentSessionFactory, delivery_method=DeliveryMethod.LASER, laser_type=""),
    ),
    refusal(
        "session_volume_positive",
        "The volume used must be greater than zero.",
        changed(TreatmentSessionFactory, volume_ml=Decimal("0.00")),
    ),
    refusal(
        "session_signed_has_signer",
        "A signed session records who signed it and when.",
        changed(
            TreatmentSessionFactory, status=SessionStatus.SIGNED, signed_at=lambda _: timezone.now()
        ),
    ),
    refusal(
        "session_error_has_reason",
        "Say why the session was entered in error.",
        changed(
            TreatmentSessionFactory,
            status=SessionStatus.ENTERED_IN_ERROR,
            entered_in_error_at=lambda _: timezone.now(),
            entered_in_error_reason="",
        ),
    ),
    # SessionAddendum
    refusal(
        "addendum_not_empty",
        "An addendum needs text.",
        changed(SessionAddendumFactory, text=""),
        field_level=True,
    ),
    # CheckIn
    refusal(
        "checkin_one_per_session_step",
        "This session already has a check-in for this step.",
        _second_checkin_for_the_same_step,
    ),
    refusal(
        "checkin_state_valid",
        choices_message("state", CheckInState),
        changed(CheckInFactory, state="ghosted"),
        field_level=True,
    ),
    refusal(
        "checkin_answer_has_time",
        "An answered check-in records when it was answered.",
        changed(CheckInFactory, state=CheckInState.ANSWERED_FINE, answered_at=None),
    ),
]


@pytest.mark.parametrize("case", REFUSALS)
def test_the_database_refuses_it(case: Refusal) -> None:
    refused_by_database(case)


@pytest.mark.parametrize("case", REFUSALS)
def test_validate_constraints_refuses_it_with_its_message(case: Refusal) -> None:
    refused_by_validation(case)


@pytest.mark.parametrize("case", REFUSALS)
def test_full_clean_refuses_it(case: Refusal) -> None:
    refused_by_full_clean(case)


# --- what the constraints let through -----------------------------------------------------


def test_it_accepts_a_lot_with_its_last_unit_used() -> None:
    ProductLotFactory(quantity_received=5, quantity_on_hand=0).full_clean()


def test_it_accepts_a_second_live_booking_once_the_first_is_cancelled() -> None:
    series = TreatmentSeriesFactory()
    AppointmentFactory(
        patient=series.patient, series=series, sequence=1, status=AppointmentStatus.CANCELLED
    )
    AppointmentFactory(patient=series.patient, series=series, sequence=1).full_clean()


def test_it_accepts_a_laser_session_without_a_needle_depth() -> None:
    TreatmentSessionFactory(laser=True).full_clean()


def test_it_refuses_a_microneedling_session_without_a_needle_depth() -> None:
    session = TreatmentSessionFactory()
    session.needle_depth_mm = None
    with pytest.raises(ValidationError) as caught:
        session.validate_constraints()
    assert "Microneedling needs a needle depth of 0.1 to 3.0 mm." in caught.value.messages


# --- clean() -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("areas", "message"),
    [
        ([], "Choose at least one treated area."),
        ("cheeks", "Choose at least one treated area."),
        (["cheeks", "elbow"], "Unknown area(s): elbow."),
    ],
    ids=["none", "not-a-list", "unknown"],
)
def test_it_refuses_treated_areas_that_are_missing_or_unknown(areas: object, message: str) -> None:
    session = TreatmentSessionFactory()
    session.treated_areas = areas
    with pytest.raises(ValidationError) as caught:
        session.full_clean()
    assert message in caught.value.message_dict["treated_areas"]


def test_it_accepts_several_known_treated_areas() -> None:
    TreatmentSessionFactory(treated_areas=["forehead", "cheeks", "scar_sites"]).full_clean()


def test_a_checkin_is_due_after_its_session() -> None:
    checkin = CheckInFactory()
    assert checkin.due_at - checkin.session.performed_at == timedelta(days=1)
