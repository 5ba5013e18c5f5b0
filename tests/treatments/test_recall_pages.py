"""The lot page's quarantine, release and recall buttons, and the recall page: who received
the lot, whether the notice reached them, "message all" (once per patient), the CSV."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse

from patients.models import MessageKind, MessageState, OutboxMessage, Patient, PatientAccess
from tests.factories import PatientFactory
from tests.kit.queries import assert_constant_queries
from tests.kit.recall_world import recalled_lot
from tests.kit.world import logged_session, released_lot
from treatments.models import LotStatus, ProductLot, Recall, RecallNotice
from treatments.recalls import recall_notice_acknowledge

pytestmark = pytest.mark.django_db


def field_errors(response, name: str) -> str:
    html = response.content.decode()
    match = re.search(rf'<ul class="field-errors" id="id_{name}_errors">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""


@pytest.fixture
def lot(clinic_a):
    return released_lot(clinic_a, lot_number="EXO-55")


def lot_url(lot, name="treatments:lot"):
    return reverse(name, kwargs={"uuid": lot.uuid})


# --- the lot page ----------------------------------------------------------------------------


def test_the_safety_lead_sees_quarantine_and_recall_on_a_released_lot(safety_lead_client, lot):
    html = safety_lead_client.get(lot_url(lot)).content.decode()
    assert "Quarantine lot EXO-55" in html and "Recall lot EXO-55" in html
    assert "Release lot" not in html


def test_a_practitioner_reads_the_lot_page_without_the_buttons(practitioner_client, lot):
    html = practitioner_client.get(lot_url(lot)).content.decode()
    assert "Quarantine lot" not in html and "Recall lot" not in html


def test_quarantining_from_the_lot_page_holds_the_lot_and_offers_release(safety_lead_client, lot):
    response = safety_lead_client.post(
        lot_url(lot, "treatments:lot_quarantine"),
        {"quarantine-reason": "Freezer alarm", "confirm": "yes"},
    )
    assert response.status_code == 302
    lot.refresh_from_db()
    assert lot.status == LotStatus.QUARANTINED and lot.status_reason == "Freezer alarm"
    html = safety_lead_client.get(lot_url(lot)).content.decode()
    assert "Quarantined" in html and "Freezer alarm" in html
    assert "Release lot EXO-55" in html and "Quarantine lot" not in html


def test_quarantine_without_a_reason_is_refused_next_to_the_reason(safety_lead_client, lot):
    response = safety_lead_client.post(lot_url(lot, "treatments:lot_quarantine"), {})
    assert response.status_code == 400
    assert "Say why" in field_errors(response, "quarantine-reason")
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED


def test_a_reason_too_long_is_refused_not_a_500(safety_lead_client, lot):
    response = safety_lead_client.post(
        lot_url(lot, "treatments:lot_recall"), {"recall-reason": "x" * 1001}
    )
    assert response.status_code == 400
    assert "at most 1000" in field_errors(response, "recall-reason")
    assert not Recall.objects.exists()


def test_releasing_a_lot_that_is_already_released_says_so(safety_lead_client, lot):
    response = safety_lead_client.post(lot_url(lot, "treatments:lot_release"), {})
    assert response.status_code == 409
    assert "cannot be released now" in response.content.decode()


def test_recalling_from_the_lot_page_opens_the_recall_page(
    safety_lead_client, lot, practitioner_a, clinic_a
):
    logged_session(practitioner_a, lot=lot)
    response = safety_lead_client.post(
        lot_url(lot, "treatments:lot_recall"),
        {"recall-reason": "Endotoxin above limit", "confirm": "yes"},
    )
    recall = Recall.objects.get(lot=lot)
    assert response["Location"] == reverse("treatments:recall", kwargs={"uuid": recall.uuid})
    html = safety_lead_client.get(lot_url(lot)).content.decode()
    assert "Recalled" in html and "Recall lot" not in html and "Release lot" not in html
    assert reverse("treatments:recall", kwargs={"uuid": recall.uuid}) in html


def test_quarantine_asks_first_with_the_reason_kept(safety_lead_client, lot):
    response = safety_lead_client.post(
        lot_url(lot, "treatments:lot_quarantine"), {"quarantine-reason": "Freezer alarm"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Quarantine lot EXO-55?" in html
    assert "no session can record lot EXO-55 until it is released" in html
    assert "Freezer alarm</textarea>" in html and 'name="confirm" value="yes"' in html
    assert "Keep the lot as it is" in html
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.RELEASED


def test_recall_asks_first_and_counts_the_patients_who_will_get_a_notice(
    safety_lead_client, lot, practitioner_a, clinic_a
):
    for patient in PatientFactory.create_batch(2, clinic=clinic_a):
        logged_session(practitioner_a, lot=lot, patient=patient)
    response = safety_lead_client.post(
        lot_url(lot, "treatments:lot_recall"), {"recall-reason": "Endotoxin above limit"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Recall lot EXO-55?" in html
    assert "2 patients received it and will be listed for a recall notice." in html
    assert not Recall.objects.exists()
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.RELEASED


@pytest.mark.parametrize("action", ["lot_quarantine", "lot_release", "lot_recall"])
def test_only_the_safety_lead_acts(practitioner_client, front_desk_client, lot, action):
    for client in (practitioner_client, front_desk_client):
        assert (
            client.post(lot_url(lot, f"treatments:{action}"), {"x-reason": "no"}).status_code == 403
        )
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.RELEASED


def test_another_clinics_safety_lead_gets_404(client_as, clinic_b, lot):
    from tests.conftest import _staff

    other_lead = _staff("lead_b", clinic_b, "safety_lead")
    response = client_as(other_lead).post(
        lot_url(lot, "treatments:lot_quarantine"), {"quarantine-reason": "Not mine"}
    )
    assert response.status_code == 404
    assert ProductLot.objects.get(pk=lot.pk).status == LotStatus.RELEASED


# --- the recall page -------------------------------------------------------------------------


@pytest.fixture
def world(practitioner_a, safety_lead_a):
    return recalled_lot(practitioner_a, safety_lead_a)


def recall_url(world, name="treatments:recall"):
    return reverse(name, kwargs={"uuid": world.recall.uuid})


def test_the_recall_page_lists_every_patient_with_contact_details(safety_lead_client, world):
    html = safety_lead_client.get(recall_url(world)).content.decode()
    for key in ("mina", "joon", "ara"):
        p = world.patients[key]
        assert f"{p.last_name}, {p.first_name}" in html
        assert p.phone in html
    assert world.patients["mina"].email in html
    assert "no consent to messages" in html
    assert html.count('class="recall-row') == 3
    assert "Message all" in html


def test_listing_the_patients_is_recorded_as_a_read_of_each_record(
    practitioner_client, practitioner_a, world
):
    practitioner_client.get(recall_url(world))
    readers = PatientAccess.objects.filter(user=practitioner_a, action="recall_list")
    assert {a.patient_id for a in readers} == {p.pk for p in world.patients.values()}


def test_message_all_twice_from_the_page_sends_one_notice_per_patient(safety_lead_client, world):
    first = safety_lead_client.post(recall_url(world, "treatments:recall_message"))
    assert first.status_code == 200
    assert "2 recall notice(s) queued; 1 patient(s) given to the front desk" in (
        first.content.decode()
    )
    second = safety_lead_client.post(recall_url(world, "treatments:recall_message"))
    assert "messaged already: nothing sent" in second.content.decode()
    assert OutboxMessage.objects.filter(kind=MessageKind.RECALL).count() == 2
    html = second.content.decode()
    assert html.count("Queued") >= 2 and "No way to message: call" in html


def test_the_page_shows_who_was_reached_and_who_acknowledged(safety_lead_client, world):
    safety_lead_client.post(recall_url(world, "treatments:recall_message"))
    mina, joon = world.notice("mina"), world.notice("joon")
    OutboxMessage.objects.filter(pk=joon.message_id).update(state=MessageState.FAILED)
    recall_notice_acknowledge(notice=mina)
    html = safety_lead_client.get(recall_url(world)).content.decode()
    rows = dict(re.findall(r'recall-row recall-(\w+)">\s*<td><a [^>]*>([^<]+)</a>', html))
    assert rows == {"acknowledged": "Park, Mina", "failed": "Kim, Joon", "call": "Lee, Ara"}


def test_a_practitioner_reads_the_recall_but_cannot_message(practitioner_client, world):
    html = practitioner_client.get(recall_url(world)).content.decode()
    assert "Park, Mina" in html and "Message all" not in html
    response = practitioner_client.post(recall_url(world, "treatments:recall_message"))
    assert response.status_code == 403
    assert not OutboxMessage.objects.filter(kind=MessageKind.RECALL).exists()


def test_the_front_desk_and_another_clinic_cannot_open_the_recall(
    front_desk_client, outsider_client, world
):
    assert front_desk_client.get(recall_url(world)).status_code == 403
    assert outsider_client.get(recall_url(world)).status_code == 404
    assert outsider_client.get(recall_url(world, "treatments:recall_csv")).status_code == 404


def test_the_csv_has_a_row_per_patient_with_contact_and_status(safety_lead_client, world):
    safety_lead_client.post(recall_url(world, "treatments:recall_message"))
    recall_notice_acknowledge(notice=world.notice("mina"))
    response = safety_lead_client.get(recall_url(world, "treatments:recall_csv"))
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="recall-EXO-RC-9.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_name = {r["first name"]: r for r in rows}
    assert set(by_name) == {"Mina", "Joon", "Ara"}
    assert by_name["Mina"]["email"] == world.patients["mina"].email
    assert by_name["Mina"]["status"] == "Acknowledged"
    assert len(by_name["Mina"]["sessions with the lot (Asia/Seoul)"].split()) == 2
    assert by_name["Joon"]["status"] == "Queued"
    assert by_name["Ara"]["status"] == "No way to message: call"
    assert by_name["Ara"]["consent to contact"] == "no"


def test_a_formula_in_a_name_is_neutralised_in_the_csv(safety_lead_client, world):
    Patient.objects.filter(pk=world.patients["mina"].pk).update(last_name="=HYPERLINK(1)")
    response = safety_lead_client.get(recall_url(world, "treatments:recall_csv"))
    assert "'=HYPERLINK(1)" in b"".join(response.streaming_content).decode()


def test_a_name_starting_with_a_tab_or_carriage_return_is_neutralised_in_the_csv(
    safety_lead_client, world
):
    Patient.objects.filter(pk=world.patients["mina"].pk).update(last_name="\t=HYPERLINK(1)")
    Patient.objects.filter(pk=world.patients["joon"].pk).update(last_name="\r@SUM(2)")
    response = safety_lead_client.get(recall_url(world, "treatments:recall_csv"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_name = {r["first name"]: r["last name"] for r in rows}
    assert by_name["Mina"] == "'\t=HYPERLINK(1)"
    assert by_name["Joon"] == "'\r@SUM(2)"


def test_the_recall_page_costs_the_same_queries_with_many_patients(
    safety_lead_client, practitioner_a, world
):
    recall = world.recall

    def grow(n: int) -> None:
        for _ in range(n):
            patient = PatientFactory(clinic=recall.lot.product.clinic)
            session = logged_session(
                practitioner_a, patient=patient, screening_override_reason="Ok."
            )
            notice = RecallNotice.objects.create(recall=recall, patient=patient)
            notice.sessions.add(session)

    assert_constant_queries(safety_lead_client, recall_url(world), grow, expected=EXPECTED_QUERIES)


# Session, user, device, roles; the recall; its notices with patient, message and call task;
# their sessions (one prefetch); the access rows (one insert); can-manage; the session save.
EXPECTED_QUERIES = 12
