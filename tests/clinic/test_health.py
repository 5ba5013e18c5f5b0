"""Delivery health: overdue rows and silent sweepers are reported, as counts only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from clinic.core.models import Heartbeat
from clinic.health import delivery_health
from patients.outbox import message_to_patient
from tests.factories import PatientFactory


def beat_now():
    for name in ("outbox_sweep", "checkins_sweep"):
        Heartbeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now()})


def test_with_fresh_heartbeats_and_nothing_overdue_delivery_is_healthy(db):
    beat_now()
    health = delivery_health()
    assert health.healthy, health.problems
    call_command("delivery_health")  # exits 0


def test_an_overdue_message_and_a_silent_sweeper_are_problems(clinic_a):
    Heartbeat.objects.create(name="outbox_sweep", beat_at=timezone.now() - timedelta(minutes=10))
    patient = PatientFactory(clinic=clinic_a)
    message_to_patient(
        patient=patient,
        kind="staff_notice",
        due_at=timezone.now() - timedelta(minutes=30),
        idempotency_key="late",
        body="x",
    )
    health = delivery_health()
    assert health.overdue_messages == 1
    assert "1 message(s) overdue by more than 5 minutes" in health.problems
    assert "outbox_sweep has not run in the last 3 minutes" in health.problems
    assert "checkins_sweep has not run in the last 3 minutes" in health.problems
    with pytest.raises(CommandError, match="unhealthy"):
        call_command("delivery_health")


def test_the_staff_endpoint_counts_only_the_users_clinics(practitioner_client, clinic_b):
    beat_now()
    patient_b = PatientFactory(clinic=clinic_b)
    message_to_patient(
        patient=patient_b,
        kind="staff_notice",
        due_at=timezone.now() - timedelta(hours=1),
        idempotency_key="b-late",
        body="x",
    )
    body = practitioner_client.get(reverse("delivery-health")).json()
    assert body["overdue_messages"] == 0 and body["healthy"] is True
    assert patient_b.last_name not in str(body)
