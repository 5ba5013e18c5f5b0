"""Is delivery healthy? Overdue messages and check-ins, and when each sweeper last ran.

Read by `manage.py delivery_health` (exit 1 when unhealthy, for cron or a container
healthcheck) and by the staff-only endpoint `/health/delivery/`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db.models import Min
from django.utils import timezone

from clinic.core.models import Heartbeat
from patients.models import MessageState, OutboxMessage
from treatments.models import CheckIn, CheckInState

# A row more overdue than this means the sweeper is not keeping up (it runs every minute).
OVERDUE_AFTER = timedelta(minutes=5)
# A sweeper silent for longer than this is considered down.
SILENT_AFTER = timedelta(minutes=3)
SWEEPERS = ("outbox_sweep", "checkins_sweep")


@dataclass
class DeliveryHealth:
    checked_at: datetime
    overdue_messages: int
    oldest_overdue_message_due_at: datetime | None
    overdue_checkins: int
    stuck_claims: int
    failed_last_24h: int
    last_sweeps: dict[str, datetime | None]
    problems: list[str]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        data = asdict(self)
        data["healthy"] = self.healthy
        for key in ("checked_at", "oldest_overdue_message_due_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["last_sweeps"] = {k: v.isoformat() if v else None for k, v in self.last_sweeps.items()}
        return data


def delivery_health(*, clinic_ids=None, now: datetime | None = None) -> DeliveryHealth:
    """Counts only (no patient data). `clinic_ids` limits the counts to those clinics."""
    now = now or timezone.now()
    messages = OutboxMessage.objects.all()
    checkins = CheckIn.objects.all()
    if clinic_ids is not None:
        messages = messages.filter(clinic_id__in=clinic_ids)
        checkins = checkins.filter(session__clinic_id__in=clinic_ids)
    overdue = messages.filter(state=MessageState.PENDING, due_at__lt=now - OVERDUE_AFTER)
    overdue_stats = overdue.aggregate(oldest=Min("due_at"))
    overdue_count = overdue.count()
    overdue_checkins = checkins.filter(
        state=CheckInState.SCHEDULED, due_at__lt=now - OVERDUE_AFTER
    ).count()
    stuck = messages.filter(state=MessageState.CLAIMED, lease_expires_at__lt=now).count()
    failed = messages.filter(state=MessageState.FAILED, updated_at__gte=now - timedelta(days=1))
    beats = dict(Heartbeat.objects.filter(name__in=SWEEPERS).values_list("name", "beat_at"))
    last = {name: beats.get(name) for name in SWEEPERS}

    problems = []
    if overdue_count:
        problems.append(f"{overdue_count} message(s) overdue by more than 5 minutes")
    if overdue_checkins:
        problems.append(f"{overdue_checkins} check-in(s) overdue by more than 5 minutes")
    if stuck:
        problems.append(f"{stuck} claimed message(s) past their lease")
    for name, beat in last.items():
        if beat is None or now - beat > SILENT_AFTER:
            problems.append(f"{name} has not run in the last 3 minutes")
    return DeliveryHealth(
        checked_at=now,
        overdue_messages=overdue_count,
        oldest_overdue_message_due_at=overdue_stats["oldest"],
        overdue_checkins=overdue_checkins,
        stuck_claims=stuck,
        failed_last_24h=failed.count(),
        last_sweeps=last,
        problems=problems,
    )
