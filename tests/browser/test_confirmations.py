"""In Chromium: cancelling an appointment and recalling a lot go through the one confirmation
page, which says what will happen; "Keep ..." leaves everything as it was."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.factories import AppointmentFactory, PatientFactory
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path
from tests.kit.world import logged_session, released_lot
from treatments.models import AppointmentStatus, LotStatus, ProductLot, Recall

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots-confirm")


def shot(page, name: str) -> None:
    page.screenshot(path=str(artifact_path(f"{name}.png")), full_page=True)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_cancelling_an_appointment_asks_first(page, clinic_a, front_desk_a, practitioner_a):
    """GIVEN a booked appointment of Min-ji Kim WHEN the front desk presses "Cancel
    appointment" THEN a confirmation page names the time and the patient; "Keep" changes
    nothing, and "Yes, cancel" cancels it."""
    starts = clinic_a.local(clinic_a.now()).replace(
        hour=14, minute=0, second=0, microsecond=0
    ) + timedelta(days=3)
    appointment = AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a, first_name="Min-ji", last_name="Kim"),
        practitioner=practitioner_a,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
    )
    when = f"{starts:%a} {starts.day} {starts:%b}, 14:00"
    playwright_login(page, page.base_url, front_desk_a)
    url = page.base_url + reverse("treatments:appointment", kwargs={"uuid": appointment.uuid})
    page.goto(url)
    page.get_by_role("button", name="Cancel appointment").click()
    expect(page.locator("#confirm-h")).to_have_text("Cancel this appointment?")
    expect(page.locator(".confirm-effects")).to_contain_text(
        f"The appointment on {when} with Min-ji Kim"
    )
    shot(page, "confirm-cancel-appointment")

    page.get_by_role("link", name="Keep the appointment").click()
    expect(page.get_by_role("button", name="Cancel appointment")).to_be_visible()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED

    page.get_by_role("button", name="Cancel appointment").click()
    page.get_by_role("button", name="Yes, cancel the appointment").click()
    expect(page.locator("body")).to_contain_text("Appointment cancelled")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert page.console_errors == []


def test_recalling_a_lot_asks_first_and_counts_the_patients(
    page, clinic_a, safety_lead_a, practitioner_a
):
    """GIVEN a lot two patients received WHEN the safety lead gives a reason and presses
    "Recall lot" THEN the confirmation page says 2 patients will be listed for a notice, keeps
    the reason, and only "Yes, recall the lot" recalls it."""
    lot = released_lot(clinic_a, lot_number="EXO-77")
    for _ in range(2):
        logged_session(practitioner_a, lot=lot)
    playwright_login(page, page.base_url, safety_lead_a)
    page.goto(page.base_url + reverse("treatments:lot", kwargs={"uuid": lot.uuid}))
    page.get_by_label("Why recall it").fill("Endotoxin above limit")
    page.get_by_role("button", name="Recall lot EXO-77").click()
    expect(page.locator("#confirm-h")).to_have_text("Recall lot EXO-77?")
    expect(page.locator(".confirm-effects")).to_contain_text(
        "2 patients received it and will be listed for a recall notice."
    )
    expect(page.get_by_label("Why recall it")).to_have_value("Endotoxin above limit")
    shot(page, "confirm-recall-lot")
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.RELEASED

    page.get_by_role("button", name="Yes, recall the lot").click()
    expect(page.locator("body")).to_contain_text("These are the patients who received it")
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.RECALLED
    assert Recall.objects.get(lot=lot).notices.count() == 2
    assert page.console_errors == []
