"""Acting on a lot: quarantine, release and recall (services), the block they put on every
way a session can be logged, and a recall reaching every patient who received the lot."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from clinic.core.exceptions import ClinicError, Conflict, RuleViolation
from clinic.workflows import session_log
from patients import outbox
from patients.links import link_resolve
from patients.models import (
    CallReason,
    CallTask,
    Channel,
    LinkPurpose,
    MessageKind,
    MessageState,
    OutboxMessage,
)
from tests.factories import PatientFactory
from tests.kit.world import default_plan, logged_session, released_lot
from tests.requirements import require_postgres
from treatments import recalls
from treatments.models import (
    DeliveryMethod,
    LotStatus,
    ProductLot,
    Recall,
    RecallNotice,
    TreatmentSession,
)
from treatments.services import (
    lot_quarantine,
    lot_recall,
    lot_release,
    session_mark_entered_in_error,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lot(clinic_a):
    default_plan(clinic_a)
    return released_lot(clinic_a, quantity=30, lot_number="EXO-77")


# --- transitions ---------------------------------------------------------------------------


def test_quarantine_needs_a_reason_named_on_its_field(lot, safety_lead_a):
    with pytest.raises(RuleViolation) as caught:
        lot_quarantine(lot=lot, user=safety_lead_a, reason="   ")
    assert caught.value.field == "reason"
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED


def test_recall_needs_a_reason_named_on_its_field(lot, safety_lead_a):
    with pytest.raises(RuleViolation) as caught:
        lot_recall(lot=lot, user=safety_lead_a, reason="")
    assert caught.value.field == "reason"
    assert not Recall.objects.exists()


def test_quarantine_then_release_keeps_who_and_why_in_the_history(lot, safety_lead_a):
    lot_quarantine(lot=lot, user=safety_lead_a, reason="Freezer alarm overnight")
    lot.refresh_from_db()
    assert lot.status == LotStatus.QUARANTINED
    assert lot.status_reason == "Freezer alarm overnight"
    assert lot.status_changed_by == safety_lead_a and lot.status_changed_at is not None
    lot_release(lot=lot, user=safety_lead_a, reason="Temperature log checked: fine")
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED
    records = list(lot.history.order_by("history_date", "pk"))
    assert [r.status for r in records] == ["released", "quarantined", "released"]
    assert records[1].history_user == safety_lead_a
    assert records[1].history_change_reason == "Freezer alarm overnight"
    assert records[2].history_change_reason == "Temperature log checked: fine"


@pytest.mark.parametrize(
    ("start", "action"),
    [
        (LotStatus.QUARANTINED, "quarantine"),  # already held
        (LotStatus.RELEASED, "release"),  # nothing to release
        (LotStatus.RECALLED, "quarantine"),  # recalled is final
        (LotStatus.RECALLED, "release"),
        (LotStatus.RECALLED, "recall"),
    ],
)
def test_a_move_the_status_does_not_allow_is_refused_and_changes_nothing(
    lot, safety_lead_a, start, action
):
    ProductLot.objects.filter(pk=lot.pk).update(status=start, status_reason="earlier")
    lot.refresh_from_db()
    history_before = lot.history.count()
    services = {"quarantine": lot_quarantine, "release": lot_release, "recall": lot_recall}
    with pytest.raises(Conflict) as caught:
        services[action](lot=lot, user=safety_lead_a, reason="again")
    assert caught.value.field == "status"
    lot.refresh_from_db()
    assert lot.status == start and lot.status_reason == "earlier"
    assert lot.history.count() == history_before
    assert not Recall.objects.exists()


def test_a_quarantined_lot_can_be_recalled(lot, safety_lead_a):
    lot_quarantine(lot=lot, user=safety_lead_a, reason="Two infections reported")
    recall = lot_recall(lot=lot, user=safety_lead_a, reason="Sterility test failed")
    lot.refresh_from_db()
    assert lot.status == LotStatus.RECALLED and lot.status_reason == "Sterility test failed"
    assert recall.recalled_by == safety_lead_a and recall.reason == "Sterility test failed"


def test_a_second_click_on_a_stale_page_does_not_apply_twice(lot, safety_lead_a):
    """GIVEN two copies of the same lot (two tabs) WHEN both quarantine it THEN the first
    wins, the second is told, and the history has one quarantine."""
    tab_one, tab_two = (ProductLot.objects.get(pk=lot.pk) for _ in range(2))
    lot_quarantine(lot=tab_one, user=safety_lead_a, reason="First")
    with pytest.raises(Conflict):
        lot_quarantine(lot=tab_two, user=safety_lead_a, reason="Second")
    lot.refresh_from_db()
    assert lot.status_reason == "First"
    assert lot.history.filter(status=LotStatus.QUARANTINED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_recalls_at_the_same_moment_make_one_recall(clinic_a, safety_lead_a):
    """GIVEN one lot WHEN two recalls start at the same instant on PostgreSQL THEN one
    applies, the other is refused, and there is one recall."""
    require_postgres()
    lot = released_lot(clinic_a)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def click(reason: str) -> None:
        try:
            start.wait()
            lot_recall(lot=ProductLot.objects.get(pk=lot.pk), user=safety_lead_a, reason=reason)
            outcomes.append("recalled")
        except ClinicError:
            outcomes.append("refused")
        finally:
            connection.close()  # the thread's own connection, so the test database can go

    threads = [threading.Thread(target=click, args=(r,)) for r in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["recalled", "refused"]
    assert Recall.objects.filter(lot=lot).count() == 1


# --- the block, wherever a session can be logged ---------------------------------------------


def _session_kwargs(practitioner, patient, lot):
    return {
        "practitioner": practitioner,
        "patient": patient,
        "lot": lot,
        "delivery_method": DeliveryMethod.MICRONEEDLING,
        "needle_depth_mm": Decimal("0.50"),
        "treated_areas": ["cheeks"],
        "units_used": 1,
        "warnings_acknowledged": True,
    }


@pytest.mark.parametrize("action", ["quarantine", "recall"])
def test_the_workflow_refuses_a_held_lot_at_once(
    lot, clinic_a, practitioner_a, safety_lead_a, action
):
    patient = PatientFactory(clinic=clinic_a)
    stale = ProductLot.objects.get(pk=lot.pk)  # loaded before the hold, as a form would have
    (lot_quarantine if action == "quarantine" else lot_recall)(
        lot=lot, user=safety_lead_a, reason="Sterility doubt"
    )
    with pytest.raises(RuleViolation) as caught:
        session_log(**_session_kwargs(practitioner_a, patient, stale))
    assert caught.value.field == "lot"
    assert "Sterility doubt" in caught.value.message
    assert not TreatmentSession.objects.filter(patient=patient).exists()
    stale.refresh_from_db()
    assert stale.quantity_on_hand == 30


def _field_errors(response, name: str) -> str:
    html = response.content.decode()
    match = re.search(rf'<ul class="field-errors" id="id_{name}_errors">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""


def test_the_session_page_refuses_a_quarantined_lot_next_to_the_lot_field_and_stops_offering_it(
    lot, clinic_a, practitioner_client, safety_lead_a
):
    patient = PatientFactory(clinic=clinic_a)
    url = reverse("clinical:session_new", kwargs={"uuid": patient.uuid})
    assert "EXO-77" in practitioner_client.get(url).content.decode()  # offered while released
    lot_quarantine(lot=lot, user=safety_lead_a, reason="Cold chain broken")
    page = practitioner_client.get(url).content.decode()
    assert 'value="EXO-77"' not in page  # no longer suggested under the lot field
    response = practitioner_client.post(
        url,
        {
            "delivery_method": "microneedling",
            "needle_depth_mm": "0.75",
            "treated_areas": ["cheeks"],
            "lot": "EXO-77",
            "units_used": "1",
            "aftercare_given": "on",
        },
    )
    assert "Lot EXO-77 is quarantined: Cold chain broken" in _field_errors(response, "lot")
    assert not TreatmentSession.objects.filter(patient=patient).exists()


def test_the_api_refuses_a_recalled_lot_on_the_lot_field(
    lot, clinic_a, practitioner_client, safety_lead_a
):
    patient = PatientFactory(clinic=clinic_a)
    lot_recall(lot=lot, user=safety_lead_a, reason="Endotoxin above limit")
    response = practitioner_client.post(
        "/api/v1/sessions/",
        {
            "patient": str(patient.uuid),
            "lot": str(lot.uuid),
            "delivery_method": "microneedling",
            "needle_depth_mm": "0.50",
            "treated_areas": ["cheeks"],
            "warnings_acknowledged": True,
        },
        content_type="application/json",
    )
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert "lot" in error["fields"]
    assert "recalled: Endotoxin above limit" in str(error)
    assert not TreatmentSession.objects.filter(patient=patient).exists()


def test_a_released_lot_can_be_used_again(lot, clinic_a, practitioner_a, safety_lead_a):
    lot_quarantine(lot=lot, user=safety_lead_a, reason="Check")
    lot_release(lot=lot, user=safety_lead_a)
    session = logged_session(practitioner_a, lot=ProductLot.objects.get(pk=lot.pk))
    assert session.lot_id == lot.pk


# --- recall: every patient who received the lot ---------------------------------------------


@pytest.fixture
def recalled(lot, clinic_a, practitioner_a, safety_lead_a):
    """Four patients received the lot: Mina twice (one notice with two sessions), Joon by
    SMS, Ara without consent to be contacted; Ben's session was entered in error."""
    mina = PatientFactory(clinic=clinic_a, first_name="Mina", last_name="Park")
    joon = PatientFactory(
        clinic=clinic_a, first_name="Joon", last_name="Kim", preferred_channel=Channel.SMS
    )
    ara = PatientFactory(
        clinic=clinic_a, first_name="Ara", last_name="Lee", consent_to_contact=False
    )
    ben = PatientFactory(clinic=clinic_a, first_name="Ben", last_name="Cho")
    for patient in (mina, mina, joon, ara, ben):
        session = logged_session(
            practitioner_a, patient=patient, lot=lot, screening_override_reason="Reviewed."
        )
    session_mark_entered_in_error(session=session, user=practitioner_a, reason="Wrong patient")
    other_lot = released_lot(clinic_a)
    logged_session(practitioner_a, lot=other_lot)  # not on this lot: not on the recall
    recall = lot_recall(lot=lot, user=safety_lead_a, reason="Sterility test failed")
    return recall, {"mina": mina, "joon": joon, "ara": ara, "ben": ben}


