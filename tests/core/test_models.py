"""Clinics, closures, check-in plans and memberships: every named constraint refuses bad data
with its message; the clinic's opening-hours rule; and the meta-test that every constraint of
core and the three domain apps has a row in some app's REFUSALS table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from clinic.core.models import (
    RecoveryCodeDevice,
    Role,
    SecurityEvent,
    SecurityEventKind,
    StaffAction,
)
from tests.adverse_events.test_models import REFUSALS as ADVERSE_EVENT_REFUSALS
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
    CheckInPlanStepFactory,
    ClinicClosureFactory,
    ClinicFactory,
    FormTokenFactory,
    IdempotencyRecordFactory,
    MembershipFactory,
    StaffAuditEventFactory,
    UserFactory,
)
from tests.patients.test_models import REFUSALS as PATIENT_REFUSALS
from tests.treatments.test_models import REFUSALS as TREATMENT_REFUSALS

pytestmark = pytest.mark.django_db


def _security_event() -> SecurityEvent:
    return SecurityEvent.objects.create(
        user=UserFactory(), kind=SecurityEventKind.values[0], detail=""
    )


def _recovery_device() -> RecoveryCodeDevice:
    return RecoveryCodeDevice.objects.create(user=UserFactory(), name="Recovery codes")


REFUSALS = [
    refusal(
        "security_event_kind_valid",
        choices_message("kind", SecurityEventKind),
        changed(_security_event, kind="telepathy"),
        field_level=True,
    ),
    refusal(
        "recovery_device_one_per_user",
        "This user already has a set of recovery codes.",
        duplicate(_recovery_device, "user"),
    ),
    refusal(
        "closure_ends_after_start",
        "A closure must end on or after the day it starts.",
        changed(ClinicClosureFactory, ends_on=lambda c: c.starts_on - timedelta(days=1)),
    ),
    refusal(
        "plan_step_code_unique_per_clinic",
        "This clinic's plan already has a step with that code.",
        duplicate(CheckInPlanStepFactory, "clinic", "code"),
    ),
    refusal(
        "plan_step_offset_positive",
        "A check-in must come after the session.",
        changed(CheckInPlanStepFactory, offset=timedelta(0)),
    ),
    refusal(
        "membership_one_row_per_role",
        "This person already has this role at this clinic.",
        duplicate(MembershipFactory, "user", "clinic", "role"),
    ),
    refusal(
        "staff_audit_action_valid",
        choices_message("action", StaffAction),
        changed(StaffAuditEventFactory, action="shredded"),
        field_level=True,
    ),
    refusal(
        "membership_role_valid",
        choices_message("role", Role),
        changed(MembershipFactory, role="janitor"),
        field_level=True,
    ),
    refusal(
        "form_token_used_once",
        "This form was already submitted.",
        duplicate(FormTokenFactory, "token"),
    ),
    refusal(
        "idempotency_key_unique_per_user",
        "This Idempotency-Key was already used.",
        duplicate(IdempotencyRecordFactory, "user", "key"),
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


def test_every_named_constraint_has_a_refusal_test() -> None:
    """GIVEN every constraint declared on the models of core and the domain apps
    THEN each has a row in some REFUSALS table, and no row names a constraint that is gone."""
    declared = {
        constraint.name
        for label in ("core", "patients", "treatments", "adverse_events")
        for model in apps.get_app_config(label).get_models()
        for constraint in model._meta.constraints
    }
    tables = REFUSALS + PATIENT_REFUSALS + TREATMENT_REFUSALS + ADVERSE_EVENT_REFUSALS
    tested = [param.values[0].constraint for param in tables]
    assert sorted(declared - set(tested)) == [], "constraints without a refusal test"
    assert sorted(set(tested) - declared) == [], "refusal tests for constraints that do not exist"
    assert len(tested) == len(set(tested)), "a constraint is tested twice"


# --- Clinic.clean() ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"8": ["09:00", "18:00"]}, "Unknown weekday '8'; use 1 (Monday) to 7."),
        ({"1": ["18:00", "09:00"]}, "Day 1: give [open, close] with open first."),
        ({"1": ["09:00"]}, "Day 1: give [open, close], e.g. 09:00, 18:00."),
        ({"1": "09:00-18:00"}, "Day 1: give [open, close], e.g. 09:00, 18:00."),
        (["09:00", "18:00"], "Opening hours must map ISO weekdays 1-7 to [open, close]."),
        ({"1": ["aa", "bb"]}, "Day 1: times are HH:MM, e.g. 09:00."),
        ({"1": ["10:00", "9:30"]}, "Day 1: give [open, close] with open first."),
    ],
    ids=[
        "unknown-weekday",
        "closes-before-opening",
        "no-closing-time",
        "not-a-pair",
        "not-a-map",
        "not-times",
        "compared-as-times-not-text",
    ],
)
def test_it_refuses_opening_hours_that_do_not_make_sense(hours: object, message: str) -> None:
    clinic = ClinicFactory()
    clinic.opening_hours = hours
    with pytest.raises(ValidationError) as caught:
        clinic.full_clean()
    assert caught.value.message_dict["opening_hours"] == [message]


def test_it_accepts_single_digit_hours() -> None:
    clinic = ClinicFactory()
    clinic.opening_hours = {"1": ["9:00", "18:00"]}
    clinic.full_clean()


def test_it_accepts_the_default_opening_hours_and_a_closed_sunday() -> None:
    clinic = ClinicFactory()
    assert "7" not in clinic.opening_hours
    clinic.full_clean()


def test_it_refuses_an_unknown_time_zone() -> None:
    clinic = ClinicFactory()
    clinic.time_zone = "Mars/Olympus_Mons"
    with pytest.raises(ValidationError) as caught:
        clinic.full_clean()
    assert caught.value.message_dict["time_zone"] == [
        "'Mars/Olympus_Mons' is not a known IANA time zone."
    ]
