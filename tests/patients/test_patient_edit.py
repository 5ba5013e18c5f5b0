"""Editing a patient: contact details (anyone of the clinic, no clinical field shown), the
screening facts (clinicians; saving confirms every fact), and the history on the chart."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.core.exceptions import NotAllowed
from patients.models import (
    SCREENING_FACTS_MAX_AGE_DAYS,
    PatientAccess,
    ScreeningFact,
    ScreeningFactConfirmation,
)
from patients.selectors import patient_history, screening_facts_stale
from patients.services import patient_update, screening_facts_confirm
from tests.factories import PatientFactory, ScreeningFactConfirmationFactory

pytestmark = pytest.mark.django_db

# Words of the screening facts that must never reach the front desk's edit page.
CLINICAL_WORDS = [
    "Fitzpatrick",
    "allerg",
    "medication",
    "anticoagulant",
    "blood thinner",
    "isotretinoin",
    "keloid",
    "autoimmune",
    "pregnan",
    "breastfeeding",
    "screening",
]


def field_errors(response, name: str) -> str:
    html = response.content.decode()
    match = re.search(rf'<ul class="field-errors" id="id_{name}_errors">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""


def edit_url(patient, **query) -> str:
    url = reverse("patients:edit", kwargs={"uuid": patient.uuid})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def screening_url(patient) -> str:
    return reverse("patients:screening_edit", kwargs={"uuid": patient.uuid})


def contact_post(patient, **overrides) -> dict:
    data = {
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "email": patient.email,
        "phone": patient.phone,
        "preferred_channel": patient.preferred_channel,
        "consent_to_contact": "on" if patient.consent_to_contact else "",
        "language": patient.language,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v not in (None, "")}


def screening_post(**overrides) -> dict:
    data = {"fitzpatrick_type": "3", "allergies": "", "current_medications": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def patient(clinic_a):
    return PatientFactory(
        clinic=clinic_a,
        first_name="Mina",
        last_name="Park",
        date_of_birth=date(1990, 4, 2),
        email="mina@example.com",
        phone="+821012345678",
        current_medications="Warfarin 5 mg",
        on_isotretinoin=True,
    )


# --- the front desk edits contact details --------------------------------------------------


def test_the_front_desk_edit_page_shows_no_clinical_field(front_desk_client, patient):
    response = front_desk_client.get(edit_url(patient))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="phone"' in html and 'value="+821012345678"' in html
    for word in CLINICAL_WORDS:
        assert word.lower() not in html.lower(), word
    assert "Warfarin" not in html
    assert PatientAccess.objects.filter(patient=patient, action="edit_view").exists()


def test_the_front_desk_changes_the_phone_and_it_is_stored_like_registration(
    front_desk_client, front_desk_a, patient
):
    response = front_desk_client.post(
        edit_url(patient), contact_post(patient, phone="010-9876-5432", language="ko")
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("patients:detail", kwargs={"uuid": patient.uuid})
    patient.refresh_from_db()
    assert (patient.phone, patient.language) == ("+821098765432", "ko")
    latest = patient.history.first()
    assert latest.history_user == front_desk_a
    # The front desk's save confirms no screening fact (it never saw them).
    assert not patient.fact_confirmations.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"date_of_birth": "2999-01-01"}, "date_of_birth", "future"),
        ({"date_of_birth": "31/31/1990"}, "date_of_birth", "valid date"),
        ({"date_of_birth": "1850-01-01"}, "date_of_birth", "1900"),
        ({"phone": "12"}, "phone", ""),
        ({"email": "not-an-email"}, "email", "email"),
        ({"email": ""}, "email", "preferred channel"),
        ({"first_name": ""}, "first_name", "required"),
    ],
)
def test_bad_input_is_refused_beside_its_field_and_nothing_changes(
    front_desk_client, patient, overrides, field, words
):
    versions = patient.history.count()
    response = front_desk_client.post(edit_url(patient), contact_post(patient, **overrides))
    assert response.status_code == 200  # the form again, as registration answers
    errors = field_errors(response, field)
    assert errors and words.lower() in errors.lower(), errors
    assert patient.history.count() == versions


def test_a_repeated_save_records_one_change_not_two(front_desk_client, patient):
    versions = patient.history.count()
    data = contact_post(patient, last_name="Park-Lee")
    assert front_desk_client.post(edit_url(patient), data).status_code == 302
    assert front_desk_client.post(edit_url(patient), data).status_code == 302
    assert patient.history.count() == versions + 1


def test_a_save_without_changes_says_so_and_writes_no_history(front_desk_client, patient):
    versions = patient.history.count()
    response = front_desk_client.post(edit_url(patient), contact_post(patient), follow=True)
    assert "Nothing changed" in response.content.decode()
    assert patient.history.count() == versions


def test_a_phone_of_another_patient_warns_before_saving(front_desk_client, clinic_a, patient):
    other = PatientFactory(clinic=clinic_a, first_name="Jun", phone="+821055550000")
    data = contact_post(patient, phone="010 5555 0000")
    response = front_desk_client.post(edit_url(patient), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="possible-duplicates"' in html and str(other.uuid) in html
    patient.refresh_from_db()
    assert patient.phone == "+821012345678"
    # Looked, and it is a different person (a shared family phone): save anyway.
    response = front_desk_client.post(edit_url(patient), data | {"save_anyway": "1"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.phone == "+821055550000"


def test_withdrawing_consent_clears_its_time_and_giving_it_again_records_a_new_one(
    front_desk_client, patient
):
    patient.refresh_from_db()
    assert patient.consent_recorded_at is not None
    front_desk_client.post(edit_url(patient), contact_post(patient, consent_to_contact=""))
    patient.refresh_from_db()
    assert patient.consent_to_contact is False and patient.consent_recorded_at is None
    front_desk_client.post(edit_url(patient), contact_post(patient, consent_to_contact="on"))
    patient.refresh_from_db()
    assert patient.consent_to_contact is True
    assert timezone.now() - patient.consent_recorded_at < timedelta(minutes=1)


def test_from_the_chart_the_edit_returns_to_the_chart(practitioner_client, patient):
    response = practitioner_client.post(
        edit_url(patient, **{"from": "chart"}), contact_post(patient, first_name="Minah")
    )
    assert response["Location"] == reverse("clinical:chart", kwargs={"uuid": patient.uuid})


def test_the_edit_never_returns_to_another_site(front_desk_client, patient):
    url = edit_url(patient, next="https://evil.example/")
    response = front_desk_client.post(url, contact_post(patient, first_name="Minah"))
    assert response["Location"] == reverse("patients:detail", kwargs={"uuid": patient.uuid})


def test_the_patient_page_and_the_chart_link_the_edit_page(
    front_desk_client, practitioner_client, patient
):
    assert (
        edit_url(patient)
        in front_desk_client.get(
            reverse("patients:detail", kwargs={"uuid": patient.uuid})
        ).content.decode()
    )
    chart = practitioner_client.get(reverse("clinical:chart", kwargs={"uuid": patient.uuid}))
    html = chart.content.decode()
    assert edit_url(patient) + "?from=chart" in html
    assert screening_url(patient) in html


# --- clinicians edit the screening facts ---------------------------------------------------


def test_the_front_desk_may_not_open_the_screening_facts(front_desk_client, patient):
    assert front_desk_client.get(screening_url(patient)).status_code == 403
    response = front_desk_client.post(screening_url(patient), screening_post())
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.on_isotretinoin is True


def test_another_clinics_practitioner_gets_404(outsider_client, patient):
    assert outsider_client.get(screening_url(patient)).status_code == 404
    assert outsider_client.get(edit_url(patient)).status_code == 404


def test_saving_the_screening_facts_changes_them_and_confirms_every_fact(
    practitioner_client, practitioner_a, patient
):
    response = practitioner_client.post(
        screening_url(patient),
        screening_post(
            pregnant_or_breastfeeding="on",
            current_medications="Warfarin 5 mg",  # unchanged, still confirmed
            on_anticoagulants="on",
        ),
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("clinical:chart", kwargs={"uuid": patient.uuid})
    patient.refresh_from_db()
    assert patient.pregnant_or_breastfeeding and patient.on_anticoagulants
    assert patient.on_isotretinoin is False  # unticked on the form
    confirmations = ScreeningFactConfirmation.objects.filter(patient=patient)
    assert {c.fact for c in confirmations} == set(ScreeningFact.values)
    assert {c.confirmed_by for c in confirmations} == {practitioner_a}
    assert screening_facts_stale(patient=patient) == []


def test_confirming_again_moves_the_confirmation_and_adds_no_history_row(
    practitioner_client, patient
):
    practitioner_client.post(screening_url(patient), screening_post(on_isotretinoin="on"))
    versions = patient.history.count()
    first = patient.fact_confirmations.get(fact="on_isotretinoin").confirmed_at
    response = practitioner_client.post(
        screening_url(patient), screening_post(on_isotretinoin="on"), follow=True
    )
    assert "confirmed; nothing changed" in response.content.decode()
    assert patient.history.count() == versions
    assert patient.fact_confirmations.get(fact="on_isotretinoin").confirmed_at > first
    assert patient.fact_confirmations.count() == len(ScreeningFact.values)


def test_bad_fitzpatrick_is_refused_beside_its_field(practitioner_client, patient):
    response = practitioner_client.post(screening_url(patient), {"fitzpatrick_type": "9"})
    assert response.status_code == 200
    assert "valid choice" in field_errors(response, "fitzpatrick_type")
    assert not patient.fact_confirmations.exists()


def test_the_screening_page_returns_to_the_session_form_it_came_from(practitioner_client, patient):
    back = reverse("clinical:session_new", kwargs={"uuid": patient.uuid})
    response = practitioner_client.post(f"{screening_url(patient)}?next={back}", screening_post())
    assert response["Location"] == back


def test_each_fact_shows_when_and_by_whom_it_was_confirmed_in_the_clinic_zone(
    practitioner_client, practitioner_a, patient
):
    practitioner_a.first_name, practitioner_a.last_name = "Min-ji", "Kim"
    practitioner_a.save()
    # 2 Dec 16:00 UTC is already 3 Dec in Seoul.
    ScreeningFactConfirmationFactory(
        patient=patient,
        fact="pregnant_or_breastfeeding",
        confirmed_by=practitioner_a,
        confirmed_at=datetime(2026, 12, 2, 16, 0, tzinfo=UTC),
    )
    for url in (screening_url(patient), reverse("clinical:chart", kwargs={"uuid": patient.uuid})):
        html = practitioner_client.get(url).content.decode()
        assert "confirmed on 3 Dec 2026 by Min-ji Kim" in html, url
        assert "never confirmed" in html  # the other facts


# --- services and selectors ----------------------------------------------------------------


def test_only_clinicians_confirm_facts(front_desk_a, practitioner_a, patient):
    with pytest.raises(NotAllowed):
        screening_facts_confirm(patient=patient, user=front_desk_a, facts=["on_isotretinoin"])
    screening_facts_confirm(patient=patient, user=practitioner_a, facts=["on_isotretinoin"])
    assert patient.fact_confirmations.get().confirmed_by == practitioner_a


def test_facts_older_than_the_limit_or_never_confirmed_are_stale(practitioner_a, patient):
    now = timezone.now()
    old = now - timedelta(days=SCREENING_FACTS_MAX_AGE_DAYS, minutes=1)
    recent = now - timedelta(days=SCREENING_FACTS_MAX_AGE_DAYS - 1)
    ScreeningFactConfirmationFactory(patient=patient, fact="keloid_history", confirmed_at=old)
    ScreeningFactConfirmationFactory(patient=patient, fact="on_isotretinoin", confirmed_at=recent)
    stale = {s.fact for s in screening_facts_stale(patient=patient, now=now)}
    assert "keloid_history" in stale and "pregnant_or_breastfeeding" in stale  # old, never
    assert "on_isotretinoin" not in stale


def test_history_lists_each_change_from_and_to_with_who(practitioner_a, front_desk_a, patient):
    patient_update(patient=patient, user=front_desk_a, changes={"last_name": "Park-Lee"})
    patient_update(
        patient=patient, user=practitioner_a, changes={"pregnant_or_breastfeeding": True}
    )
    entries, older = patient_history(patient=patient)
    assert older is None
    latest, contact, created = entries
    assert latest.user == practitioner_a
    assert [(c.label, c.old, c.new) for c in latest.changes] == [
        ("Pregnant or breastfeeding", "No", "Yes")
    ]
    assert [(c.label, c.old, c.new) for c in contact.changes] == [("Last name", "Park", "Park-Lee")]
    assert created.created


def test_history_pages_by_time_and_costs_the_same_queries(
    django_assert_num_queries, practitioner_a, patient
):
    for n in range(5):
        patient_update(patient=patient, user=practitioner_a, changes={"allergies": f"a{n}"})
    with django_assert_num_queries(1):
        first, older = patient_history(patient=patient, limit=3)
    assert [c.new for e in first for c in e.changes] == ["a4", "a3", "a2"]
    second, older = patient_history(patient=patient, before=older, limit=3)
    assert [c.new for e in second for c in e.changes] == ["a1", "a0"]
    assert second[-1].created and older is None


def test_the_chart_shows_the_history_and_a_bad_cursor_is_the_first_page(
    practitioner_client, practitioner_a, patient
):
    patient_update(patient=patient, user=practitioner_a, changes={"on_isotretinoin": False})
    url = reverse("clinical:chart", kwargs={"uuid": patient.uuid})
    for query in ("", "?history_before=2026-13-45T99:00:00", "?history_before=nonsense"):
        response = practitioner_client.get(url + query)
        assert response.status_code == 200
        html = response.content.decode()
        assert "Isotretinoin now or in the last 6 months: Yes → No" in html