def test_a_recall_lists_every_patient_who_received_the_lot_once_with_their_sessions(recalled):
    recall, people = recalled
    notices = {n.patient.first_name: n for n in recalls.recall_notices(recall)}
    assert set(notices) == {"Mina", "Joon", "Ara"}  # not Ben (in error), not the other lot
    assert notices["Mina"].sessions.count() == 2
    assert notices["Joon"].sessions.count() == 1


def test_message_all_twice_sends_one_message_per_patient(recalled, safety_lead_a):
    recall, people = recalled
    first = recalls.recall_message_all(recall=recall, user=safety_lead_a)
    second = recalls.recall_message_all(recall=recall, user=safety_lead_a)
    assert (first.queued, first.calls) == (2, 1)
    assert (second.queued, second.calls) == (0, 0)
    messages = OutboxMessage.objects.filter(kind=MessageKind.RECALL)
    assert sorted(m.patient.first_name for m in messages) == ["Joon", "Mina"]
    assert messages.get(patient=people["joon"]).channel == Channel.SMS
    # Ara cannot be messaged: one front-desk call, whatever the clicks.
    calls = CallTask.objects.filter(reason=CallReason.RECALL)
    assert [c.patient for c in calls] == [people["ara"]]
    assert RecallNotice.objects.get(patient=people["ara"]).call_task == calls[0]
    recall.refresh_from_db()
    assert recall.messaged_at is not None


