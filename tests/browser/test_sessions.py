"""In Chromium: the chart, logging a session (a refused expired lot, a screening override),
the printable aftercare sheet with its QR code, signing; and the safety lead's lot pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from clinic.core.models import Language
from tests.factories import PatientFactory, ProductFactory
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path
from tests.kit.world import default_plan, logged_session, released_lot
from treatments.models import ProductLot, SessionStatus, TreatmentSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name: str) -> None:
    page.screenshot(path=str(artifact_path(f"{name}.png")), full_page=True)


def test_a_practitioner_logs_a_session_end_to_end(page, clinic_a, practitioner_a):
    """GIVEN a pregnant patient of Fitzpatrick type V, an expired lot and a good lot
    WHEN the practitioner screens (laser first, then microneedling), picks the expired lot,
    then the good one with a written override
    THEN the expired lot is refused next to its field, the session is saved with the override,
    the aftercare sheet shows a QR code, and signing locks the session."""
    default_plan(clinic_a)
    patient = PatientFactory(
        clinic=clinic_a,
        first_name="Mina",
        last_name="Park",
        pregnant_or_breastfeeding=True,
        fitzpatrick_type=5,
    )
    today = timezone.localdate()
    good = released_lot(clinic_a, quantity=10, lot_number="EXO-2026-01")
    released_lot(
        clinic_a,
        lot_number="OLD-2025-07",
        expiry_date=today - timedelta(days=3),
        received_on=today - timedelta(days=200),
    )
    playwright_login(page, page.base_url, practitioner_a)

    page.goto(page.base_url + reverse("clinical:chart", kwargs={"uuid": patient.uuid}))
    assert page.get_by_role("heading", name="Mina Park").is_visible()
    page.get_by_role("link", name="Log a session").click()
    # htmx wires the form's change events on load: a change made before then goes unheard.
    page.wait_for_load_state("load")
    findings = page.locator("#screening-findings")
    expect(findings).to_contain_text("Pregnant or breastfeeding")

    # The screening panel follows the method (HTMX): laser on type V adds a warning.
    page.get_by_label("Delivery method").select_option("laser")
    expect(findings).to_contain_text("pigment change")
    assert page.get_by_label("Laser device").is_visible()
    assert not page.get_by_label("Needle depth (mm)").is_visible()
    shot(page, "session-log-laser-screening")
    page.get_by_label("Delivery method").select_option("microneedling")
    expect(findings).not_to_contain_text("pigment change")
    page.get_by_label("Needle depth (mm)").fill("0.75")
    page.get_by_label("Cheeks").check()
    page.get_by_label("Forehead").check()
    page.get_by_label("Product lot number").fill("OLD-2025-07")
    page.get_by_label("Amount used (units)").fill("1")
    page.get_by_label("Reason to treat despite a hard stop").fill(
        "Stopped breastfeeding six weeks ago; confirmed with the patient's GP."
    )
    page.get_by_role("button", name="Save session").click()

    lot_errors = page.locator("#id_lot_errors")
    assert "OLD-2025-07 expired on" in lot_errors.inner_text()
    assert page.get_by_label("Product lot number").get_attribute("aria-invalid") == "true"
    shot(page, "session-log-expired-lot-refused")
    assert not TreatmentSession.objects.exists()

    page.get_by_label("Product lot number").fill("EXO-2026-01")
    page.get_by_role("button", name="Save session").click()
    page.wait_for_url(lambda url: url.endswith("/aftercare/"))
    session = TreatmentSession.objects.get(patient=patient)
    assert session.screening_override_reason.startswith("Stopped breastfeeding")
    assert ProductLot.objects.get(pk=good.pk).quantity_on_hand == 9

    qr = page.locator("svg.qr")
    box = qr.bounding_box()
    assert box and box["width"] > 150
    assert "Get help now" in page.inner_text("main")
    shot(page, "aftercare-sheet")
    page.emulate_media(media="print")
    assert not page.get_by_role("link", name="← Back to the session").is_visible()
    shot(page, "aftercare-sheet-print")
    page.emulate_media(media="screen")

    page.get_by_role("link", name="← Back to the session").click()
    assert "Stopped breastfeeding" in page.inner_text("main")
    page.get_by_label("I confirm this record is complete and correct").check()
    page.get_by_role("button", name="Sign and lock").click()
    assert page.get_by_text("Signed and locked").first.is_visible()
    session.refresh_from_db()
    assert session.status == SessionStatus.SIGNED
    page.get_by_label("Addendum").fill("Patient phoned: mild redness, as expected.")
    page.get_by_role("button", name="Add addendum").click()
    assert "mild redness, as expected" in page.inner_text("main")
    shot(page, "session-signed-with-addendum")
    assert page.console_errors == []


def test_the_chart_shows_the_timeline_with_check_in_states(page, clinic_a, practitioner_a):
    default_plan(clinic_a)
    patient = PatientFactory(clinic=clinic_a, first_name="Ji-woo", last_name="Kim")
    logged_session(practitioner_a, patient=patient)
    playwright_login(page, page.base_url, practitioner_a)
    page.goto(page.base_url + reverse("clinical:chart", kwargs={"uuid": patient.uuid}))
    assert page.get_by_role("heading", name="Timeline").is_visible()
    assert page.locator(".badge-checkin-scheduled").count() == 6
    shot(page, "chart")
    assert page.console_errors == []


def test_a_safety_lead_receives_and_corrects_a_lot(page, clinic_a, safety_lead_a):
    """GIVEN a product WHEN the safety lead receives a lot, first with an expiry before
    receipt (refused), then correctly, and corrects its supplier
    THEN the lot page's history shows the correction with the reason."""
    product = ProductFactory(clinic=clinic_a, name="ExoGlow")
    playwright_login(page, page.base_url, safety_lead_a)
    page.goto(page.base_url + reverse("treatments:product_list"))
    page.get_by_role("link", name="ExoGlow").click()
    page.get_by_role("link", name="Receive a lot").click()
    today = timezone.localdate()
    page.get_by_label("Lot number").fill("EG-100")
    page.get_by_label("Expiry date").fill((today - timedelta(days=1)).isoformat())
    page.get_by_label("Date received").fill(today.isoformat())
    page.get_by_label("Quantity received").fill("30")
    page.get_by_label("Supplier").fill("ExoLab Korea")
    page.get_by_role("button", name="Receive and release").click()
    assert "must come after" in page.locator("#id_expiry_date_errors").inner_text()
    shot(page, "lot-receive-error")
    page.get_by_label("Expiry date").fill((today + timedelta(days=365)).isoformat())
    page.get_by_role("button", name="Receive and release").click()
    assert page.get_by_role("heading", name="ExoGlow lot EG-100").is_visible()

    page.get_by_role("link", name="Correct this lot").click()
    page.get_by_label("Supplier").fill("ExoLab Seoul")
    page.get_by_label("Reason for the correction").fill("Supplier name misread")
    page.get_by_role("button", name="Save correction").click()
    history = page.locator("table", has_text="Every change to this lot")
    assert "Supplier name misread" in history.inner_text()
    assert "ExoLab Seoul" in history.inner_text()
    shot(page, "lot-detail-history")

    page.get_by_role("link", name="← Lots of ExoGlow").click()
    assert page.get_by_role("cell", name="EG-100").is_visible()
    shot(page, "lot-list")
    page.goto(page.base_url + reverse("treatments:product_list"))
    shot(page, "product-list")
    assert page.console_errors == []
    assert product.lots.get().supplier == "ExoLab Seoul"


