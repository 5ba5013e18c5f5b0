"""In Chromium: the front desk edits a patient's details (no clinical field in sight), the
practitioner records a pregnancy on the screening facts, the chart shows who changed what, and
the next session's screening stops on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.factories import PatientFactory
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path
from tests.kit.world import default_plan, released_lot
from treatments.models import TreatmentSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots-pedit")


def shot(page, name: str) -> None:
    page.screenshot(path=str(artifact_path(f"{name}.png")), full_page=True)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_front_desk_edits_details_then_a_pregnancy_fact_stops_the_session(
    page, clinic_a, front_desk_a, practitioner_a
):
    """GIVEN a patient of the Seoul clinic
    WHEN the front desk changes her phone and last name, and the practitioner then records on
    the screening facts that she is pregnant
    THEN the front desk never sees a clinical field, the chart lists both changes with who
    made them and shows each fact confirmed by the practitioner, and the session form's
    screening shows a hard stop for pregnancy that refuses to save without a reason."""
    default_plan(clinic_a)
    released_lot(clinic_a, quantity=5, lot_number="EXO-2026-01")
    front_desk_a.first_name, front_desk_a.last_name = "Hye-jin", "Cho"
    front_desk_a.save()
    practitioner_a.first_name, practitioner_a.last_name = "Min-ji", "Kim"
    practitioner_a.save()
    patient = PatientFactory(
        clinic=clinic_a, first_name="Mina", last_name="Park", phone="+821012345678"
    )

    # The front desk: patient page -> Edit details.
    playwright_login(page, page.base_url, front_desk_a)
    page.goto(page.base_url + reverse("patients:detail", kwargs={"uuid": patient.uuid}))
    page.get_by_role("link", name="Edit details").click()
    expect(page.get_by_role("heading", name="Edit details: Mina Park")).to_be_visible()
    main = page.locator("main").inner_text().lower()
    for word in ("fitzpatrick", "allerg", "pregnan", "medication", "isotretinoin", "screening"):
        assert word not in main, word
    shot(page, "patient-edit-front-desk")
    # A bad phone is refused beside its field, the rest of the form kept.
    page.get_by_label("Last name").fill("Park-Lee")
    page.get_by_label("Mobile phone").fill("12")
    page.get_by_role("button", name="Save details").click()
    expect(page.locator("#id_phone_errors")).to_be_visible()
    assert page.get_by_label("Mobile phone").get_attribute("aria-invalid") == "true"
    shot(page, "patient-edit-bad-phone")
    page.get_by_label("Mobile phone").fill("010-2222-3333")
    page.get_by_role("button", name="Save details").click()
    expect(page.get_by_text("details are saved")).to_be_visible()
    expect(page.locator("main")).to_contain_text("+821022223333")
    expect(page.get_by_role("heading", name="Mina Park-Lee")).to_be_visible()

    # The practitioner, in their own browser session: chart -> Edit screening facts.
    context = page.context.browser.new_context(viewport={"width": 1280, "height": 900})
    doc = context.new_page()
    playwright_login(doc, page.base_url, practitioner_a)
    doc.goto(page.base_url + reverse("clinical:chart", kwargs={"uuid": patient.uuid}))
    doc.get_by_role("link", name="Edit screening facts").click()
    expect(doc.get_by_role("heading", name="Screening facts: Mina Park-Lee")).to_be_visible()
    expect(doc.locator("main")).to_contain_text("never confirmed")
    doc.get_by_label("Pregnant or breastfeeding").check()
    doc.get_by_label("Current medications").fill("Folic acid 0.4 mg daily")
    shot(doc, "screening-facts-edit")
    doc.get_by_role("button", name="Save and confirm facts").click()

    # Back on the chart: the facts confirmed by name, and the history of both edits.
    expect(doc.get_by_text("Screening facts saved and confirmed.")).to_be_visible()
    facts = doc.locator(".screening-facts-list")
    expect(facts.locator('[data-fact="pregnant_or_breastfeeding"]')).to_contain_text("Yes")
    expect(facts).to_contain_text("by Min-ji Kim")
    expect(facts).not_to_contain_text("never confirmed")
    history = doc.locator("#history")
    expect(history).to_contain_text("Pregnant or breastfeeding: No → Yes")
    expect(history).to_contain_text("Current medications: — → Folic acid 0.4 mg daily")
    expect(history).to_contain_text("Min-ji Kim")
    expect(history).to_contain_text("Mobile phone: +821012345678 → +821022223333")
    expect(history).to_contain_text("Hye-jin Cho")
    shot(doc, "chart-with-history")

    # Log a session: the screening step stops on the pregnancy.
    doc.get_by_role("link", name="Log a session").click()
    findings = doc.locator("#screening-findings")
    expect(findings.locator('.alert-error li[data-code="pregnancy"]')).to_be_visible()
    expect(findings).not_to_contain_text("Confirm the screening facts again")
    expect(doc.locator(".screening-facts")).to_contain_text("Folic acid 0.4 mg daily")
    doc.get_by_label("Delivery method").select_option("microneedling")
    expect(findings.locator('.alert-error li[data-code="pregnancy"]')).to_be_visible()
    doc.get_by_label("Needle depth (mm)").fill("0.75")
    doc.get_by_label("Cheeks").check()
    doc.get_by_label("Product lot number").fill("EXO-2026-01")
    doc.get_by_label("Amount used (units)").fill("1")
    doc.get_by_role("button", name="Save session").click()
    expect(doc.locator("#id_screening_override_reason_errors")).to_contain_text(
        "Pregnant or breastfeeding"
    )
    shot(doc, "session-log-pregnancy-hard-stop")
    assert not TreatmentSession.objects.exists()
    assert page.console_errors == []
    context.close()


def test_facts_due_again_are_confirmed_from_the_session_form_and_it_comes_back(
    page, clinic_a, practitioner_a
):
    """GIVEN a patient on isotretinoin whose facts were never confirmed
    WHEN the practitioner opens "Log a session", follows "Confirm screening facts" and saves
    THEN the facts are confirmed, the session form is back without the reminder, and
    isotretinoin stops microneedling (a warning for topical use)."""
    patient = PatientFactory(clinic=clinic_a, first_name="Jun", last_name="Seo")
    patient.on_isotretinoin = True
    patient.save()
    playwright_login(page, page.base_url, practitioner_a)
    log_url = reverse("clinical:session_new", kwargs={"uuid": patient.uuid})
    page.goto(page.base_url + log_url)
    reminder = page.locator("#screening-reconfirm")
    expect(reminder).to_contain_text("Isotretinoin now or in the last 6 months")
    shot(page, "session-log-facts-due")
    page.get_by_label("Delivery method").select_option("topical")
    findings = page.locator("#screening-findings")
    expect(findings.locator('.alert-warning li[data-code="isotretinoin"]')).to_be_visible()
    page.get_by_role("link", name="Confirm screening facts").click()
    expect(page.get_by_role("heading", name="Screening facts: Jun Seo")).to_be_visible()
    assert page.get_by_label(
        "Isotretinoin (e.g. Roaccutane) now or in the last 6 months"
    ).is_checked()
    page.get_by_role("button", name="Save and confirm facts").click()

    page.wait_for_url(lambda url: url.endswith(log_url))
    expect(page.get_by_text("Screening facts confirmed; nothing changed.")).to_be_visible()
    expect(page.locator("#screening-reconfirm")).to_have_count(0)
    page.get_by_label("Delivery method").select_option("microneedling")
    expect(findings.locator('.alert-error li[data-code="isotretinoin"]')).to_be_visible()
    shot(page, "session-log-isotretinoin-hard-stop")
    assert page.console_errors == []