def _deliver_all() -> list[str]:
    claim = outbox.outbox_claim_due()
    assert claim is not None
    return [outbox.outbox_deliver(message_id=i, claim_token=claim.token) for i in claim.message_ids]


def test_the_notice_carries_a_working_recall_link_and_reaching_is_recorded(
    recalled, safety_lead_a, mailoutbox
):
    recall, people = recalled
    recalls.recall_message_all(recall=recall, user=safety_lead_a)
    _deliver_all()
    mina = RecallNotice.objects.get(patient=people["mina"])
    assert mina.reached_at is not None
    assert recalls.reach_status(mina)[0] == "reached"
    email = next(m for m in mailoutbox if "important notice" in m.subject)
    assert email.to == [people["mina"].email]
    assert "EXO-77" in email.body and "recalled" in email.body
    token = re.search(r"/r/([^/\s]+)/", email.body).group(1)
    link = link_resolve(token)
    assert link.purpose == LinkPurpose.RECALL and link == mina.link
    assert recalls.notice_for_link(link) == mina
    # The stored copy never holds the token.
    assert token not in OutboxMessage.objects.get(pk=mina.message_id).body


def test_a_failed_recall_message_becomes_one_call_and_the_page_says_so(recalled, safety_lead_a):
    recall, people = recalled
    recalls.recall_message_all(recall=recall, user=safety_lead_a)
    message = RecallNotice.objects.get(patient=people["mina"]).message
    claim = outbox.outbox_claim_due()
    from patients.sms import PermanentDeliveryError

    class Refusing:
        def render(self, m):
            raise PermanentDeliveryError("mailbox does not exist")

        def on_sent(self, m):
            pass

        def on_failed(self, m):
            recalls.RecallRenderer().on_failed(m)

    outbox.register_renderer(MessageKind.RECALL, Refusing())
    try:
        outbox.outbox_deliver(message_id=message.pk, claim_token=claim.token)
    finally:
        recalls.register_renderers()
    notice = RecallNotice.objects.get(patient=people["mina"])
    assert notice.message.state == MessageState.FAILED
    assert notice.call_task is not None
    assert recalls.reach_status(notice) == ("failed", "Message failed: call")
    recalls.recall_message_all(recall=recall, user=safety_lead_a)  # again: no second call
    assert CallTask.objects.filter(patient=people["mina"]).count() == 1


