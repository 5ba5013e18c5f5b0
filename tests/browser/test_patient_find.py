"""Finding and archiving patients in a real browser: the header's search box finds a Seoul
patient by a phone number written three ways and leads each role to its page; archiving asks
first, names what it cancels, and cancels the future appointments."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from patients.models import MessageKind, OutboxMessage
from tests.factories import AppointmentFactory, PatientFactory
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path
from treatments.models import Appointment, AppointmentStatus

SHOTS = Path("/tmp/shots-find")


def _shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)
    page.screenshot(path=artifact_path(name), full_page=True)


def _header_search(page, typed: str) -> None:
    box = page.get_by_role("searchbox", name="Find a patient", exact=True)
    box.fill(typed)
    with page.expect_response(lambda r: reverse("patients:search") in r.url):
        box.press("Enter")


@pytest.fixture
def seoul_patients(clinic_a):
    minji = PatientFactory(
        clinic=clinic_a,
        first_name="Minji",
        last_name="Kim",
        phone="+821012345678",
        date_of_birth=date(1990, 4, 2),
    )
    for i in range(4):
        PatientFactory(clinic=clinic_a, last_name=f"Lee{i}", phone=f"+8210987654{i:02d}")
    return minji


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_phone_written_three_ways_finds_one_patient_and_leads_to_the_chart(
    page, seoul_patients, practitioner_a
):
    """GIVEN five Seoul patients WHEN a practitioner types Kim Minji's number in the header
    as 010-1234-5678, +82 10 1234 5678 and 01012345678 THEN each time the list shows her
    alone, and her name opens her chart, which links her front-desk page."""
    minji = seoul_patients
    base = page.base_url
    playwright_login(page, base, practitioner_a)
    _shot(page, "patient_list_dashboard_header.png")

    rows = page.locator("table.patient-list tbody tr")
    for typed in ("010-1234-5678", "+82 10 1234 5678", "01012345678"):
        _header_search(page, typed)
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Kim, Minji")
        expect(
            page.get_by_role("heading", name="Patients matching by phone number")
        ).to_be_visible()
    _shot(page, "patient_list_phone_search.png")

    page.get_by_role("link", name="Kim, Minji").click()
    page.wait_for_url(f"**{reverse('clinical:chart', kwargs={'uuid': minji.uuid})}")
    expect(page.get_by_role("heading", name="Minji Kim")).to_be_visible()
    _shot(page, "patient_chart_links.png")
    page.get_by_role("link", name="Front-desk page").click()
    page.wait_for_url(f"**{reverse('patients:detail', kwargs={'uuid': minji.uuid})}")

    page.goto(base + reverse("patients:search"))
    expect(rows).to_have_count(5)
    _shot(page, "patient_list_all.png")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_front_desk_finds_a_patient_and_archives_them_after_a_confirm_step(
    page, seoul_patients, front_desk_a, practitioner_a
):
    """GIVEN Kim Minji with three future appointments WHEN the front desk finds her from the
    header, opens her front-desk page and chooses Archive THEN a page names what will be
    cancelled and asks why; after confirming, her appointments are cancelled, she is told,
    the banner shows who archived her and why, and she leaves the list."""
    minji = seoul_patients
    for _ in range(3):
        AppointmentFactory(patient=minji, practitioner=practitioner_a)
    base = page.base_url
    playwright_login(page, base, front_desk_a)

    _header_search(page, "kim minji")
    page.get_by_role("link", name="Kim, Minji").click()
    page.wait_for_url(f"**{reverse('patients:detail', kwargs={'uuid': minji.uuid})}")
    expect(page.get_by_role("link", name="Open the chart")).to_have_count(0)

    page.get_by_role("link", name="Archive…").click()
    expect(
        page.get_by_text("3 future appointments will be cancelled and the patient told")
    ).to_be_visible()
    _shot(page, "patient_archive_confirm.png")
    page.get_by_role("button", name="Archive the patient").click()
    expect(page.get_by_text("Say why the patient is archived.")).to_be_visible()
    assert Appointment.objects.filter(patient=minji, status=AppointmentStatus.BOOKED).count() == 3

    page.get_by_label("Why is the patient archived?").fill("Moved to Busan")
    page.get_by_role("button", name="Archive the patient").click()
    banner = page.locator(".archived-banner")
    expect(banner).to_contain_text("Archived on")
    expect(banner).to_contain_text("by front_desk_a: Moved to Busan")
    expect(
        page.get_by_text("3 future appointments were cancelled and the patient told")
    ).to_be_visible()
    expect(page.get_by_role("link", name="Book a series")).to_have_count(0)
    _shot(page, "patient_archived_banner.png")

    statuses = set(Appointment.objects.filter(patient=minji).values_list("status", flat=True))
    assert statuses == {AppointmentStatus.CANCELLED}
    assert OutboxMessage.objects.filter(
        patient=minji, kind=MessageKind.APPOINTMENTS_CANCELLED
    ).exists()

    _header_search(page, "kim minji")
    expect(page.get_by_text("No patient matches.")).to_be_visible()
    page.get_by_label("Archived").select_option("include")
    with page.expect_response(lambda r: reverse("patients:search") in r.url):
        page.get_by_role("button", name="Search", exact=True).last.click()
    expect(page.locator("table.patient-list tbody tr")).to_have_count(1)
    expect(page.locator("table.patient-list")).to_contain_text("Archived")
