"""Admin for patients and how the clinic reaches them: links, the outbox, call tasks.

Hashes and derived keys are read-only and never searched; patients are never deleted (mark
them entered in error). Every list joins what it shows, so a page costs the same at any size.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import (
    CallTask,
    OutboxMessage,
    Patient,
    PatientAccess,
    PersonalLink,
    ScreeningFactConfirmation,
)

AUDIT_FIELDS = ("uuid", "created_at", "updated_at")


class NeverDeleteMixin:
    """Clinical records are never hard-deleted (the model's `never_delete`)."""

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Patient)
class PatientAdmin(NeverDeleteMixin, SimpleHistoryAdmin):
    list_display = [
        "last_name",
        "first_name",
        "date_of_birth",
        "clinic",
        "preferred_channel",
        "consent_to_contact",
        "fitzpatrick_type",
        "entered_in_error",
    ]
    list_filter = [
        "clinic",
        "preferred_channel",
        "consent_to_contact",
        "language",
        "fitzpatrick_type",
        "on_anticoagulants",
        "on_isotretinoin",
        "keloid_history",
        "autoimmune_disease",
        "pregnant_or_breastfeeding",
        "entered_in_error",
    ]
    search_fields = ["last_name", "first_name", "email", "phone"]
    list_select_related = ["clinic"]
    readonly_fields = [*AUDIT_FIELDS, "name_key", "phone_key", "consent_recorded_at"]
    date_hierarchy = "created_at"


@admin.register(ScreeningFactConfirmation)
class ScreeningFactConfirmationAdmin(NeverDeleteMixin, SimpleHistoryAdmin):
    """Who last confirmed each screening fact. Written by the screening form and the API."""

    list_display = ["patient", "fact", "confirmed_at", "confirmed_by"]
    list_filter = ["fact", "patient__clinic"]
    search_fields = ["patient__last_name", "patient__first_name", "confirmed_by__username"]
    list_select_related = ["patient", "confirmed_by"]
    raw_id_fields = ["patient", "confirmed_by"]
    readonly_fields = [*AUDIT_FIELDS]
    date_hierarchy = "confirmed_at"


@admin.register(PatientAccess)
class PatientAccessAdmin(admin.ModelAdmin):
    """The read audit: who opened or exported a chart. Append-only."""

    list_display = ["at", "user", "action", "patient"]
    list_filter = ["action", "patient__clinic"]
    search_fields = ["user__username", "patient__last_name", "action"]
    list_select_related = ["user", "patient"]
    raw_id_fields = ["patient", "user"]
    date_hierarchy = "at"

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(PersonalLink)
class PersonalLinkAdmin(admin.ModelAdmin):
    list_display = ["patient", "purpose", "created_at", "expires_at", "revoked_at", "use_count"]
    list_filter = ["purpose", "patient__clinic", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["patient__last_name", "patient__first_name", "uuid"]
    list_select_related = ["patient"]
    raw_id_fields = ["patient"]
    # The token exists only in the message that carried it; the hash says nothing useful.
    readonly_fields = [*AUDIT_FIELDS, "token_hash", "last_used_at", "use_count"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: Any) -> bool:
        return False  # links are issued by the app (patients.links.link_issue)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["due_at", "kind", "channel", "state", "clinic", "patient", "attempts"]
    list_filter = ["state", "kind", "channel", "clinic", "duplicate_suspected"]
    search_fields = ["idempotency_key", "to_address", "subject", "provider_message_id"]
    list_select_related = ["clinic", "patient"]
    raw_id_fields = ["patient"]
    readonly_fields = [
        *AUDIT_FIELDS,
        "idempotency_key",
        "claim_token",
        "lease_expires_at",
        "attempts",
        "provider_message_id",
        "send_started_at",
        "sent_at",
    ]
    date_hierarchy = "due_at"


@admin.register(CallTask)
class CallTaskAdmin(admin.ModelAdmin):
    list_display = ["due_at", "clinic", "patient", "reason", "state", "done_by", "done_at"]
    list_filter = ["state", "reason", "clinic"]
    search_fields = ["patient__last_name", "patient__first_name", "dedupe_key", "outcome"]
    list_select_related = ["clinic", "patient", "done_by"]
    raw_id_fields = ["patient", "message", "done_by"]
    readonly_fields = [*AUDIT_FIELDS, "dedupe_key"]
    date_hierarchy = "due_at"