def test_a_practitioner_clears_a_safety_hold_then_marks_the_session_entered_in_error(
    page, clinic_a, practitioner_a
):
    """GIVEN an arrived appointment on safety hold WHEN the practitioner opens its log-session
    page THEN the hold is shown; clearing it asks for a reason and a confirmation. Once the
    session is logged and then marked entered in error (confirmed), its page lists the
    aftercare message as stopped."""
    from tests.factories import AppointmentFactory
    from treatments.models import Appointment, AppointmentStatus

    default_plan(clinic_a)
    patient = PatientFactory(clinic=clinic_a, first_name="Mina", last_name="Park")
    now = timezone.now()
    appointment = AppointmentFactory(
        patient=patient,
        practitioner=practitioner_a,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        status=AppointmentStatus.ARRIVED,
        safety_hold=True,
    )
    playwright_login(page, page.base_url, practitioner_a)
    url = reverse("clinical:session_new_from_appointment", kwargs={"uuid": appointment.uuid})
    page.goto(page.base_url + url)
    hold = page.locator("#safety-hold")
    expect(hold).to_contain_text("Needs practitioner clearance")
    shot(page, "session-log-safety-hold")
    hold.get_by_label("Why treatment may go ahead").fill("Swelling resolved on review today.")
    hold.get_by_role("button", name="Clear hold").click()
    expect(page.locator("#id_hold-confirm_errors")).to_contain_text("Tick the box")
    page.locator("#safety-hold").get_by_label("Why treatment may go ahead").fill(
        "Swelling resolved on review today."
    )
    page.locator("#id_hold-confirm").check()
    page.locator("#safety-hold").get_by_role("button", name="Clear hold").click()
    expect(page.locator("#safety-hold")).to_contain_text("Safety hold cleared by")
    assert not Appointment.objects.get(pk=appointment.pk).hold_open

    session = logged_session(practitioner_a, patient=patient, appointment=appointment)
    page.goto(page.base_url + reverse("clinical:session", kwargs={"uuid": session.uuid}))
    page.get_by_label("Why was this session entered in error?").fill("Wrong patient chosen.")
    page.locator("#id_understood").check()
    page.get_by_role("button", name="Mark entered in error").click()
    expect(page.locator("#confirm-h")).to_have_text("Mark this session entered in error?")
    expect(page.locator(".confirm-effects")).to_contain_text("unsent message")
    shot(page, "confirm-entered-in-error")
    page.get_by_role("button", name="Yes, mark entered in error").click()
    stopped = page.locator("#messages-stopped")
    expect(stopped).to_contain_text("Aftercare instructions")
    shot(page, "session-entered-in-error")
    assert TreatmentSession.objects.get(pk=session.pk).status == SessionStatus.ENTERED_IN_ERROR
    assert page.console_errors == []


