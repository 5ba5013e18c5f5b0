"""The clinical pages: the patient chart, logging a session, the session page (sign, addenda,
entered in error) and the printable aftercare sheet."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from adverse_events.models import ReactionReport
from patients.models import MessageKind, OutboxMessage, PatientAccess
from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    ReactionReportFactory,
    TreatmentSeriesFactory,
)
from tests.kit.queries import assert_constant_queries
from tests.kit.world import default_plan, logged_session, released_lot
from treatments.models import (
    AppointmentStatus,
    CheckInState,
    DeliveryMethod,
    LotStatus,
    ProductLot,
    SessionStatus,
    TreatmentSession,
)

pytestmark = pytest.mark.django_db


def field_errors(response, name: str) -> str:
    """The text of the error list rendered next to field `name` ('' if none)."""
    html = response.content.decode()
    match = re.search(rf'<ul class="field-errors" id="id_{name}_errors">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""


def session_post(the_lot: ProductLot | None, **overrides) -> dict:
    data = {
        "delivery_method": DeliveryMethod.MICRONEEDLING,
        "needle_depth_mm": "0.75",
        "treated_areas": ["cheeks", "forehead"],
        "lot": the_lot.lot_number if the_lot else "",
        "units_used": "1",
        "notes": "Tolerated well.",
        "aftercare_given": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def patient(clinic_a):
    return PatientFactory(clinic=clinic_a, first_name="Mina", last_name="Park")


@pytest.fixture
def lot(clinic_a):
    default_plan(clinic_a)
    return released_lot(clinic_a, quantity=10, lot_number="EXO-2026-01")


def log_url(patient) -> str:
    return reverse("clinical:session_new", kwargs={"uuid": patient.uuid})


# --- the chart -----------------------------------------------------------------------------


def test_the_chart_shows_record_screening_series_and_a_timeline_with_check_in_states(
    practitioner_client, practitioner_a, patient, lot
):
    patient.on_anticoagulants = True
    patient.save()
    TreatmentSeriesFactory(patient=patient, indication="Acne scars")
    session = logged_session(practitioner_a, patient=patient, lot=lot)
    ReactionReportFactory(session=session)
    response = practitioner_client.get(reverse("clinical:chart", kwargs={"uuid": patient.uuid}))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Mina Park" in html and patient.email in html
    assert "Takes blood thinners" in html
    assert "Acne scars" in html
    assert "EXO-2026-01" in html
    assert "badge-checkin-scheduled" in html and "Day 1" in html
    reaction = ReactionReport.objects.get(session=session)
    assert reaction.term.name in html


def test_reading_a_chart_records_who_read_it_and_when(practitioner_client, practitioner_a, patient):
    practitioner_client.get(reverse("clinical:chart", kwargs={"uuid": patient.uuid}))
    access = PatientAccess.objects.get(patient=patient)
    assert access.user == practitioner_a and access.action == "chart_view"
    assert timezone.now() - access.at < timedelta(minutes=1)


def test_the_front_desk_cannot_read_a_chart_and_leaves_no_access_row(front_desk_client, patient):
    response = front_desk_client.get(reverse("clinical:chart", kwargs={"uuid": patient.uuid}))
    assert response.status_code == 403
    assert not PatientAccess.objects.exists()


def test_another_clinics_chart_is_not_found(outsider_client, patient):
    response = outsider_client.get(reverse("clinical:chart", kwargs={"uuid": patient.uuid}))
    assert response.status_code == 404


def test_the_chart_costs_the_same_queries_with_many_sessions(
    practitioner_client, practitioner_a, patient, lot
):
    def grow(n: int) -> None:
        for _ in range(n):
            session = logged_session(
                practitioner_a, patient=patient, lot=lot, screening_override_reason="Reviewed."
            )
            ReactionReportFactory(session=session)

    url = reverse("clinical:chart", kwargs={"uuid": patient.uuid})
    # +2 since issue 18: the record's history (versions with their users) and the screening
    # facts' confirmations.
    assert_constant_queries(practitioner_client, url, grow, expected=16, sizes=(1, 4))


# --- logging a session ---------------------------------------------------------------------


def test_logging_a_session_saves_it_takes_stock_and_opens_the_aftercare_sheet(
    practitioner_client, practitioner_a, patient, lot
):
    response = practitioner_client.post(log_url(patient), session_post(lot, units_used="2"))
    session = TreatmentSession.objects.get(patient=patient)
    assert response.status_code == 302
    assert response["Location"] == reverse("clinical:aftercare", kwargs={"uuid": session.uuid})
    assert session.practitioner == practitioner_a
    assert session.treated_areas == ["cheeks", "forehead"]
    assert session.needle_depth_mm == Decimal("0.75")
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 8
    assert session.checkins.count() == 6
    assert OutboxMessage.objects.filter(kind=MessageKind.AFTERCARE, patient=patient).exists()


def test_a_lot_number_is_found_whatever_its_case_and_spacing(practitioner_client, patient, lot):
    practitioner_client.post(log_url(patient), session_post(lot, lot="  exo-2026-01 "))
    assert TreatmentSession.objects.get(patient=patient).lot == lot


def test_an_expired_lot_is_refused_with_its_date_next_to_the_lot_field(
    practitioner_client, patient, clinic_a
):
    today = timezone.localdate()
    lot = released_lot(
        clinic_a,
        lot_number="OLD-1",
        expiry_date=today - timedelta(days=1),
        received_on=today - timedelta(days=90),
    )
    response = practitioner_client.post(log_url(patient), session_post(lot, notes="typed"))
    assert response.status_code == 200
    assert f"Lot OLD-1 expired on {lot.expiry_date:%Y-%m-%d}" in field_errors(response, "lot")
    assert 'aria-describedby="id_lot_errors"' in response.content.decode()
    assert "typed" in response.content.decode()  # what was typed is kept
    lot.refresh_from_db()
    assert lot.quantity_on_hand == lot.quantity_received
    assert not TreatmentSession.objects.exists()


@pytest.mark.parametrize(
    ("status", "reason", "says"),
    [
        (LotStatus.QUARANTINED, "Cold chain broken", "is quarantined: Cold chain broken"),
        (LotStatus.RECALLED, "Manufacturer recall", "was recalled: Manufacturer recall"),
    ],
)
def test_a_held_lot_is_refused_with_the_reason_next_to_the_lot_field(
    practitioner_client, patient, lot, status, reason, says
):
    ProductLot.objects.filter(pk=lot.pk).update(status=status, status_reason=reason)
    response = practitioner_client.post(log_url(patient), session_post(lot))
    assert says in field_errors(response, "lot")
    assert not TreatmentSession.objects.exists()


def test_an_unknown_lot_number_is_refused_next_to_the_lot_field(practitioner_client, patient):
    response = practitioner_client.post(log_url(patient), session_post(None, lot="NOPE-9"))
    assert "No lot numbered NOPE-9 at this clinic" in field_errors(response, "lot")


def test_another_clinics_lot_is_unknown_here(practitioner_client, patient, clinic_b):
    other = released_lot(clinic_b, lot_number="NY-1")
    response = practitioner_client.post(log_url(patient), session_post(other))
    assert "No lot numbered NY-1" in field_errors(response, "lot")


def test_taking_more_than_the_lot_holds_is_refused_next_to_the_amount(
    practitioner_client, patient, clinic_a
):
    lot = released_lot(clinic_a, quantity=1, lot_number="LAST-1")
    response = practitioner_client.post(log_url(patient), session_post(lot, units_used="2"))
    assert "has only 1 vial(s) left; 2 needed" in field_errors(response, "units_used")
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 1


def test_a_hard_stop_needs_a_written_reason_next_to_the_override_field(
    practitioner_client, patient, lot
):
    response = practitioner_client.post(log_url(patient), session_post(lot, active_infection="on"))
    assert "Active skin infection" in field_errors(response, "screening_override_reason")
    assert not TreatmentSession.objects.exists()


def test_a_screening_override_reason_is_kept_with_the_session(practitioner_client, patient, lot):
    patient.pregnant_or_breastfeeding = True
    patient.save()
    reason = "Stopped breastfeeding last month; confirmed with GP."
    practitioner_client.post(log_url(patient), session_post(lot, screening_override_reason=reason))
    session = TreatmentSession.objects.get(patient=patient)
    assert session.screening_override_reason == reason
    findings = session.screening["findings"]
    assert [f["code"] for f in findings if f["level"] != "reconfirm"] == ["pregnancy"]


def test_warnings_must_be_acknowledged_next_to_the_checkbox(practitioner_client, patient, lot):
    patient.keloid_history = True
    patient.save()
    response = practitioner_client.post(log_url(patient), session_post(lot))
    assert "History of keloids" in field_errors(response, "warnings_acknowledged")
    practitioner_client.post(log_url(patient), session_post(lot, warnings_acknowledged="on"))
    assert TreatmentSession.objects.get(patient=patient).warnings_acknowledged


def test_the_log_page_shows_the_patients_findings_before_anything_is_typed(
    practitioner_client, patient, lot
):
    patient.allergic_to_product_components = True
    patient.allergies = "Egg protein"
    patient.save()
    response = practitioner_client.get(log_url(patient))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Known allergy to product components (Egg protein)" in html
    assert 'list="lot-options"' in html and "EXO-2026-01" in html  # suggestions


def test_the_screening_panel_refreshes_for_laser_on_fitzpatrick_v(practitioner_client, patient):
    patient.fitzpatrick_type = 5
    patient.save()
    url = reverse("clinical:screening", kwargs={"uuid": patient.uuid})
    laser = practitioner_client.post(url, {"delivery_method": "laser"}).content.decode()
    topical = practitioner_client.post(url, {"delivery_method": "topical"}).content.decode()
    assert "with laser: higher risk of pigment change" in laser
    assert "pigment change" not in topical


def test_an_empty_form_gets_an_error_next_to_every_required_field(practitioner_client, patient):
    response = practitioner_client.post(log_url(patient), {})
    assert response.status_code == 200
    for name in ["delivery_method", "treated_areas", "lot", "units_used"]:
        assert field_errors(response, name), name


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"needle_depth_mm": ""}, "needle_depth_mm", "needs the needle depth"),
        ({"needle_depth_mm": "4"}, "needle_depth_mm", "less than or equal to 3.0"),
        ({"needle_depth_mm": "deep"}, "needle_depth_mm", "Enter a number"),
        ({"delivery_method": "laser"}, "laser_type", "Choose the laser type"),
        ({"delivery_method": "laser"}, "laser_device", "Name the laser device"),
        ({"delivery_method": "laser"}, "fluence_j_cm2", "energy / fluence"),
        ({"delivery_method": "laser"}, "passes", "number of passes"),
        ({"delivery_method": "laser", "laser_type": "plasma"}, "laser_type", "valid choice"),
        ({"delivery_method": "sorcery"}, "delivery_method", "valid choice"),
        ({"treated_areas": ["cheeks", "elbow"]}, "treated_areas", "valid choice"),
        ({"treated_areas": []}, "treated_areas", "at least one treated area"),
        ({"units_used": "0"}, "units_used", "greater than or equal to 1"),
        ({"units_used": "lots"}, "units_used", "whole number"),
        ({"volume_ml": "-1"}, "volume_ml", "greater than or equal to 0.01"),
        ({"lot": "x" * 61}, "lot", "at most 60 characters"),
    ],
)
def test_bad_input_is_refused_next_to_its_field(
    practitioner_client, patient, lot, overrides, field, says
):
    response = practitioner_client.post(log_url(patient), session_post(lot, **overrides))
    assert response.status_code == 200
    assert says in field_errors(response, field)
    assert not TreatmentSession.objects.exists()


def test_a_laser_session_keeps_its_settings_and_drops_the_needle_depth(
    practitioner_client, patient, lot
):
    practitioner_client.post(
        log_url(patient),
        session_post(
            lot,
            delivery_method="laser",
            laser_device="Fraxel Dual",
            laser_type="non_ablative_fractional",
            fluence_j_cm2="15",
            passes="2",
        ),
    )
    session = TreatmentSession.objects.get(patient=patient)
    assert (session.laser_device, session.laser_type, session.passes) == (
        "Fraxel Dual",
        "non_ablative_fractional",
        2,
    )
    assert session.fluence_j_cm2 == Decimal("15") and session.needle_depth_mm is None


def test_a_session_logged_from_an_appointment_completes_it_and_is_logged_once(
    practitioner_client, practitioner_a, patient, lot
):
    now = timezone.now()  # a session goes only on its appointment's own day
    appointment = AppointmentFactory(
        patient=patient,
        practitioner=practitioner_a,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
    )
    url = reverse("clinical:session_new_from_appointment", kwargs={"uuid": appointment.uuid})
    practitioner_client.post(url, session_post(lot))
    session = TreatmentSession.objects.get(patient=patient)
    appointment.refresh_from_db()
    assert session.appointment == appointment
    assert appointment.status == AppointmentStatus.COMPLETED
    again = practitioner_client.get(url)
    assert again["Location"] == reverse("clinical:session", kwargs={"uuid": session.uuid})


# --- aftercare -----------------------------------------------------------------------------


def test_the_aftercare_sheet_prints_instructions_and_the_personal_link_as_a_qr_code(
    practitioner_client, practitioner_a, patient, lot
):
    session = logged_session(practitioner_a, patient=patient, lot=lot)
    response = practitioner_client.get(reverse("clinical:aftercare", kwargs={"uuid": session.uuid}))
    html = response.content.decode()
    assert response.status_code == 200
    svg = re.search(r"<svg\b.*?</svg>", html, re.S).group(0)
    assert 'class="qr"' in svg and "<path" in svg
    assert "style" not in svg.lower()
    from treatments.aftercare import INSTRUCTIONS, session_link_url

    assert INSTRUCTIONS[0] in html
    assert session_link_url(session) in html
    assert "Get help now" in html


def test_the_aftercare_sheet_says_so_when_the_link_is_no_longer_live(
    practitioner_client, practitioner_a, patient, lot
):
    from patients.links import link_revoke

    session = logged_session(practitioner_a, patient=patient, lot=lot)
    link_revoke(link=session.report_link)
    response = practitioner_client.get(reverse("clinical:aftercare", kwargs={"uuid": session.uuid}))
    assert "<svg" not in response.content.decode()
    assert "expired or was withdrawn" in response.content.decode()


# --- the session page: edit, sign, addenda, entered in error --------------------------------


@pytest.fixture
def session(practitioner_a, patient, lot):
    return logged_session(practitioner_a, patient=patient, lot=lot)


def url_for(name: str, session) -> str:
    return reverse(f"clinical:{name}", kwargs={"uuid": session.uuid})


def test_the_session_page_shows_details_check_ins_and_the_aftercare_message(
    practitioner_client, session
):
    html = practitioner_client.get(url_for("session", session)).content.decode()
    assert "EXO-2026-01" in html and "Cheeks" in html
    assert html.count("badge-checkin-scheduled") == 6
    assert "Aftercare email to the patient" in html


def test_an_open_session_can_be_edited(practitioner_client, session):
    response = practitioner_client.post(
        url_for("session_edit", session),
        {"needle_depth_mm": "1.00", "treated_areas": ["neck"], "notes": "Corrected depth."},
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.needle_depth_mm == Decimal("1.00") and session.treated_areas == ["neck"]


def test_bad_input_on_the_edit_form_is_refused_next_to_the_field(practitioner_client, session):
    response = practitioner_client.post(
        url_for("session_edit", session), {"needle_depth_mm": "", "treated_areas": []}
    )
    assert "needs the needle depth" in field_errors(response, "needle_depth_mm")
    assert "at least one treated area" in field_errors(response, "treated_areas")


def test_signing_needs_the_confirmation_box(practitioner_client, session):
    response = practitioner_client.post(url_for("session_sign", session), {})
    assert "Tick the box" in field_errors(response, "confirm")
    session.refresh_from_db()
    assert session.status == SessionStatus.OPEN


def test_a_signed_session_is_locked_and_the_edit_form_refuses_changes(
    practitioner_client, practitioner_a, session
):
    """GIVEN an open session WHEN the practitioner signs it
    THEN it is locked: the edit form refuses changes, and an addendum records the correction."""
    response = practitioner_client.post(url_for("session_sign", session), {"confirm": "on"})
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == SessionStatus.SIGNED and session.signed_by == practitioner_a

    page = practitioner_client.get(url_for("session_edit", session)).content.decode()
    assert "cannot be edited" in page
    refused = practitioner_client.post(
        url_for("session_edit", session),
        {"needle_depth_mm": "1.00", "treated_areas": ["neck"], "notes": "changed"},
    )
    assert refused.status_code == 200
    assert "signed and locked" in refused.content.decode()
    session.refresh_from_db()
    assert session.notes == "" and session.treated_areas == ["cheeks", "forehead"]

    practitioner_client.post(url_for("session_addendum", session), {"text": "Depth was 1.0 mm."})
    addendum = session.addenda.get()
    assert addendum.author == practitioner_a
    page = practitioner_client.get(url_for("session", session)).content.decode()
    assert "Depth was 1.0 mm." in page


def test_an_empty_addendum_is_refused_next_to_its_field(practitioner_client, session):
    response = practitioner_client.post(url_for("session_addendum", session), {"text": "  "})
    assert response.status_code == 200
    assert field_errors(response, "text")
    assert not session.addenda.exists()


def test_entered_in_error_needs_a_reason(practitioner_client, session):
    response = practitioner_client.post(url_for("session_entered_in_error", session), {})
    assert "required" in field_errors(response, "reason")
    session.refresh_from_db()
    assert session.status == SessionStatus.OPEN


def test_a_session_entered_in_error_cancels_check_ins_and_returns_stock(
    practitioner_client, session, lot
):
    lot.refresh_from_db()
    before = lot.quantity_on_hand
    response = practitioner_client.post(
        url_for("session_entered_in_error", session),
        {"reason": "Wrong patient chosen.", "understood": "on", "confirm": "yes"},
    )
    assert response.status_code == 302
    session.refresh_from_db()
    lot.refresh_from_db()
    assert session.status == SessionStatus.ENTERED_IN_ERROR
    assert session.entered_in_error_reason == "Wrong patient chosen."
    assert lot.quantity_on_hand == before + 1
    assert set(session.checkins.values_list("state", flat=True)) == {CheckInState.CANCELLED}
    again = practitioner_client.post(
        url_for("session_entered_in_error", session),
        {"reason": "twice", "understood": "on", "confirm": "yes"},
    )
    assert "already marked" in field_errors(again, "reason")


def test_the_front_desk_cannot_open_a_session_or_its_aftercare_sheet(front_desk_client, session):
    for name in ["session", "aftercare", "session_edit"]:
        assert front_desk_client.get(url_for(name, session)).status_code == 403
