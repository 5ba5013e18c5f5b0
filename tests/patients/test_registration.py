"""Registering and finding patients, and the front desk's calls list."""

from __future__ import annotations

from django.urls import reverse

from patients.models import CallState, Patient, PatientAccess
from tests.factories import CallTaskFactory, PatientFactory
from tests.kit.queries import assert_constant_queries

REGISTER = "patients:register"


def _form(clinic, **extra):
    return {
        "clinic": clinic.pk,
        "first_name": "Min-ji",
        "last_name": "Kim",
        "date_of_birth": "1990-04-12",
        "email": "minji@example.com",
        "phone": "+82 10 1234 5678",
        "preferred_channel": "sms",
        "consent_to_contact": "on",
        "language": "ko",
        "fitzpatrick_type": "",
    } | extra


def test_the_front_desk_registers_a_patient(front_desk_client, clinic_a):
    response = front_desk_client.post(reverse(REGISTER), _form(clinic_a))
    patient = Patient.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("patients:detail", kwargs={"uuid": patient.uuid})
    assert (patient.clinic, patient.preferred_channel, patient.language) == (clinic_a, "sms", "ko")
    assert patient.consent_to_contact and patient.consent_recorded_at is not None
    assert patient.fitzpatrick_type is None


def test_a_likely_duplicate_is_shown_before_a_second_record_is_made(front_desk_client, clinic_a):
    """GIVEN Min-ji Kim born 1990-04-12 WHEN " MIN JI  kim" with that birth date is registered
    THEN the existing record is shown and nothing is created until "create anyway"."""
    existing = PatientFactory(
        clinic=clinic_a, first_name="Min-ji", last_name="Kim", date_of_birth="1990-04-12"
    )
    data = _form(
        clinic_a, first_name=" MIN JI ", last_name="kim", email="other@example.com", phone=""
    )
    data["preferred_channel"] = "email"
    response = front_desk_client.post(reverse(REGISTER), data)
    assert response.status_code == 200
    assert Patient.objects.count() == 1
    body = response.content.decode()
    assert "already registered" in body
    assert reverse("patients:detail", kwargs={"uuid": existing.uuid}) in body
    assert 'value=" MIN JI "' in body  # what was typed is kept
    response = front_desk_client.post(reverse(REGISTER), data | {"create_anyway": "1"})
    assert response.status_code == 302
    assert Patient.objects.count() == 2


def test_the_same_phone_or_email_counts_as_a_likely_duplicate(front_desk_client, clinic_a):
    PatientFactory(clinic=clinic_a, phone="+82-10-1234-5678", email="x@example.com")
    response = front_desk_client.post(reverse(REGISTER), _form(clinic_a, first_name="Other"))
    assert "already registered" in response.content.decode()
    PatientFactory(clinic=clinic_a, phone="", email="MINJI@example.com")
    response = front_desk_client.post(
        reverse(REGISTER), _form(clinic_a, first_name="Other", phone="+1 212 555 0123")
    )
    assert "already registered" in response.content.decode()
    assert Patient.objects.count() == 2


def test_a_patient_of_another_clinic_is_not_a_duplicate(front_desk_client, clinic_a, clinic_b):
    PatientFactory(
        clinic=clinic_b, first_name="Min-ji", last_name="Kim", date_of_birth="1990-04-12"
    )
    response = front_desk_client.post(reverse(REGISTER), _form(clinic_a))
    assert response.status_code == 302


def test_bad_input_is_shown_next_to_each_field(front_desk_client, clinic_a):
    data = _form(clinic_a, date_of_birth="2999-01-01", phone="", email="not-an-email")
    response = front_desk_client.post(reverse(REGISTER), data)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="id_date_of_birth_errors"' in body and "cannot be in the future" in body
    assert 'aria-describedby="id_date_of_birth_errors"' in body
    assert 'id="id_email_errors"' in body
    assert "SMS is the preferred channel: give a mobile number." in body
    assert not Patient.objects.exists()


def test_search_finds_only_the_user_s_clinic_s_patients(front_desk_client, clinic_a, clinic_b):
    mine = PatientFactory(clinic=clinic_a, first_name="Seo-yeon", last_name="Park")
    PatientFactory(clinic=clinic_b, first_name="Seo-yeon", last_name="Park")
    response = front_desk_client.get(reverse("patients:search"), {"q": "park"})
    body = response.content.decode()
    assert body.count("Park, Seo-yeon") == 1
    assert reverse("patients:detail", kwargs={"uuid": mine.uuid}) in body


def test_an_empty_search_lists_the_clinic_s_patients(front_desk_client, clinic_a, clinic_b):
    mine = PatientFactory(clinic=clinic_a, first_name="Seo-yeon", last_name="Park")
    theirs = PatientFactory(clinic=clinic_b)
    body = front_desk_client.get(reverse("patients:search")).content.decode()
    assert reverse("patients:detail", kwargs={"uuid": mine.uuid}) in body
    assert reverse("patients:detail", kwargs={"uuid": theirs.uuid}) not in body


def test_opening_a_patient_is_logged(front_desk_client, front_desk_a, clinic_a):
    patient = PatientFactory(clinic=clinic_a, screening_notes="CLINICAL NOTE")
    response = front_desk_client.get(reverse("patients:detail", kwargs={"uuid": patient.uuid}))
    assert "CLINICAL NOTE" not in response.content.decode()
    assert PatientAccess.objects.filter(patient=patient, user=front_desk_a, action="view").exists()


def test_the_calls_list_shows_open_calls_and_marks_one_done(
    front_desk_client, front_desk_a, clinic_a, clinic_b
):
    task = CallTaskFactory(clinic=clinic_a)
    CallTaskFactory(clinic=clinic_b)
    response = front_desk_client.get(reverse("patients:calls"))
    body = response.content.decode()
    assert task.patient.last_name in body and task.patient.phone in body
    assert "Check-in unanswered" in body
    assert body.count("Mark done") == 1
    url = reverse("patients:call_done", kwargs={"uuid": task.uuid})
    response = front_desk_client.post(url, {f"{task.uuid}-outcome": ""})
    assert response.status_code == 400
    assert f'id="id_{task.uuid}-outcome_errors"' in response.content.decode()
    response = front_desk_client.post(url, {f"{task.uuid}-outcome": "Reached; all fine."})
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.state, task.outcome, task.done_by) == (
        CallState.DONE,
        "Reached; all fine.",
        front_desk_a,
    )


def test_a_call_of_another_clinic_cannot_be_closed(outsider_client, clinic_a):
    task = CallTaskFactory(clinic=clinic_a)
    url = reverse("patients:call_done", kwargs={"uuid": task.uuid})
    assert outsider_client.post(url, {f"{task.uuid}-outcome": "x"}).status_code == 404


def test_the_calls_list_costs_the_same_queries_at_any_size(front_desk_client, clinic_a):
    assert_constant_queries(
        front_desk_client,
        reverse("patients:calls"),
        lambda n: [CallTaskFactory(clinic=clinic_a) for _ in range(n)],
        expected=8,
    )


def test_search_results_cost_the_same_queries_at_any_size(front_desk_client, clinic_a):
    assert_constant_queries(
        front_desk_client,
        reverse("patients:search") + "?q=lee",
        lambda n: [PatientFactory(clinic=clinic_a, last_name="Lee") for _ in range(n)],
        expected=10,
    )
