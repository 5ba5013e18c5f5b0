"""The dashboard in a real browser, one role at a time: what each sees and must not see.

Screenshots go to test-artifacts/; the ones the user guide shows are copied to docs/img/.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from django.urls import reverse
from django.utils import timezone

from adverse_events.models import Alarm, Assessment, TriageStatus
from tests.factories import (
    AlarmFactory,
    AppointmentFactory,
    AssessmentFactory,
    CallTaskFactory,
    CheckInFactory,
    LotSignalFactory,
    PatientFactory,
    ReactionReportFactory,
    ReactionTermFactory,
    SubmissionFactory,
    TreatmentSeriesFactory,
    TreatmentSessionFactory,
)
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path
from treatments.models import CheckInState

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _shot(page, name: str, *, for_docs: bool = False) -> None:
    path = artifact_path(f"{name}.png")
    page.screenshot(path=path, full_page=True)
    if for_docs:
        DOCS_IMG.mkdir(exist_ok=True)
        shutil.copy(path, DOCS_IMG / f"{name}.png")


def _world(clinic, practitioner):
    """A morning at the Seoul clinic: one red-flag alarm, one report to triage, a prolonged
    reaction, a session today, answered check-ins, an open lot signal; and for the front
    desk an appointment today, a call to make and a series to book."""
    now = timezone.now()
    alarm_patient = PatientFactory(clinic=clinic, first_name="Seo-yeon", last_name="Kim")
    alarm_session = TreatmentSessionFactory(
        clinic=clinic, patient=alarm_patient, practitioner=practitioner
    )
    breathing = ReactionTermFactory(
        code="breathing_test", name="Dyspnoea / anaphylaxis", red_flag=True, display_order=180
    )
    alarm = AlarmFactory(
        clinic=clinic,
        submission=SubmissionFactory(session=alarm_session, red_flag=True),
        severity=3,
        terms=[breathing],
    )
    flagged = ReactionReportFactory(
        clinic=clinic,
        session=alarm_session,
        submission=alarm.submission,
        term=breathing,
        patient_severity=3,
    )
    AssessmentFactory(report=flagged)
    patient = PatientFactory(clinic=clinic, first_name="Min-ji", last_name="Park")
    session = TreatmentSessionFactory(
        clinic=clinic, patient=patient, practitioner=practitioner, performed_at=now
    )
    submission = SubmissionFactory(session=session, free_text="My cheeks are still red and warm.")
    report = ReactionReportFactory(
        clinic=clinic,
        session=session,
        submission=submission,
        term=ReactionTermFactory(code="swelling_test", name="Swelling"),
    )
    AssessmentFactory(report=report)
    prolonged = ReactionReportFactory(
        clinic=clinic,
        term=ReactionTermFactory(code="bruise_test", name="Bruising", usual_course_days=3),
        onset_date=timezone.localdate() - timedelta(days=9),
    )
    AssessmentFactory(report=prolonged, reviewed=True)
    for state, answered in [
        (CheckInState.ANSWERED_FINE, now),
        (CheckInState.ANSWERED_REACTIONS, now),
        (CheckInState.SENT, None),
    ]:
        CheckInFactory(session=session, state=state, sent_at=now, answered_at=answered)
    LotSignalFactory(lot=session.lot)
    AppointmentFactory(
        clinic=clinic,
        patient=PatientFactory(clinic=clinic, first_name="Ha-eun", last_name="Choi"),
        practitioner=practitioner,
        # Now, not "in an hour": after 23:00 in Seoul an hour from now is tomorrow there.
        starts_at=now,
    )
    CallTaskFactory(
        clinic=clinic, patient=PatientFactory(clinic=clinic, first_name="Do-yun", last_name="Lee")
    )
    TreatmentSeriesFactory(
        clinic=clinic,
        patient=PatientFactory(clinic=clinic, first_name="Ji-ho", last_name="Jung"),
        sessions_planned=3,
    )
    return alarm, report


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_practitioner_acknowledges_an_alarm_and_triages_a_report(page, clinic_a, practitioner_a):
    """GIVEN a red-flag alarm and a new report WHEN the practitioner acknowledges the alarm,
    tries to mark the report reviewed without a grade, then grades it
    THEN the alarm leaves the dashboard, the error shows next to the grade, and the
    assessment is reviewed with its history on the page."""
    alarm, report = _world(clinic_a, practitioner_a)
    base = page.base_url
    playwright_login(page, base, practitioner_a)
    page.goto(base + reverse("dashboard"))
    page.get_by_role("heading", name="Red-flag alarms").wait_for()
    assert page.get_by_role("link", name="Seo-yeon Kim", exact=True).is_visible()
    card = page.locator(f"#alarm-{alarm.uuid}")
    assert card.get_by_text("Dyspnoea / anaphylaxis").is_visible()
    assert card.get_by_text("Severe", exact=True).is_visible()
    assert card.get_by_role("link", name="Open the report").is_visible()
    # The open red flag heads the triage queue, marked as one.
    first = page.locator(".triage-row").first
    assert "Red flag" in first.inner_text() and "Dyspnoea" in first.inner_text()
    assert page.get_by_role("heading", name="New reports to triage").is_visible()
    assert page.get_by_text("Bruising").first.is_visible()
    assert page.get_by_text("67%").is_visible()
    assert page.get_by_role("heading", name="Lots with open safety signals").is_visible()
    assert page.get_by_role("heading", name="Today's appointments").count() == 0
    _shot(page, "dashboard_practitioner", for_docs=True)

    page.get_by_label("Note (optional)").fill("Called her: sent to the emergency room")
    page.get_by_role("button", name="Acknowledge").click()
    page.get_by_text("Alarm acknowledged.").wait_for()
    assert page.get_by_text("No open alarms.").is_visible()
    alarm.refresh_from_db()
    assert alarm.acknowledged_by == practitioner_a

    page.get_by_role("link", name="Swelling", exact=True).click()
    page.get_by_role("heading", name="Triage: Swelling").wait_for()
    assert page.get_by_text("My cheeks are still red and warm.").is_visible()
    page.get_by_label("Triage status").select_option("reviewed")
    page.get_by_role("button", name="Save assessment").click()
    page.get_by_text("A reviewed report needs a severity grade.").wait_for()
    assert page.get_by_label("Severity grade (CTCAE)").get_attribute("aria-invalid") == "true"
    _shot(page, "triage_error")
    assert all("400" in e for e in page.console_errors)  # the refused form answers 400
    page.console_errors.clear()

    page.get_by_label("Severity grade (CTCAE)").select_option("2")
    page.get_by_label("Action taken").fill("Cold compress, review photo tomorrow")
    page.get_by_role("button", name="Save assessment").click()
    page.get_by_text("Assessment recorded.").wait_for()
    _shot(page, "triage_report", for_docs=True)
    assert Assessment.objects.get(report=report).triage_status == TriageStatus.REVIEWED

    page.goto(base + reverse("triage:reactions"))
    page.get_by_label("Delivery method").select_option("laser")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_text("0 reactions").wait_for()
    page.get_by_role("link", name="Clear").click()
    page.get_by_role("heading", name="Filters").wait_for()
    _shot(page, "reactions_list", for_docs=True)
    assert page.console_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_front_desk_sees_the_day_and_calls_but_nothing_clinical(
    page, clinic_a, practitioner_a, front_desk_a
):
    alarm, report = _world(clinic_a, practitioner_a)
    base = page.base_url
    playwright_login(page, base, front_desk_a)
    page.goto(base + reverse("dashboard"))
    page.get_by_role("heading", name="Today's appointments").wait_for()
    assert page.get_by_text("Ha-eun Choi").is_visible()
    assert page.get_by_text("Do-yun Lee").is_visible()
    assert page.get_by_text("Ji-ho Jung").is_visible()
    body = page.content()
    for hidden in ("Red-flag", "Seo-yeon Kim", "Swelling", "Bruising", "triage", "signal"):
        assert hidden not in body, hidden
    _shot(page, "dashboard_front_desk", for_docs=True)

    page.goto(base + reverse("triage:report", args=[report.uuid]))
    assert "Swelling" not in page.content()
    page.console_errors.clear()  # the 403 above is the expected answer
    assert Alarm.objects.get(pk=alarm.pk).acknowledged_at is None


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_safety_lead_sees_the_clinical_panels_and_the_lot_signal(
    page, clinic_a, practitioner_a, safety_lead_a
):
    _world(clinic_a, practitioner_a)
    base = page.base_url
    playwright_login(page, base, safety_lead_a)
    page.goto(base + reverse("dashboard"))
    page.get_by_role("heading", name="Lots with open safety signals").wait_for()
    assert page.get_by_text("Rate signal").is_visible()
    assert page.get_by_role("link", name="Seo-yeon Kim", exact=True).is_visible()
    _shot(page, "dashboard_safety_lead")
    assert page.console_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_red_flag_appears_on_an_open_dashboard_without_a_reload(
    page, clinic_a, practitioner_a, settings
):
    """GIVEN a practitioner's dashboard open with no alarms, polling every second
    WHEN a patient's red-flag report is recorded (through the service)
    THEN its alarm card and the new triage count appear without a reload."""
    from adverse_events.models import ReactionTerm
    from adverse_events.services import submission_record
    from adverse_events.vocabulary import load_terms
    from tests.adverse_events.patient_form_world import reaction, session_with_link

    if not ReactionTerm.objects.exists():  # transactional tests flush the vocabulary
        load_terms(ReactionTerm)
    settings.DASHBOARD_POLL_SECONDS = 1
    reached = session_with_link(practitioner_a, first_name="Seo-yeon", last_name="Kim")
    base = page.base_url
    playwright_login(page, base, practitioner_a)
    page.goto(base + reverse("dashboard"))
    page.get_by_text("No open alarms.").wait_for()
    assert page.locator("#triage-count").inner_text() == "0"
    loads = []
    page.on("load", lambda _: loads.append(1))

    submission_record(
        link=reached.link,
        submission_id=uuid4(),
        all_fine=False,
        reactions=[reaction("breathing_difficulty", patient_severity=3)],
    )
    alarm = Alarm.objects.get()
    card = page.locator(f"#alarm-{alarm.uuid}")
    card.wait_for()
    assert card.get_by_text("Dyspnoea / anaphylaxis").is_visible()
    assert card.get_by_role("link", name="Open the report").is_visible()
    page.wait_for_function("document.querySelector('#triage-count').textContent === '1'")
    assert "Red flag" in page.locator(".triage-row").first.inner_text()
    assert loads == []  # no reload: the panel was swapped in place
    _shot(page, "dashboard_live_alarm", for_docs=True)
    assert page.console_errors == []
