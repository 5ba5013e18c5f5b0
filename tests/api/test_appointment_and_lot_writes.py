"""Appointment actions, products and lots over the API: the same services and roles as the
booking and lot pages."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    ProductFactory,
    ProductLotFactory,
    ReactionReportFactory,
)
from treatments.models import AppointmentStatus, Product, ProductLot

pytestmark = pytest.mark.django_db


def _post(client, url, data=None, **extra):
    return client.post(url, data or {}, content_type="application/json", **extra)


def _monday_at(clinic, hour: int, weeks: int = 2) -> datetime:
    today = clinic.today()
    monday = today + timedelta(days=7 - today.weekday() + 7 * (weeks - 1))
    return clinic.at_local(monday, time(hour))


def _appointment(clinic, **kwargs):
    start = kwargs.pop("starts_at", _monday_at(clinic, 10))
    return AppointmentFactory(
        patient=kwargs.pop("patient", None) or PatientFactory(clinic=clinic),
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        **kwargs,
    )


# --- appointments ------------------------------------------------------------------------


def test_the_front_desk_moves_an_appointment_keeping_its_length(front_desk_client, clinic_a):
    appointment = _appointment(clinic_a)
    new_start = _monday_at(clinic_a, 14)
    response = _post(
        front_desk_client,
        f"/api/v1/appointments/{appointment.uuid}/reschedule/",
        {"starts_at": new_start.isoformat()},
    )
    assert response.status_code == 200, response.json()
    appointment.refresh_from_db()
    assert appointment.starts_at == new_start
    assert appointment.ends_at == new_start + timedelta(hours=1)
    assert response.json()["appointment"]["id"] == str(appointment.uuid)
    assert response.json()["warnings"] == []


def test_a_taken_slot_is_a_409_on_starts_at(front_desk_client, clinic_a):
    appointment = _appointment(clinic_a)
    _appointment(
        clinic_a, practitioner=appointment.practitioner, starts_at=_monday_at(clinic_a, 14)
    )
    response = _post(
        front_desk_client,
        f"/api/v1/appointments/{appointment.uuid}/reschedule/",
        {"starts_at": _monday_at(clinic_a, 14).isoformat()},
    )
    assert response.status_code == 409, response.json()
    assert "starts_at" in response.json()["error"]["fields"]
    assert response.json()["error"]["code"] == "slot_conflict"
    assert "The nearest free time is 20" in response.json()["error"]["message"]
    appointment.refresh_from_db()
    assert appointment.starts_at == _monday_at(clinic_a, 10)


@pytest.mark.parametrize("body", [{}, {"starts_at": "tomorrow"}, {"starts_at": 12}])
def test_a_reschedule_without_a_valid_time_names_the_field(front_desk_client, clinic_a, body):
    appointment = _appointment(clinic_a)
    response = _post(
        front_desk_client, f"/api/v1/appointments/{appointment.uuid}/reschedule/", body
    )
    assert response.status_code == 400
    assert "starts_at" in response.json()["error"]["fields"]


def test_outside_opening_hours_is_refused_on_starts_at(front_desk_client, clinic_a):
    appointment = _appointment(clinic_a)
    response = _post(
        front_desk_client,
        f"/api/v1/appointments/{appointment.uuid}/reschedule/",
        {"starts_at": _monday_at(clinic_a, 3).isoformat()},
    )
    assert response.status_code == 409
    assert "Outside opening hours" in response.json()["error"]["message"]


def test_cancel_then_a_second_cancel_is_refused(front_desk_client, clinic_a):
    appointment = _appointment(clinic_a)
    url = f"/api/v1/appointments/{appointment.uuid}/cancel/"
    first = _post(front_desk_client, url)
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    again = _post(front_desk_client, url)
    assert again.status_code == 400
    assert "cancelled" in again.json()["error"]["message"]


def test_no_show_marks_the_appointment(front_desk_client, clinic_a):
    appointment = _appointment(clinic_a)
    response = _post(front_desk_client, f"/api/v1/appointments/{appointment.uuid}/no-show/")
    assert response.status_code == 200
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.NO_SHOW


def test_arrival_after_a_reaction_puts_the_appointment_on_hold_until_a_clinician_clears_it(
    front_desk_client, practitioner_client, clinic_a
):
    """GIVEN a booked patient who reported a reaction since booking
    WHEN the front desk marks them arrived
    THEN the appointment is on safety hold; the front desk cannot clear it (403), a
    practitioner can, with a reason."""
    patient = PatientFactory(clinic=clinic_a)
    appointment = _appointment(clinic_a, patient=patient)
    ReactionReportFactory(patient=patient, ongoing=True)
    arrived = _post(front_desk_client, f"/api/v1/appointments/{appointment.uuid}/arrive/")
    assert arrived.status_code == 200
    assert arrived.json()["status"] == "arrived"
    assert arrived.json()["safety_hold"] is True and arrived.json()["hold_cleared_at"] is None

    url = f"/api/v1/appointments/{appointment.uuid}/clear-hold/"
    assert _post(front_desk_client, url, {"reason": "Looks fine"}).status_code == 403
    no_reason = _post(practitioner_client, url, {"reason": ""})
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["error"]["fields"]
    cleared = _post(practitioner_client, url, {"reason": "Redness resolved; seen today."})
    assert cleared.status_code == 200, cleared.json()
    assert cleared.json()["hold_cleared_at"] is not None


def test_another_clinics_appointment_is_a_404_and_untouched(outsider_client, clinic_a):
    appointment = _appointment(clinic_a)
    for action in ("cancel", "arrive", "no-show", "reschedule", "clear-hold"):
        response = _post(outsider_client, f"/api/v1/appointments/{appointment.uuid}/{action}/")
        assert response.status_code == 404, action
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


# --- products and lots -------------------------------------------------------------------


def _product_body(**changes):
    body = {
        "name": "ExoGlow",
        "manufacturer": "ExoLab",
        "source": "adipose_msc",
        "form": "lyophilised",
        "storage": "refrigerated",
        "components": "hyaluronic acid",
    }
    return body | changes


def test_the_safety_lead_adds_a_product(safety_lead_client, clinic_a):
    response = _post(safety_lead_client, "/api/v1/products/", _product_body())
    assert response.status_code == 201, response.json()
    product = Product.objects.get(uuid=response.json()["id"])
    assert product.clinic == clinic_a and product.unit == "vial"
    again = _post(safety_lead_client, "/api/v1/products/", _product_body())
    assert again.status_code == 400
    assert "name" in again.json()["error"]["fields"]


@pytest.mark.parametrize("who", ["practitioner_client", "front_desk_client"])
def test_only_the_safety_lead_adds_products(request, who, clinic_a):
    response = _post(request.getfixturevalue(who), "/api/v1/products/", _product_body())
    assert response.status_code == 403
    assert not Product.objects.filter(name="ExoGlow").exists()


def test_a_bad_product_choice_names_the_field(safety_lead_client):
    response = _post(safety_lead_client, "/api/v1/products/", _product_body(storage="freezer?"))
    assert response.status_code == 400
    assert "storage" in response.json()["error"]["fields"]


def test_a_product_for_a_clinic_where_one_is_not_safety_lead_names_the_clinic(
    safety_lead_client, clinic_b
):
    body = _product_body(clinic=str(clinic_b.uuid))
    response = _post(safety_lead_client, "/api/v1/products/", body)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["clinic"] == [
        "You are not the safety lead of this clinic."
    ]
    assert not Product.objects.filter(name="ExoGlow").exists()


def _lot_body(of, **changes):
    today = date.today()
    body = {
        "product": str(of.uuid),
        "lot_number": "EX-2026-001",
        "expiry_date": (today + timedelta(days=365)).isoformat(),
        "received_on": today.isoformat(),
        "quantity": 30,
        "supplier": "ExoLab Distribution",
    }
    return body | changes


def test_the_safety_lead_receives_a_lot_released_with_its_stock(safety_lead_client, clinic_a):
    product = ProductFactory(clinic=clinic_a)
    response = _post(safety_lead_client, "/api/v1/lots/", _lot_body(product))
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "released"
    assert response.json()["quantity_on_hand"] == 30


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"expiry_date": date.today().isoformat()}, "expiry_date"),
        ({"quantity": 0}, "quantity"),
        ({"lot_number": "ex-old-7"}, "lot_number"),  # taken, whatever the case
        ({"product": "not-a-uuid"}, "product"),
    ],
)
def test_a_bad_lot_names_the_field(safety_lead_client, clinic_a, changes, field):
    product = ProductFactory(clinic=clinic_a)
    ProductLotFactory(product=product, lot_number="EX-OLD-7")
    response = _post(safety_lead_client, "/api/v1/lots/", _lot_body(product, **changes))
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]


def test_a_lot_of_another_clinics_product_is_not_received(safety_lead_client, clinic_b):
    product = ProductFactory(clinic=clinic_b)
    response = _post(safety_lead_client, "/api/v1/lots/", _lot_body(product))
    assert response.status_code == 400
    assert "product" in response.json()["error"]["fields"]
    assert not ProductLot.objects.filter(product=product).exists()


def test_the_safety_lead_corrects_a_lot_and_the_old_values_stay_in_history(
    safety_lead_client, practitioner_client, clinic_a
):
    lot = ProductLotFactory(product__clinic=clinic_a, quantity_received=20)
    url = f"/api/v1/lots/{lot.uuid}/correct/"
    assert _post(practitioner_client, url, {"reason": "x", "supplier": "y"}).status_code == 403
    too_many = _post(safety_lead_client, url, {"reason": "Count", "quantity_on_hand": 25})
    assert too_many.status_code == 400
    assert "quantity_on_hand" in too_many.json()["error"]["fields"]
    no_reason = _post(safety_lead_client, url, {"supplier": "New supplier"})
    assert "reason" in no_reason.json()["error"]["fields"]
    response = _post(
        safety_lead_client, url, {"reason": "Typo on the delivery note", "lot_number": "LOT-9"}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["lot_number"] == "LOT-9"
    latest, before = lot.history.all()[:2]
    assert latest.history_change_reason == "Typo on the delivery note"
    assert before.lot_number != "LOT-9"
    unchanged = _post(safety_lead_client, url, {"reason": "Again", "lot_number": "LOT-9"})
    assert unchanged.status_code == 400
    assert unchanged.json()["error"]["code"] == "no_change"


def test_the_safety_lead_quarantines_releases_and_recalls_a_lot(
    safety_lead_client, practitioner_client, practitioner_a, clinic_a
):
    """GIVEN a released lot used on one patient
    WHEN the safety lead quarantines it, releases it, then recalls it over the API
    THEN each move shows in the lot, a second quarantine is a 409, and the recall lists the
    one patient; a practitioner may do none of it."""
    from tests.kit.world import logged_session, released_lot

    lot = released_lot(clinic_a)
    logged_session(practitioner_a, patient=PatientFactory(clinic=clinic_a), lot=lot)
    base = f"/api/v1/lots/{lot.uuid}"
    assert _post(practitioner_client, f"{base}/quarantine/", {"reason": "x"}).status_code == 403
    no_reason = _post(safety_lead_client, f"{base}/quarantine/", {"reason": " "})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]["fields"]

    held = _post(safety_lead_client, f"{base}/quarantine/", {"reason": "Cloudy vials"})
    assert held.status_code == 200 and held.json()["status"] == "quarantined"
    again = _post(safety_lead_client, f"{base}/quarantine/", {"reason": "Cloudy vials"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "lot_status_changed"

    released = _post(safety_lead_client, f"{base}/release/")
    assert released.status_code == 200 and released.json()["status"] == "released"

    recalled = _post(safety_lead_client, f"{base}/recall/", {"reason": "Maker's recall"})
    assert recalled.status_code == 200, recalled.json()
    assert recalled.json()["lot"]["status"] == "recalled"
    assert recalled.json()["patients"] == 1
    assert _post(safety_lead_client, f"{base}/release/").status_code == 409


def test_another_clinics_lot_cannot_be_quarantined(safety_lead_client, clinic_b):
    lot = ProductLotFactory(product__clinic=clinic_b)
    response = _post(safety_lead_client, f"/api/v1/lots/{lot.uuid}/quarantine/", {"reason": "x"})
    assert response.status_code == 404
    lot.refresh_from_db()
    assert lot.status == "released"


def test_a_retried_lot_receipt_with_the_same_idempotency_key_makes_one_lot(
    safety_lead_client, clinic_a
):
    product = ProductFactory(clinic=clinic_a)
    key = {"HTTP_IDEMPOTENCY_KEY": "receipt-2026-11-23-1"}
    first = _post(safety_lead_client, "/api/v1/lots/", _lot_body(product), **key)
    retry = _post(safety_lead_client, "/api/v1/lots/", _lot_body(product), **key)
    assert first.status_code == retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert ProductLot.objects.filter(product=product).count() == 1


def test_a_retried_product_with_the_same_key_is_replayed_not_refused(safety_lead_client):
    key = {"HTTP_IDEMPOTENCY_KEY": "product-exoglow"}
    first = _post(safety_lead_client, "/api/v1/products/", _product_body(), **key)
    retry = _post(safety_lead_client, "/api/v1/products/", _product_body(), **key)
    assert first.status_code == retry.status_code == 201  # not the duplicate-name 400
    assert retry.json()["id"] == first.json()["id"]
