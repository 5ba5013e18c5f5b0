"""Audit history for patients, sessions, lots, reports and assessments: who, when, what
changed, bulk writes included (clinic/core/audit.py); clinical rows are never hard-deleted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import models
from django.test import RequestFactory
from simple_history.models import HistoricalRecords

from adverse_events.models import Assessment, ReactionReport, Submission
from clinic.core.exceptions import RuleViolation
from clinic.core.models import User
from patients.models import Patient, ScreeningFactConfirmation
from tests.factories import (
    AssessmentFactory,
    ClinicFactory,
    PatientFactory,
    ProductFactory,
    ProductLotFactory,
    ReactionReportFactory,
    RecallFactory,
    RecallNoticeFactory,
    ScreeningFactConfirmationFactory,
    SubmissionFactory,
    TreatmentSessionFactory,
    UserFactory,
)
from treatments.models import ProductLot, Recall, RecallNotice, TreatmentSession

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Audited:
    model: type[models.Model]
    create: Callable[[], models.Model]  # a saved row
    unsaved: Callable[[], models.Model]  # a valid row whose parents are saved, ready to insert
    field: str
    value: Any

    def __str__(self) -> str:
        return self.model.__name__


def _unsaved_session() -> models.Model:
    other = TreatmentSessionFactory()
    return TreatmentSessionFactory.build(
        patient=other.patient, practitioner=other.practitioner, lot=other.lot
    )


def _unsaved_report() -> models.Model:
    other = ReactionReportFactory()
    return ReactionReportFactory.build(
        session=other.session, submission=other.submission, term=other.term
    )


AUDITED = [
    Audited(
        Patient,
        PatientFactory,
        lambda: PatientFactory.build(clinic=ClinicFactory()),
        "last_name",
        "Renamed",
    ),
    Audited(TreatmentSession, TreatmentSessionFactory, _unsaved_session, "notes", "Mild erythema"),
    Audited(
        ProductLot,
        ProductLotFactory,
        lambda: ProductLotFactory.build(product=ProductFactory()),
        "quantity_on_hand",
        7,
    ),
    Audited(ReactionReport, ReactionReportFactory, _unsaved_report, "sought_care", True),
    Audited(
        Assessment,
        AssessmentFactory,
        lambda: AssessmentFactory.build(report=ReactionReportFactory()),
        "notes",
        "Spoke to the patient",
    ),
]
audited = pytest.mark.parametrize("audited", AUDITED, ids=str)


@contextmanager
def acting_as(user: User) -> Iterator[None]:
    """What simple-history's request middleware does for a staff request."""
    request = RequestFactory().get("/")
    request.user = user
    HistoricalRecords.context.request = request
    try:
        yield
    finally:
        del HistoricalRecords.context.request


def latest_history(row: models.Model) -> Any:
    return row.history.order_by("-history_id").first()


def _assert_recorded(rows: list[models.Model], audited: Audited, history_type: str) -> None:
    for row in rows:
        entry = latest_history(row)
        assert entry is not None, f"{row!r} has no history"
        assert entry.history_type == history_type
        assert getattr(entry, audited.field) == audited.value


# --- every write path leaves history -------------------------------------------------------


@audited
def test_a_single_save_leaves_a_history_row(audited: Audited) -> None:
    row = audited.create()
    assert [h.history_type for h in row.history.all()] == ["+"]
    setattr(row, audited.field, audited.value)
    row.save()
    assert row.history.count() == 2
    _assert_recorded([row], audited, "~")


@audited
def test_bulk_create_leaves_a_history_row_per_row(audited: Audited) -> None:
    rows = [audited.unsaved(), audited.unsaved()]
    for row in rows:
        setattr(row, audited.field, audited.value)
    created = audited.model.objects.bulk_create(rows)
    assert all(row.pk for row in created)
    _assert_recorded(created, audited, "+")
    assert audited.model.history.filter(history_type="+").count() == audited.model.objects.count()


