"""Periodic housekeeping tasks of the ground floor."""

from celery import shared_task
from django.utils import timezone

from .models import Heartbeat


@shared_task(name="clinic.core.tasks.heartbeat", ignore_result=True)
def heartbeat(name: str = "beat") -> None:
    """Record that beat and a worker are alive (read by the health check and tests)."""
    Heartbeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now()})
