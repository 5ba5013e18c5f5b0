"""The safety lead's product and lot pages: add a product, receive a lot, correct it with the
change kept in history."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse

from tests.factories import ProductFactory, ProductLotFactory
from tests.kit.queries import assert_constant_queries
from treatments.models import LotStatus, Product, ProductLot

pytestmark = pytest.mark.django_db


def field_errors(response, name: str) -> str:
    html = response.content.decode()
    match = re.search(rf'<ul class="field-errors" id="id_{name}_errors">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""


@pytest.fixture
def product(clinic_a):
    return ProductFactory(clinic=clinic_a, name="ExoGlow", manufacturer="ExoLab")


def product_post(**overrides) -> dict:
    return {
        "name": "DermaSome",
        "manufacturer": "Plantix",
        "source": "plant",
        "form": "gel_serum",
        "storage": "frozen",
        "unit": "vial",
        "components": "Rose stem-cell exosomes",
    } | overrides


# --- products ------------------------------------------------------------------------------


def test_a_safety_lead_adds_a_product_to_their_clinic(safety_lead_client, clinic_a):
    response = safety_lead_client.post(reverse("treatments:product_new"), product_post())
    product = Product.objects.get(name="DermaSome")
    assert product.clinic == clinic_a
    assert response["Location"] == reverse("treatments:lot_list", kwargs={"uuid": product.uuid})


def test_a_duplicate_product_is_refused_next_to_its_name(safety_lead_client, product):
    response = safety_lead_client.post(
        reverse("treatments:product_new"), product_post(name="ExoGlow", manufacturer="ExoLab")
    )
    assert "already has this product" in field_errors(response, "name")
    assert Product.objects.count() == 1


def test_an_empty_product_form_gets_an_error_next_to_every_required_field(safety_lead_client):
    response = safety_lead_client.post(reverse("treatments:product_new"), {})
    assert response.status_code == 200
    for name in ["name", "manufacturer", "source", "form", "storage", "unit"]:
        assert field_errors(response, name), name


def test_a_safety_lead_cannot_add_a_product_to_another_clinic(
    safety_lead_client, clinic_b, clinic_a
):
    safety_lead_client.post(reverse("treatments:product_new"), product_post(clinic=clinic_b.pk))
    assert not Product.objects.filter(clinic=clinic_b).exists()
    assert Product.objects.get(name="DermaSome").clinic == clinic_a


def test_the_products_list_shows_released_stock_at_a_constant_query_count(
    practitioner_client, clinic_a
):
    def grow(n: int) -> None:
        for _ in range(n):
            lot = ProductLotFactory(product=ProductFactory(clinic=clinic_a), quantity_received=7)
            ProductLotFactory(
                product=lot.product, status=LotStatus.QUARANTINED, status_reason="Cold chain"
            )

    url = reverse("treatments:product_list")
    assert_constant_queries(practitioner_client, url, grow, expected=9)
    html = practitioner_client.get(url).content.decode()
    assert "7 vial(s)" in html and "20 vial(s)" not in html  # quarantined stock not counted


# --- lots ----------------------------------------------------------------------------------


def lot_post(**overrides) -> dict:
    today = date.today()
    return {
        "lot_number": "EG-001",
        "expiry_date": (today + timedelta(days=300)).isoformat(),
        "received_on": today.isoformat(),
        "quantity": "25",
        "supplier": "ExoLab Korea",
        "certificate_ref": "COA-77",
    } | overrides


def receive_url(product) -> str:
    return reverse("treatments:lot_receive", kwargs={"uuid": product.uuid})


def test_receiving_a_lot_releases_it_with_its_stock(safety_lead_client, product):
    response = safety_lead_client.post(receive_url(product), lot_post())
    lot = ProductLot.objects.get(product=product)
    assert response["Location"] == reverse("treatments:lot", kwargs={"uuid": lot.uuid})
    assert (lot.lot_number, lot.quantity_on_hand, lot.status) == ("EG-001", 25, "released")
    assert (lot.supplier, lot.certificate_ref) == ("ExoLab Korea", "COA-77")


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"lot_number": ""}, "lot_number", "required"),
        ({"expiry_date": date.today().isoformat()}, "expiry_date", "must come after"),
        ({"expiry_date": "31/02/2027"}, "expiry_date", "valid date"),
        ({"received_on": ""}, "received_on", "required"),
        ({"quantity": "0"}, "quantity", "greater than or equal to 1"),
        ({"quantity": "many"}, "quantity", "whole number"),
        ({"supplier": "s" * 201}, "supplier", "at most 200"),
    ],
)
def test_bad_lot_input_is_refused_next_to_its_field(
    safety_lead_client, product, overrides, field, says
):
    response = safety_lead_client.post(receive_url(product), lot_post(**overrides))
    assert response.status_code == 200
    assert says in field_errors(response, field)
    assert not ProductLot.objects.exists()


def test_a_lot_number_the_product_already_has_is_refused(safety_lead_client, product):
    ProductLotFactory(product=product, lot_number="EG-001")
    response = safety_lead_client.post(receive_url(product), lot_post(lot_number="eg-001"))
    assert "already has a lot numbered eg-001" in field_errors(response, "lot_number")


def test_the_lots_list_shows_status_expiry_and_stock_at_a_constant_query_count(
    practitioner_client, product
):
    def grow(n: int) -> None:
        for _ in range(n):
            ProductLotFactory(product=product)

    url = reverse("treatments:lot_list", kwargs={"uuid": product.uuid})
    assert_constant_queries(practitioner_client, url, grow, expected=10)


def test_an_expired_lot_is_marked_expired_in_the_list(practitioner_client, product):
    today = date.today()
    ProductLotFactory(
        product=product,
        lot_number="OLD-9",
        received_on=today - timedelta(days=400),
        expiry_date=today - timedelta(days=2),
    )
    html = practitioner_client.get(
        reverse("treatments:lot_list", kwargs={"uuid": product.uuid})
    ).content.decode()
    assert "OLD-9" in html and ">expired<" in html


def correct_post(lot, **overrides) -> dict:
    return {
        "lot_number": lot.lot_number,
        "expiry_date": lot.expiry_date.isoformat(),
        "received_on": lot.received_on.isoformat(),
        "quantity_received": str(lot.quantity_received),
        "quantity_on_hand": str(lot.quantity_on_hand),
        "initial-quantity_on_hand": str(lot.quantity_on_hand),
        "supplier": lot.supplier,
        "certificate_ref": lot.certificate_ref,
        "reason": "Typo on the delivery note",
    } | overrides


def test_a_correction_is_kept_in_the_lots_history_with_who_and_why(
    safety_lead_client, safety_lead_a, product
):
    """GIVEN a received lot WHEN the safety lead corrects its expiry
    THEN the lot page shows the old and new dates, who changed it and why."""
    lot = ProductLotFactory(product=product, lot_number="EG-002")
    old_expiry = lot.expiry_date
    new_expiry = old_expiry - timedelta(days=30)
    url = reverse("treatments:lot_correct", kwargs={"uuid": lot.uuid})
    response = safety_lead_client.post(url, correct_post(lot, expiry_date=new_expiry.isoformat()))
    assert response.status_code == 302
    lot.refresh_from_db()
    assert lot.expiry_date == new_expiry
    latest = lot.history.first()
    assert latest.history_user == safety_lead_a
    assert latest.history_change_reason == "Typo on the delivery note"
    html = safety_lead_client.get(reverse("treatments:lot", kwargs={"uuid": lot.uuid})).content
    html = html.decode()
    assert "Typo on the delivery note" in html and "safety_lead_a" in html
    assert f"<del>{old_expiry:%b. %-d, %Y}" in html or str(old_expiry) in html


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"reason": ""}, "reason", "required"),
        ({"reason": "r" * 101}, "reason", "at most 100"),
        ({"quantity_on_hand": "21"}, "quantity_on_hand", "more than was received"),
        ({"quantity_on_hand": "-1"}, "quantity_on_hand", "greater than or equal to 0"),
        ({"received_on": "2100-01-01"}, "expiry_date", "must come after"),
        ({}, "reason", "Nothing was changed"),
    ],
)
def test_bad_corrections_are_refused_next_to_their_field(
    safety_lead_client, product, overrides, field, says
):
    lot = ProductLotFactory(product=product)
    url = reverse("treatments:lot_correct", kwargs={"uuid": lot.uuid})
    response = safety_lead_client.post(url, correct_post(lot, **overrides))
    assert response.status_code == 200
    assert says in field_errors(response, field)
    assert lot.history.count() == 1


def test_a_correction_does_not_undo_stock_taken_while_the_form_was_open(
    safety_lead_client, product
):
    """GIVEN the correction form shown with 20 on hand WHEN a session takes one meanwhile
    and the safety lead then corrects only the supplier THEN 19 stay on hand."""
    lot = ProductLotFactory(product=product, quantity_received=20)
    form_as_shown = correct_post(lot, supplier="ExoLab Busan")
    ProductLot.objects.filter(pk=lot.pk).update(quantity_on_hand=19)
    url = reverse("treatments:lot_correct", kwargs={"uuid": lot.uuid})
    assert safety_lead_client.post(url, form_as_shown).status_code == 302
    lot.refresh_from_db()
    assert (lot.supplier, lot.quantity_on_hand) == ("ExoLab Busan", 19)


def test_a_stock_count_correction_sets_the_quantity_on_hand(safety_lead_client, product):
    lot = ProductLotFactory(product=product, quantity_received=20)
    url = reverse("treatments:lot_correct", kwargs={"uuid": lot.uuid})
    safety_lead_client.post(url, correct_post(lot, quantity_on_hand="17", reason="Stock count"))
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 17


def test_a_practitioner_reads_lots_but_cannot_receive_or_correct(practitioner_client, product):
    lot = ProductLotFactory(product=product)
    assert (
        practitioner_client.get(reverse("treatments:lot", kwargs={"uuid": lot.uuid})).status_code
        == 200
    )
    assert practitioner_client.post(receive_url(product), lot_post()).status_code == 403
    assert (
        practitioner_client.post(
            reverse("treatments:lot_correct", kwargs={"uuid": lot.uuid}), correct_post(lot)
        ).status_code
        == 403
    )
    assert ProductLot.objects.count() == 1
