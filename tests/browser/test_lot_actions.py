"""Acting on a lot in a real browser: the safety lead quarantines a lot (refused without a
reason, then held), recalls it, messages every patient from the recall page; a patient opens
their recall notice on a phone and acknowledges it; the MedWatch 3500 page prints cleanly.

Screenshots: docs/img/lot-quarantine.png, docs/img/recall.png, docs/img/recall-notice.png
(390 x 844) and docs/img/medwatch.png.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from adverse_events.models import ReactionTerm
from adverse_events.vocabulary import load_terms
from patients.models import MessageKind, OutboxMessage
from tests.adverse_events.patient_form_world import clear_rate_limits
from tests.factories import AssessmentFactory, PatientFactory, ReactionReportFactory
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path
from tests.kit.recall_world import notice_token, recalled_lot
from tests.kit.world import default_plan, logged_session, released_lot
from treatments.models import LotStatus, ProductLot, Recall

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PHONE = {"width": 390, "height": 844}


def _shot(page, name: str) -> None:
    path = artifact_path(f"{name}.png")
    page.screenshot(path=path, full_page=True)
    DOCS_IMG.mkdir(exist_ok=True)
    shutil.copy(path, DOCS_IMG / f"{name}.png")


def _no_csp_errors(page) -> None:
    # Deliberate 400s (a refused form) are expected; a CSP violation or a script error is not.
    expected = ("HTTP 400", "Failed to load resource: the server responded with a status of 400")
    assert [e for e in page.console_errors if not e.startswith(expected)] == []


def test_the_safety_lead_quarantines_then_recalls_a_lot_and_messages_its_patients(
    page, clinic_a, practitioner_a, safety_lead_a
):
    """GIVEN lot EXO-4410 used on three patients WHEN the safety lead quarantines it
    (first without a reason), then recalls it and presses "message all" twice THEN the lot is
    held at once, the error names the reason, the recall page lists all three patients and
    each patient with consent gets one message."""
    default_plan(clinic_a)
    lot = released_lot(clinic_a, quantity=40, lot_number="EXO-4410")
    for name in ("Mina", "Joon", "Ara"):
        patient = PatientFactory(
            clinic=clinic_a, first_name=name, last_name="Park", consent_to_contact=name != "Ara"
        )
        logged_session(practitioner_a, patient=patient, lot=lot, screening_override_reason="Ok.")
    base = page.base_url
    playwright_login(page, base, safety_lead_a)
    page.goto(base + reverse("treatments:lot", args=[lot.uuid]))
    page.get_by_role("heading", name="Act on this lot").wait_for()

    page.get_by_role("button", name="Quarantine lot EXO-4410").click()
    page.get_by_text("Say why.").wait_for()
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.RELEASED
    page.get_by_label("Why quarantine it").fill("Two infection reports in a week; awaiting CoA.")
    page.get_by_role("button", name="Quarantine lot EXO-4410").click()
    page.get_by_role("heading", name="Quarantine lot EXO-4410?").wait_for()
    page.get_by_role("button", name="Yes, quarantine the lot").click()
    page.get_by_text("quarantined: no session can record it now").wait_for()
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.QUARANTINED
    assert page.get_by_role("button", name="Release lot EXO-4410").is_visible()
    assert page.get_by_role("button", name="Recall lot EXO-4410").is_visible()
    _shot(page, "lot-quarantine")

    page.get_by_label("Why recall it").fill("Manufacturer's sterility retest failed.")
    page.get_by_role("button", name="Recall lot EXO-4410").click()
    page.get_by_text("3 patients received it and will be listed for a recall notice.").wait_for()
    page.get_by_role("button", name="Yes, recall the lot").click()
    page.get_by_role("heading", name="Patients who received this lot").wait_for()
    assert page.locator("tr.recall-row").count() == 3
    page.get_by_role("button", name="Message all").click()
    page.get_by_text("2 recall notice(s) queued; 1 patient(s) given to the front desk").wait_for()
    page.get_by_role("button", name="Message all").click()
    page.get_by_text("nothing sent").wait_for()
    assert OutboxMessage.objects.filter(kind=MessageKind.RECALL).count() == 2
    assert page.get_by_text("No way to message: call").is_visible()
    _shot(page, "recall")
    _no_csp_errors(page)

    recall = Recall.objects.get(lot=lot)
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename == "recall-EXO-4410.csv"
    assert recall.notices.count() == 3


def test_a_patient_reads_and_acknowledges_the_recall_notice_on_a_phone(
    _chromium, live_server, practitioner_a, safety_lead_a
):
    clear_rate_limits()
    world = recalled_lot(practitioner_a, safety_lead_a, lot_number="EXO-4410")
    token = notice_token(world.notice("mina"))
    context = _chromium.new_context(viewport=PHONE, device_scale_factor=2, has_touch=True)
    phone = context.new_page()
    errors: list[str] = []
    phone.on("console", lambda m: m.type == "error" and errors.append(m.text))
    try:
        phone.goto(f"{live_server.url}/r/{token}/")
        phone.get_by_role("heading", name="Important notice about your treatment").wait_for()
        assert token not in phone.url
        assert phone.get_by_text("lot EXO-4410").first.is_visible()
        assert "Joon" not in phone.content() and "Kim" not in phone.content()
        # Nothing wider than the phone: no sideways scrolling.
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(phone)
        assert results.violations_count == 0, results.generate_report()
        phone.get_by_role("button", name="I have read this").click()
        phone.get_by_text("you have read this notice").wait_for()
        assert world.notice("mina").acknowledged_at is not None
        assert Axe().run(phone).violations_count == 0
        _shot(phone, "recall-notice")
        assert errors == []
    finally:
        context.close()
        clear_rate_limits()


def test_the_medwatch_page_from_the_triage_page(page, clinic_a, practitioner_a):
    load_terms(ReactionTerm)
    lot = released_lot(clinic_a, lot_number="EXO-4410")
    session = logged_session(practitioner_a, lot=lot)
    onset = clinic_a.local(session.performed_at).date()
    report = ReactionReportFactory(
        session=session,
        term=ReactionTerm.objects.get(code="swelling"),
        onset_date=onset,
    )
    AssessmentFactory(report=report, reviewed=True, serious_medically_important=True)
    base = page.base_url
    playwright_login(page, base, practitioner_a)
    page.goto(base + reverse("triage:report", args=[report.uuid]))
    page.get_by_role("link", name="MedWatch 3500 (print)").click()
    page.get_by_role("heading", name="MedWatch 3500 — voluntary adverse event report").wait_for()
    assert page.get_by_text("EXO-4410").first.is_visible()
    assert page.get_by_text("the day of a treatment").is_visible()
    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible()  # the navigation stays off the paper
    page.emulate_media(media="screen")
    _shot(page, "medwatch")
    _no_csp_errors(page)


def test_the_recall_page_shows_a_notice_withdrawn_by_entered_in_error(
    page, practitioner_a, safety_lead_a
):
    """GIVEN a recall whose patient Joon's only session with the lot is then entered in error
    WHEN the safety lead opens the recall page and presses "message all" THEN Joon's row says
    withdrawn, he is not counted or messaged, and the others are."""
    from treatments.services import session_mark_entered_in_error

    world = recalled_lot(practitioner_a, safety_lead_a, lot_number="EXO-4410")
    (joon_session,) = world.notice("joon").sessions.all()
    session_mark_entered_in_error(session=joon_session, user=practitioner_a, reason="Wrong patient")
    playwright_login(page, page.base_url, safety_lead_a)
    page.goto(page.base_url + reverse("treatments:recall", args=[world.recall.uuid]))
    page.get_by_role("heading", name="Patients who received this lot").wait_for()
    page.get_by_role("button", name="Message all").click()
    page.get_by_text("1 recall notice(s) queued; 1 patient(s) given to the front desk").wait_for()
    row = page.locator("tr.recall-withdrawn")
    assert row.count() == 1 and "Kim, Joon" in row.inner_text()
    assert "Withdrawn: session entered in error" in row.inner_text()
    assert page.get_by_text("2 received this lot").is_visible()
    path = artifact_path("recall-withdrawn.png")
    page.screenshot(path=path, full_page=True)
    _no_csp_errors(page)
