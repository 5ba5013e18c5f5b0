"""Stored first responses of POSTs that carried an Idempotency-Key (kept 24 hours)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    """The first response to a POST with an Idempotency-Key, replayed for a repeat of it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        app_label = "core"
        # Kept from when the model lived on the top floor: moved in state only.
        db_table = "clinic_idempotencyrecord"
        verbose_name = "idempotency record"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"],
                name="idempotency_key_unique_per_user",
                violation_error_message="This Idempotency-Key was already used.",
            )
        ]

    def __str__(self) -> str:
        return f"Idempotency key of user {self.user_id}"
