"""No practitioner holds two overlapping live appointments: the PostgreSQL exclusion constraint
`appointment_no_practitioner_overlap` (treatments/migrations/0002). SQLite relies on the
booking service's check instead, so these run on PostgreSQL only (and fail under CI=true)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.core.models import User
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory
from tests.requirements import require_postgres
from treatments.models import Appointment, AppointmentStatus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

CONSTRAINT = "appointment_no_practitioner_overlap"


@pytest.fixture(autouse=True)
def _postgres() -> None:
    require_postgres()


@pytest.fixture
def practitioner() -> User:
    return PractitionerFactory()


@pytest.fixture
def ten_oclock() -> datetime:
    return (timezone.now() + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)


def _book(practitioner: User, starts_at: datetime, minutes: int = 60, **extra) -> Appointment:
    patient = PatientFactory(clinic=practitioner.memberships.get().clinic)
    return AppointmentFactory(
        patient=patient,
        practitioner=practitioner,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        **extra,
    )


def test_it_refuses_an_overlapping_live_appointment_for_the_same_practitioner(
    practitioner: User, ten_oclock: datetime
) -> None:
    _book(practitioner, ten_oclock)
    with pytest.raises(IntegrityError, match=CONSTRAINT), transaction.atomic():
        _book(practitioner, ten_oclock + timedelta(minutes=30))
    assert Appointment.objects.filter(practitioner=practitioner).count() == 1


def test_it_refuses_an_appointment_inside_another(practitioner: User, ten_oclock: datetime) -> None:
    _book(practitioner, ten_oclock, minutes=120)
    with pytest.raises(IntegrityError, match=CONSTRAINT), transaction.atomic():
        _book(practitioner, ten_oclock + timedelta(minutes=30), minutes=15)


@pytest.mark.parametrize(
    "status",
    [AppointmentStatus.ARRIVED, AppointmentStatus.IN_TREATMENT, AppointmentStatus.COMPLETED],
)
def test_it_refuses_to_move_an_appointment_onto_a_live_one(
    practitioner: User, ten_oclock: datetime, status: str
) -> None:
    _book(practitioner, ten_oclock, status=status)
    later = _book(practitioner, ten_oclock + timedelta(hours=3))
    later.starts_at, later.ends_at = ten_oclock, ten_oclock + timedelta(minutes=45)
    with pytest.raises(IntegrityError, match=CONSTRAINT), transaction.atomic():
        later.save()


def test_it_allows_back_to_back_appointments(practitioner: User, ten_oclock: datetime) -> None:
    # The range is [start, end): one ending at 11:00 and one starting at 11:00 do not overlap.
    _book(practitioner, ten_oclock)
    _book(practitioner, ten_oclock + timedelta(hours=1))
    assert Appointment.objects.filter(practitioner=practitioner).count() == 2


@pytest.mark.parametrize("status", [AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW])
def test_it_allows_overlap_with_a_cancelled_or_no_show_appointment(
    practitioner: User, ten_oclock: datetime, status: str
) -> None:
    _book(practitioner, ten_oclock, status=status)
    _book(practitioner, ten_oclock + timedelta(minutes=15))
    assert Appointment.objects.filter(practitioner=practitioner).count() == 2


def test_it_refuses_to_revive_a_cancelled_appointment_onto_a_taken_slot(
    practitioner: User, ten_oclock: datetime
) -> None:
    cancelled = _book(practitioner, ten_oclock, status=AppointmentStatus.CANCELLED)
    _book(practitioner, ten_oclock)
    cancelled.status = AppointmentStatus.BOOKED
    with pytest.raises(IntegrityError, match=CONSTRAINT), transaction.atomic():
        cancelled.save()


def test_it_allows_overlap_for_different_practitioners(ten_oclock: datetime) -> None:
    first = PractitionerFactory()
    second = PractitionerFactory(clinic=first.memberships.get().clinic)
    _book(first, ten_oclock)
    _book(second, ten_oclock)
    assert Appointment.objects.filter(starts_at=ten_oclock).count() == 2


def test_it_refuses_a_booking_over_a_patient_in_treatment(
    practitioner: User, ten_oclock: datetime
) -> None:
    """ "In treatment" holds the slot in the database itself (migration 0007), not only in the
    booking service's check."""
    _book(practitioner, ten_oclock, status=AppointmentStatus.IN_TREATMENT)
    with pytest.raises(IntegrityError, match=CONSTRAINT), transaction.atomic():
        _book(practitioner, ten_oclock + timedelta(minutes=15))
    assert Appointment.objects.filter(practitioner=practitioner).count() == 1