@audited
def test_bulk_update_leaves_history_rows_with_the_new_values(audited: Audited) -> None:
    rows = [audited.create(), audited.create()]
    for row in rows:
        setattr(row, audited.field, audited.value)
    audited.model.objects.bulk_update(rows, [audited.field])
    _assert_recorded(rows, audited, "~")


@audited
def test_queryset_update_leaves_history_rows_with_the_new_values(audited: Audited) -> None:
    rows = [audited.create(), audited.create()]
    untouched = audited.create()
    count = audited.model.objects.filter(pk__in=[r.pk for r in rows]).update(
        **{audited.field: audited.value}
    )
    assert count == 2
    _assert_recorded(rows, audited, "~")
    assert untouched.history.count() == 1


def test_an_update_that_matches_nothing_leaves_no_history() -> None:
    before = Patient.history.count()
    Patient.objects.filter(pk=-1).update(last_name="Nobody")
    assert Patient.history.count() == before


# --- who ------------------------------------------------------------------------------------


@audited
def test_the_acting_user_is_recorded_on_every_write_path(audited: Audited) -> None:
    """GIVEN a staff request in progress (simple-history's middleware context)
    WHEN a row is saved, bulk-created, bulk-updated and updated
    THEN every history row names that user."""
    user = UserFactory()
    with acting_as(user):
        saved = audited.create()
        [bulk] = audited.model.objects.bulk_create([audited.unsaved()])
        setattr(saved, audited.field, audited.value)
        audited.model.objects.bulk_update([saved], [audited.field])
        audited.model.objects.filter(pk=bulk.pk).update(**{audited.field: audited.value})
    entries = audited.model.history.all()
    assert entries.count() >= 4
    assert set(entries.values_list("history_user", flat=True)) == {user.pk}


@audited
def test_an_explicit_history_user_is_recorded_for_save_and_bulk_create(audited: Audited) -> None:
    user = UserFactory()
    row = audited.create()
    row._history_user = user
    setattr(row, audited.field, audited.value)
    row.save()
    assert latest_history(row).history_user == user

    fresh = audited.unsaved()
    fresh._history_user = user
    [created] = audited.model.objects.bulk_create([fresh])
    assert latest_history(created).history_user == user


def test_without_a_request_or_explicit_user_history_names_nobody() -> None:
    patient = PatientFactory()
    Patient.objects.filter(pk=patient.pk).update(last_name="Batch")
    assert latest_history(patient).history_user is None


def test_an_explicit_history_user_is_recorded_for_bulk_update() -> None:
    user = UserFactory()
    patient = PatientFactory()
    patient._history_user = user
    patient.last_name = "Bulk"
    Patient.objects.bulk_update([patient], ["last_name"])
    assert latest_history(patient).history_user == user


# --- never deleted --------------------------------------------------------------------------

NEVER_DELETED = [
    (Patient, PatientFactory),
    (ProductLot, ProductLotFactory),
    (TreatmentSession, TreatmentSessionFactory),
    (Submission, SubmissionFactory),
    (ReactionReport, ReactionReportFactory),
    (Assessment, AssessmentFactory),
    (Recall, RecallFactory),
    (RecallNotice, RecallNoticeFactory),
    (ScreeningFactConfirmation, ScreeningFactConfirmationFactory),
]


def test_the_never_deleted_list_matches_the_models() -> None:
    from django.apps import apps

    flagged = {m for m in apps.get_models() if getattr(m, "never_delete", False)}
    assert flagged == {model for model, _ in NEVER_DELETED}


@pytest.mark.parametrize(
    ("model", "factory"), NEVER_DELETED, ids=lambda v: getattr(v, "__name__", "")
)
def test_queryset_delete_of_a_clinical_record_is_refused_and_deletes_nothing(
    model: type[models.Model], factory: Any
) -> None:
    factory()
    count = model.objects.count()
    with pytest.raises(RuleViolation, match="never deleted"):
        model.objects.all().delete()
    assert model.objects.count() == count


def test_deleting_a_single_patient_is_refused() -> None:
    patient = PatientFactory()
    with pytest.raises(RuleViolation):
        patient.delete()
    assert Patient.objects.filter(pk=patient.pk).exists()
