"""A recalled lot with patients on it, for the recall page, the patient's notice and the
browser tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patients.links import link_issue
from patients.models import Channel, Language, LinkPurpose
from tests.factories import PatientFactory
from tests.kit.world import default_plan, logged_session, released_lot
from treatments.models import Recall, RecallNotice
from treatments.services import lot_recall


@dataclass
class RecallWorld:
    recall: Recall
    patients: dict[str, Any]

    def notice(self, name: str) -> RecallNotice:
        return RecallNotice.objects.get(recall=self.recall, patient=self.patients[name])


def recalled_lot(
    practitioner: Any, safety_lead: Any, *, lot_number: str = "EXO-RC-9", extra: int = 0
) -> RecallWorld:
    """Mina (email, English, two sessions), Joon (SMS, Korean), Ara (no consent), plus
    `extra` more patients; then the lot recalled by the safety lead."""
    clinic = practitioner.memberships.first().clinic
    default_plan(clinic)
    lot = released_lot(clinic, quantity=50, lot_number=lot_number)
    people = {
        "mina": PatientFactory(clinic=clinic, first_name="Mina", last_name="Park"),
        "joon": PatientFactory(
            clinic=clinic,
            first_name="Joon",
            last_name="Kim",
            preferred_channel=Channel.SMS,
            language=Language.KO,
        ),
        "ara": PatientFactory(
            clinic=clinic, first_name="Ara", last_name="Lee", consent_to_contact=False
        ),
    }
    for i in range(extra):
        people[f"extra{i}"] = PatientFactory(clinic=clinic)
    for name, patient in [("mina", people["mina"]), *people.items()]:
        logged_session(practitioner, patient=patient, lot=lot, screening_override_reason="Ok.")
    recall = lot_recall(lot=lot, user=safety_lead, reason="Sterility retest failed")
    return RecallWorld(recall=recall, patients=people)


def notice_token(notice: RecallNotice) -> str:
    """Issue the notice's recall link as its message would at delivery; the plain token."""
    link, token = link_issue(patient=notice.patient, purpose=LinkPurpose.RECALL)
    RecallNotice.objects.filter(pk=notice.pk).update(link=link)
    return token