def test_a_walk_in_for_a_held_patient_leads_to_the_hold_instead(page, clinic_a, practitioner_a):
    """GIVEN the patient's arrived appointment today is on safety hold WHEN the practitioner
    opens 'Log a session' without the appointment THEN the page says so and links to that
    appointment's page, where the hold is cleared."""
    from tests.factories import AppointmentFactory
    from treatments.models import AppointmentStatus

    default_plan(clinic_a)
    patient = PatientFactory(clinic=clinic_a, first_name="Mina", last_name="Park")
    now = timezone.now()
    appointment = AppointmentFactory(
        patient=patient,
        practitioner=practitioner_a,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        status=AppointmentStatus.ARRIVED,
        safety_hold=True,
    )
    playwright_login(page, page.base_url, practitioner_a)
    page.goto(page.base_url + reverse("clinical:session_new", kwargs={"uuid": patient.uuid}))
    held = page.locator("#held-today")
    expect(held).to_contain_text("Needs practitioner clearance")
    shot(page, "session-walk-in-held")
    target = reverse("clinical:session_new_from_appointment", kwargs={"uuid": appointment.uuid})
    held.locator(f'a[href="{target}"]').click()
    expect(page.locator("#safety-hold")).to_contain_text("Needs practitioner clearance")
    assert page.url.endswith(target)
    assert page.console_errors == []


def test_a_korean_patients_aftercare_sheet_is_korean_with_tap_to_call_numbers(
    page, clinic_a, practitioner_a
):
    """GIVEN a Korean-speaking patient of the Seoul clinic WHEN the practitioner opens the
    aftercare sheet THEN its printed part is in Korean, the emergency number (119) and the
    clinic's phone are tap-to-call buttons at least 44 px tall on screen, and on paper they
    print as plain text while the staff's back link disappears."""
    default_plan(clinic_a)
    patient = PatientFactory(
        clinic=clinic_a, first_name="Mina", last_name="Park", language=Language.KO
    )
    session = logged_session(practitioner_a, patient=patient)
    playwright_login(page, page.base_url, practitioner_a)
    page.goto(page.base_url + reverse("clinical:aftercare", kwargs={"uuid": session.uuid}))

    sheet = page.locator("article.aftercare-sheet")
    expect(sheet).to_have_attribute("lang", "ko")
    expect(sheet.get_by_role("heading", level=1)).to_have_text("피부 시술 후 관리 안내")
    expect(sheet.locator(".urgent")).to_contain_text("지금 바로 119에 전화하거나")
    emergency = sheet.get_by_role("link", name="응급 신고 전화: 119")
    clinic_call = sheet.get_by_role("link", name=f"병원에 전화하기: {clinic_a.phone}")
    expect(emergency).to_have_attribute("href", "tel:119")
    expect(clinic_call).to_have_attribute("href", f"tel:{clinic_a.phone_tel}")
    for link in (emergency, clinic_call):
        box = link.bounding_box()
        assert box and box["height"] >= 44
    box = sheet.locator("svg.qr").bounding_box()
    assert box and box["width"] > 150
    shot(page, "aftercare-sheet-korean")

    page.emulate_media(media="print")
    expect(page.get_by_role("link", name="← Back to the session")).to_be_hidden()
    expect(emergency).to_have_css("background-color", "rgba(0, 0, 0, 0)")
    shot(page, "aftercare-sheet-korean-print")
    page.emulate_media(media="screen")
    assert page.console_errors == []