def test_a_suppressed_recall_message_gets_a_recall_call_on_the_next_message_all(
    recalled, safety_lead_a
):
    recall, people = recalled
    recalls.recall_message_all(recall=recall, user=safety_lead_a)
    outbox.channel_stop_sms(phone=people["joon"].phone)  # Joon replied STOP before delivery
    result = recalls.recall_message_all(recall=recall, user=safety_lead_a)
    assert result.calls == 1
    notice = RecallNotice.objects.get(patient=people["joon"])
    assert notice.call_task.reason == CallReason.RECALL
    assert recalls.reach_status(notice)[0] == "failed"


def test_acknowledging_twice_keeps_the_first_time(recalled):
    recall, people = recalled
    notice = RecallNotice.objects.get(patient=people["mina"])
    recalls.recall_notice_acknowledge(notice=notice)
    first = notice.acknowledged_at
    assert first is not None
    RecallNotice.objects.filter(pk=notice.pk).update(acknowledged_at=first - timedelta(hours=1))
    earlier = RecallNotice.objects.get(pk=notice.pk).acknowledged_at
    recalls.recall_notice_acknowledge(notice=notice)
    assert RecallNotice.objects.get(pk=notice.pk).acknowledged_at == earlier
    assert recalls.reach_status(notice)[0] == "acknowledged"


def test_a_recall_link_is_no_report_link(recalled, safety_lead_a):
    """A recall link opens the recall notice only: it reports on no session."""
    from adverse_events.selectors import report_target

    recall, people = recalled
    recalls.recall_message_all(recall=recall, user=safety_lead_a)
    _deliver_all()
    link = RecallNotice.objects.get(patient=people["mina"]).link
    assert report_target(link) is None
    assert timezone.now() < link.expires_at


def test_the_notice_is_written_in_the_patients_language_and_names_the_lot_and_dates(
    recalled, safety_lead_a
):
    recall, people = recalled
    recalls.recall_message_all(recall=recall, user=safety_lead_a)
    joon = RecallNotice.objects.get(patient=people["joon"])  # Korean is set below
    people["joon"].language = "ko"
    people["joon"].save()
    rendered = recalls.RecallRenderer().render(joon.message)
    assert "회수" in rendered.body and "EXO-77" in rendered.body
    assert "/r/" in rendered.body and "/r/" not in rendered.stored_body
    session_day = people["joon"].clinic.local(joon.sessions.get().performed_at)
    day = f"{session_day.year}년 {session_day.month}월 {session_day.day}일"
    assert f"{day}에 받으신 시술" in rendered.body
    assert "Mina" not in rendered.body and "Sterility" not in rendered.body
