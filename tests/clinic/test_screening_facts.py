"""Screening against the record's facts: isotretinoin, current medications, and facts that must
be confirmed again (clinic/workflows.py `screening_evaluate`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.core.exceptions import RuleViolation
from clinic.workflows import HARD_STOP, RECONFIRM, WARNING, screening_evaluate
from patients.models import SCREENING_FACTS_MAX_AGE_DAYS, ScreeningFact
from patients.services import screening_facts_confirm
from tests.factories import PatientFactory, ScreeningFactConfirmationFactory
from tests.kit.world import logged_session
from treatments.models import DeliveryMethod

pytestmark = pytest.mark.django_db


def levels(patient, method: str) -> dict[str, str]:
    found = screening_evaluate(patient=patient, delivery_method=method, answers={})
    return {f.code: f.level for f in found.findings}


@pytest.mark.parametrize(
    ("method", "level"),
    [
        (DeliveryMethod.MICRONEEDLING, HARD_STOP),
        (DeliveryMethod.LASER, HARD_STOP),
        (DeliveryMethod.MICRO_INJECTION, WARNING),
        (DeliveryMethod.TOPICAL, WARNING),
        ("", WARNING),
    ],
)
def test_isotretinoin_is_a_hard_stop_for_microneedling_and_laser(clinic_a, method, level):
    patient = PatientFactory(clinic=clinic_a, on_isotretinoin=True)
    assert levels(patient, method)["isotretinoin"] == level
    assert "isotretinoin" not in levels(PatientFactory(clinic=clinic_a), method)


def test_isotretinoin_blocks_the_session_unless_overridden_in_writing(clinic_a, practitioner_a):
    patient = PatientFactory(clinic=clinic_a, on_isotretinoin=True)
    with pytest.raises(RuleViolation, match="Isotretinoin") as caught:
        logged_session(practitioner_a, patient=patient)
    assert caught.value.field == "screening_override_reason"
    session = logged_session(
        practitioner_a, patient=patient, screening_override_reason="Last dose 8 months ago."
    )
    assert "isotretinoin" in {f["code"] for f in session.screening["findings"]}


def test_facts_never_confirmed_are_named_for_reconfirmation_and_kept_with_the_session(
    clinic_a, practitioner_a
):
    patient = PatientFactory(clinic=clinic_a)
    found = screening_evaluate(patient=patient, delivery_method="topical", answers={})
    (reconfirm,) = found.reconfirm
    assert reconfirm.level == RECONFIRM
    assert "Pregnant or breastfeeding" in reconfirm.message
    assert f"last {SCREENING_FACTS_MAX_AGE_DAYS} days" in reconfirm.message
    # Not a contraindication: the session is not blocked, but the record keeps the finding.
    assert not found.hard_stops and not found.warnings
    session = logged_session(practitioner_a, patient=patient)
    assert "facts_not_confirmed" in {f["code"] for f in session.screening["findings"]}


def test_only_the_stale_facts_are_named(clinic_a, practitioner_a):
    patient = PatientFactory(clinic=clinic_a)
    screening_facts_confirm(patient=patient, user=practitioner_a, facts=ScreeningFact.values)
    assert not screening_evaluate(patient=patient, delivery_method="", answers={}).reconfirm
    old = timezone.now() - timedelta(days=SCREENING_FACTS_MAX_AGE_DAYS + 1)
    patient.fact_confirmations.filter(fact="keloid_history").update(confirmed_at=old)
    (reconfirm,) = screening_evaluate(patient=patient, delivery_method="", answers={}).reconfirm
    assert reconfirm.message.endswith("days: History of keloids.")


def test_the_screening_step_shows_medications_confirmations_and_the_way_to_confirm(
    practitioner_client, practitioner_a, clinic_a
):
    patient = PatientFactory(
        clinic=clinic_a, current_medications="Warfarin 5 mg daily", on_anticoagulants=True
    )
    ScreeningFactConfirmationFactory(
        patient=patient, fact="current_medications", confirmed_by=practitioner_a
    )
    log_url = reverse("clinical:session_new", kwargs={"uuid": patient.uuid})
    html = practitioner_client.get(log_url).content.decode()
    assert "Current medications" in html and "Warfarin 5 mg daily" in html
    assert 'id="screening-reconfirm"' in html
    edit = reverse("patients:screening_edit", kwargs={"uuid": patient.uuid})
    assert f'href="{edit}?next={log_url}"' in html
    # The live panel (HTMX) keeps pointing back at the page it is on.
    panel = practitioner_client.post(
        reverse("clinical:screening", kwargs={"uuid": patient.uuid}),
        {"delivery_method": "laser"},
        HTTP_HX_CURRENT_URL=f"http://testserver{log_url}",
    ).content.decode()
    assert "screening-reconfirm" in panel and "testserver" in panel
