"""Clinic scoping: `Model.objects.visible_to(user)` keeps the rows of the user's clinics that
their role may read, and nothing for anyone else (clinic/core/models.py ScopedQuerySet)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import models

from adverse_events.models import (
    Alarm,
    Assessment,
    CheckInWeekSummary,
    ClinicTermCode,
    LotSignal,
    LotTermSummary,
    LotWeekSummary,
    ReactionReport,
    ReactionTerm,
    ReactionWeekSummary,
    Submission,
    SubmissionPhoto,
)
from clinic.core.models import (
    CheckInPlanStep,
    Clinic,
    ClinicClosure,
    Invitation,
    Role,
    StaffAuditEvent,
    User,
)
from patients.models import (
    CallTask,
    OutboxMessage,
    Patient,
    PersonalLink,
    ScreeningFactConfirmation,
)
from tests import factories as f
from treatments.models import (
    Appointment,
    CheckIn,
    Product,
    ProductLot,
    Recall,
    RecallNotice,
    SeriesTemplate,
    SessionAddendum,
    TreatmentSeries,
    TreatmentSession,
)

pytestmark = pytest.mark.django_db

# Every scoped model, and whether the front desk may read it (the role policy, pinned here).
FRONT_DESK_READS: dict[type[models.Model], bool] = {
    ClinicClosure: True,
    CheckInPlanStep: True,
    Patient: True,
    ScreeningFactConfirmation: False,
    PersonalLink: True,
    OutboxMessage: True,
    CallTask: True,
    Product: True,
    ProductLot: True,
    Recall: False,
    RecallNotice: False,
    SeriesTemplate: True,
    TreatmentSeries: True,
    Appointment: True,
    CheckIn: True,
    ClinicTermCode: True,
    TreatmentSession: False,
    SessionAddendum: False,
    Submission: False,
    SubmissionPhoto: False,
    ReactionReport: False,
    Assessment: False,
    Alarm: False,
    LotSignal: False,
    LotWeekSummary: False,
    LotTermSummary: False,
    ReactionWeekSummary: False,
    CheckInWeekSummary: False,
    Invitation: False,
    StaffAuditEvent: False,
}
SCOPED = list(FRONT_DESK_READS)
# Read by a clinic's manager only; a manager reads nothing else.
MANAGER_MODELS = {Invitation, StaffAuditEvent}


def _no_manager_rows(
    rows: dict[type[models.Model], set[int]],
) -> dict[type[models.Model], set[int]]:
    return {model: set() if model in MANAGER_MODELS else pks for model, pks in rows.items()}


def _populate(clinic: Clinic) -> None:
    """At least one row of every scoped model in `clinic` (parents land there too)."""
    f.ClinicClosureFactory(clinic=clinic)
    f.CheckInPlanStepFactory(clinic=clinic)
    f.PersonalLinkFactory(patient__clinic=clinic)
    f.ScreeningFactConfirmationFactory(patient__clinic=clinic)
    f.OutboxMessageFactory(clinic=clinic)
    f.CallTaskFactory(clinic=clinic)
    f.SeriesTemplateFactory(clinic=clinic)
    f.TreatmentSeriesFactory(clinic=clinic)
    f.AppointmentFactory(clinic=clinic)
    f.SessionAddendumFactory(session__clinic=clinic)
    f.CheckInFactory(session__clinic=clinic)
    f.ClinicTermCodeFactory(clinic=clinic)
    f.SubmissionPhotoFactory(submission__clinic=clinic)
    f.AssessmentFactory(report__clinic=clinic)
    f.AlarmFactory(clinic=clinic)
    f.LotSignalFactory(lot__product__clinic=clinic)
    f.RecallNoticeFactory(recall__lot__product__clinic=clinic)
    f.LotWeekSummaryFactory(lot__product__clinic=clinic)
    f.LotTermSummaryFactory(lot__product__clinic=clinic)
    f.ReactionWeekSummaryFactory(clinic=clinic)
    f.CheckInWeekSummaryFactory(clinic=clinic)
    f.StaffAuditEventFactory(clinic=clinic)
    f.InvitationFactory(clinic=clinic)


def _all_pks() -> dict[type[models.Model], set[int]]:
    return {model: set(model.objects.values_list("pk", flat=True)) for model in SCOPED}


@dataclass
class World:
    clinic_a: Clinic
    clinic_b: Clinic
    rows_a: dict[type[models.Model], set[int]]
    rows_b: dict[type[models.Model], set[int]]


@pytest.fixture
def world(clinic_a: Clinic, clinic_b: Clinic) -> World:
    # Which clinic a row belongs to comes from when it was made, not from `clinic_path`, so
    # these tests check the paths too.
    _populate(clinic_a)
    rows_a = _all_pks()
    _populate(clinic_b)
    rows_b = {model: pks - rows_a[model] for model, pks in _all_pks().items()}
    assert all(rows_a.values()) and all(rows_b.values()), "every model needs rows in both"
    return World(clinic_a, clinic_b, rows_a, rows_b)


def _visible(user: object, **kwargs: object) -> dict[type[models.Model], set[int]]:
    return {
        model: set(model.objects.visible_to(user, **kwargs).values_list("pk", flat=True))
        for model in SCOPED
    }


NOTHING = {model: set() for model in SCOPED}


@pytest.mark.parametrize("persona", ["practitioner_a", "safety_lead_a"])
def test_clinicians_see_every_row_of_their_clinic_and_none_of_another(
    world: World, persona: str, request: pytest.FixtureRequest
) -> None:
    user = request.getfixturevalue(persona)
    assert _visible(user) == _no_manager_rows(world.rows_a)


def test_a_manager_sees_the_staff_rows_of_their_clinic_and_nothing_else(
    world: World, manager_a: User
) -> None:
    expected = {
        model: world.rows_a[model] if model in MANAGER_MODELS else set() for model in SCOPED
    }
    assert _visible(manager_a) == expected


def test_the_front_desk_sees_no_clinical_rows(world: World, front_desk_a: User) -> None:
    expected = {
        model: world.rows_a[model] if reads else set() for model, reads in FRONT_DESK_READS.items()
    }
    assert _visible(front_desk_a) == expected


def test_the_front_desk_sees_patients_appointments_and_call_tasks_but_not_reports(
    world: World, front_desk_a: User
) -> None:
    for model in (Patient, Appointment, CallTask):
        assert model.objects.visible_to(front_desk_a).exists(), model.__name__
    for model in (TreatmentSession, ReactionReport, Assessment, Alarm, Submission):
        assert not model.objects.visible_to(front_desk_a).exists(), model.__name__


def test_the_other_clinic_sees_only_its_own_rows(world: World, practitioner_b: User) -> None:
    assert _visible(practitioner_b) == _no_manager_rows(world.rows_b)


def test_a_user_at_two_clinics_sees_both(world: World) -> None:
    user = f.PractitionerFactory(clinic=world.clinic_a)
    f.MembershipFactory(user=user, clinic=world.clinic_b, role=Role.SAFETY_LEAD)
    both = _no_manager_rows({model: world.rows_a[model] | world.rows_b[model] for model in SCOPED})
    assert _visible(user) == both


def test_roles_apply_per_clinic(world: World) -> None:
    """GIVEN a practitioner at clinic A who is front desk at clinic B
    THEN they see A's clinical rows but only B's front-desk rows."""
    user = f.PractitionerFactory(clinic=world.clinic_a)
    f.MembershipFactory(user=user, clinic=world.clinic_b, role=Role.FRONT_DESK)
    expected = {
        model: world.rows_a[model] | (world.rows_b[model] if reads else set())
        for model, reads in FRONT_DESK_READS.items()
    }
    assert _visible(user) == _no_manager_rows(expected)


def test_an_explicit_role_list_narrows_what_a_user_sees(world: World, practitioner_a: User) -> None:
    assert _visible(practitioner_a, roles={Role.SAFETY_LEAD}) == NOTHING
    assert _visible(practitioner_a, roles={Role.PRACTITIONER}) == _no_manager_rows(world.rows_a)


def test_an_inactive_membership_sees_nothing(world: World, practitioner_a: User) -> None:
    practitioner_a.memberships.update(active=False)
    assert _visible(practitioner_a) == NOTHING


def test_an_inactive_user_sees_nothing(world: World, practitioner_a: User) -> None:
    practitioner_a.is_active = False
    practitioner_a.save(update_fields=["is_active"])
    assert _visible(practitioner_a) == NOTHING


def test_a_user_without_memberships_sees_nothing(world: World) -> None:
    assert _visible(f.UserFactory()) == NOTHING


@pytest.mark.parametrize("user", [None, AnonymousUser()], ids=["none", "anonymous"])
def test_anonymous_sees_nothing(world: World, user: object) -> None:
    assert _visible(user) == NOTHING


# --- clinics themselves and shared reference data -------------------------------------------


def test_a_user_sees_only_the_clinics_they_work_at(world: World, practitioner_a: User) -> None:
    assert list(Clinic.objects.visible_to(practitioner_a)) == [world.clinic_a]


@pytest.mark.parametrize("persona", ["practitioner_a", "front_desk_a", "practitioner_b"])
def test_the_reaction_vocabulary_is_visible_to_any_member(
    persona: str, request: pytest.FixtureRequest
) -> None:
    user = request.getfixturevalue(persona)
    visible = ReactionTerm.objects.visible_to(user)
    assert visible.count() == ReactionTerm.objects.count() > 0


@pytest.mark.parametrize(
    "make_user",
    [lambda: f.UserFactory(), lambda: None, lambda: AnonymousUser()],
    ids=["no-membership", "none", "anonymous"],
)
def test_the_reaction_vocabulary_is_hidden_from_non_members(make_user) -> None:
    assert not ReactionTerm.objects.visible_to(make_user()).exists()


def test_every_scoped_model_is_covered() -> None:
    from django.apps import apps

    from clinic.core.models import ScopedQuerySet

    scoped = {
        model
        for label in ("core", "patients", "treatments", "adverse_events")
        for model in apps.get_app_config(label).get_models()
        if isinstance(model._default_manager.all(), ScopedQuerySet)
        and getattr(model, "clinic_path", None) not in (None, "")
    }
    assert scoped == set(SCOPED)
