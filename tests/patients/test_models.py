"""Patients, links, outbox and call tasks: every named constraint refuses bad data with its
message, at the database and through validation; and the patient's own clean() rules."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from patients.models import (
    CallReason,
    CallState,
    Channel,
    LinkPurpose,
    MessageKind,
    MessageState,
    ScreeningFact,
)
from tests.constraints import (
    Refusal,
    changed,
    choices_message,
    duplicate,
    refusal,
    refused_by_database,
    refused_by_full_clean,
    refused_by_validation,
)
from tests.factories import (
    CallTaskFactory,
    OutboxMessageFactory,
    PatientFactory,
    PersonalLinkFactory,
    ScreeningFactConfirmationFactory,
)

pytestmark = pytest.mark.django_db

REFUSALS = [
    # Patient
    refusal(
        "patient_channel_valid",
        choices_message("preferred_channel", Channel),
        changed(PatientFactory, preferred_channel="fax"),
        field_level=True,
    ),
    refusal(
        "patient_language_valid",
        "language must be one of: en, ko.",
        changed(PatientFactory, language="fr"),
        field_level=True,
    ),
    refusal(
        "patient_fitzpatrick_1_to_6",
        "Fitzpatrick type is I to VI.",
        changed(PatientFactory, fitzpatrick_type=7),
        field_level=True,
    ),
    refusal(
        "patient_preferred_channel_has_contact",
        "The preferred channel needs its contact detail: an email address for email, a mobile "
        "number for SMS.",
        changed(PatientFactory, preferred_channel=Channel.SMS, phone=""),
    ),
    refusal(
        "patient_entered_in_error_has_reason",
        "Say why the record was entered in error.",
        changed(PatientFactory, entered_in_error=True, entered_in_error_reason=""),
    ),
    refusal(
        "patient_archived_has_reason",
        "Say why the patient is archived.",
        changed(PatientFactory, archived_at=timezone.now(), archived_reason=""),
    ),
    # ScreeningFactConfirmation
    refusal(
        "screening_fact_valid",
        choices_message("fact", ScreeningFact),
        changed(ScreeningFactConfirmationFactory, fact="horoscope"),
        field_level=True,
    ),
    refusal(
        "screening_fact_confirmed_once_per_patient",
        "This fact already has its confirmation row.",
        duplicate(ScreeningFactConfirmationFactory, "patient", "fact"),
    ),
    # PersonalLink
    refusal(
        "link_purpose_valid",
        choices_message("purpose", LinkPurpose),
        changed(PersonalLinkFactory, purpose="forever"),
        field_level=True,
    ),
    refusal(
        "link_expires_after_creation",
        "A link must expire after it is created.",
        changed(PersonalLinkFactory, expires_at=lambda link: link.created_at - timedelta(hours=1)),
    ),
    # OutboxMessage
    refusal(
        "outbox_kind_valid",
        choices_message("kind", MessageKind),
        changed(OutboxMessageFactory, kind="spam"),
        field_level=True,
    ),
    refusal(
        "outbox_channel_valid",
        choices_message("channel", Channel),
        changed(OutboxMessageFactory, channel="pigeon"),
        field_level=True,
    ),
    refusal(
        "outbox_state_valid",
        choices_message("state", MessageState),
        changed(OutboxMessageFactory, state="lost"),
        field_level=True,
    ),
    refusal(
        "outbox_claim_has_token_and_lease",
        "A claimed message needs a claim token and a lease.",
        changed(OutboxMessageFactory, state=MessageState.CLAIMED, claim_token=None),
    ),
    refusal(
        "outbox_sent_has_time",
        "A sent message records when it was sent.",
        changed(OutboxMessageFactory, state=MessageState.SENT, sent_at=None),
    ),
    refusal(
        "outbox_has_recipient",
        "A message needs a recipient address.",
        changed(OutboxMessageFactory, to_address=""),
        field_level=True,
    ),
    # CallTask
    refusal(
        "calltask_reason_valid",
        choices_message("reason", CallReason),
        changed(CallTaskFactory, reason="gossip"),
        field_level=True,
    ),
    refusal(
        "calltask_state_valid",
        choices_message("state", CallState),
        changed(CallTaskFactory, state="maybe"),
        field_level=True,
    ),
    refusal(
        "calltask_done_has_time",
        "A finished call records when it was made.",
        changed(CallTaskFactory, state=CallState.DONE, done_at=None),
    ),
]


@pytest.mark.parametrize("case", REFUSALS)
def test_the_database_refuses_it(case: Refusal) -> None:
    refused_by_database(case)


@pytest.mark.parametrize("case", REFUSALS)
def test_validate_constraints_refuses_it_with_its_message(case: Refusal) -> None:
    refused_by_validation(case)


@pytest.mark.parametrize("case", REFUSALS)
def test_full_clean_refuses_it(case: Refusal) -> None:
    refused_by_full_clean(case)


def test_the_choices_message_names_every_choice() -> None:
    # The helper above mirrors clinic.core.models.choices_check; pin one spelled out in full.
    assert choices_message("preferred_channel", Channel) == (
        "preferred_channel must be one of: email, sms."
    )


# --- clean() -------------------------------------------------------------------------------


def test_it_refuses_a_date_of_birth_in_the_future() -> None:
    patient = PatientFactory(date_of_birth=date(1990, 1, 1))
    patient.date_of_birth = patient.clinic.today() + timedelta(days=1)
    with pytest.raises(ValidationError) as caught:
        patient.full_clean()
    [message] = caught.value.message_dict["date_of_birth"]
    assert message.startswith("A date of birth cannot be in the future")


def test_it_refuses_a_year_of_birth_before_1900() -> None:
    patient = PatientFactory()
    patient.date_of_birth = date(1899, 12, 31)
    with pytest.raises(ValidationError) as caught:
        patient.full_clean()
    [message] = caught.value.message_dict["date_of_birth"]
    assert message.startswith("Give a date of birth between")


def test_it_accepts_a_patient_born_today() -> None:
    PatientFactory(date_of_birth=timezone.localdate()).full_clean()


def test_it_accepts_an_sms_patient_without_email() -> None:
    patient = PatientFactory(preferred_channel=Channel.SMS, email="", phone="+82 10 1234 5678")
    patient.full_clean()
    assert patient.phone_key == "821012345678"


def test_full_clean_refuses_a_new_link_that_is_already_expired() -> None:
    link = PersonalLinkFactory.build(
        patient=PatientFactory(), expires_at=timezone.now() - timedelta(days=1)
    )
    with pytest.raises(ValidationError):
        link.full_clean()
