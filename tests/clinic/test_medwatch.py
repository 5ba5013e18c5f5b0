"""The printable MedWatch 3500 page for one reaction report: patient by initials and age, the
event with the assessment's seriousness and outcome, the suspect product with its lot number
and expiry, the reporter; clinical roles only, another clinic's report 404."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from adverse_events.models import Causality, Outcome, SeverityGrade, TriageStatus
from patients.models import PatientAccess
from tests.factories import AssessmentFactory, PatientFactory, ReactionReportFactory
from tests.kit.world import logged_session, released_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(clinic_a, practitioner_a):
    practitioner_a.first_name, practitioner_a.last_name = "Hana", "Seo"
    practitioner_a.save()
    patient = PatientFactory(
        clinic=clinic_a,
        first_name="Minji",
        last_name="Kimura",
        date_of_birth=date(1990, 6, 15),
        allergies="Penicillin",
        on_anticoagulants=True,
    )
    lot = released_lot(clinic_a, lot_number="EXO-MW-3", expiry_date=date(2027, 3, 31))
    lot.product.name, lot.product.manufacturer = "ExoGlow", "ExoLab"
    lot.product.save()
    session = logged_session(
        practitioner_a,
        patient=patient,
        lot=lot,
        units_used=2,
        volume_ml=Decimal("1.50"),
        screening_override_reason="Reviewed.",
    )
    seoul_day = clinic_a.local(session.performed_at).date()
    report = ReactionReportFactory(session=session, onset_date=seoul_day, ongoing=True)
    AssessmentFactory(
        report=report,
        triage_status=TriageStatus.CLOSED,
        severity_grade=SeverityGrade.SEVERE,
        serious_hospitalisation=True,
        outcome=Outcome.RECOVERING,
        causality=Causality.PROBABLE,
        action_taken="Oral antibiotics; lot quarantined.",
        assessed_by=practitioner_a,
        assessed_at=timezone.now(),
    )
    return report


def url(report):
    return reverse("triage:medwatch", kwargs={"uuid": report.uuid})


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_it_carries_the_four_elements_a_regulator_needs(practitioner_client, report):
    response = practitioner_client.get(url(report))
    assert response.status_code == 200
    page = text(response)
    # A: the patient by initials and age, never the full name
    assert "M.K." in page
    assert "Kimura" not in page and "Minji" not in page
    age = (
        report.onset_date.year - 1990 - ((report.onset_date.month, report.onset_date.day) < (6, 15))
    )
    assert f"{age} years" in page
    # B: the event, seriousness and outcome from the assessment
    assert report.term.name in page
    assert "the day of a treatment" in page
    assert "☒ Hospitalization" in page and "☐ Death" in page
    assert "Recovering" in page and "Probable" in page and "3 — Severe" in page
    assert "Oral antibiotics" in page
    assert "Allergies: Penicillin" in page and "Takes blood thinners" in page
    # D: the suspect product with its lot number and expiry, amount and route
    assert "ExoGlow" in page and "ExoLab" in page
    assert "EXO-MW-3" in page and "2027-03-31" in page
    assert "2 vial(s), 1.50 mL" in page and "Microneedling" in page
    # E: the reporter
    assert "Hana Seo" in page and "Seoul" in page


def test_an_unassessed_report_says_so_and_ticks_no_seriousness(practitioner_client, practitioner_a):
    report = ReactionReportFactory(session=logged_session(practitioner_a))
    page = text(practitioner_client.get(url(report)))
    assert "Not yet assessed by a practitioner" in page
    assert "☐ Hospitalization" in page and "☒ None of these (non-serious)" in page


def test_opening_it_is_recorded_as_a_read_of_the_patients_record(
    practitioner_client, practitioner_a, report
):
    practitioner_client.get(url(report))
    assert PatientAccess.objects.filter(
        patient=report.patient, user=practitioner_a, action="medwatch"
    ).exists()


def test_the_triage_page_links_to_it(safety_lead_client, report):
    html = safety_lead_client.get(reverse("triage:report", kwargs={"uuid": report.uuid}))
    assert url(report) in html.content.decode()


def test_front_desk_403_and_another_clinic_404(front_desk_client, outsider_client, report):
    assert front_desk_client.get(url(report)).status_code == 403
    assert outsider_client.get(url(report)).status_code == 404
