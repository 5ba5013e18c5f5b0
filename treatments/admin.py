"""Admin for products and lots, series, appointments, sessions and check-ins.

Lots and sessions are never deleted (quarantine a lot, mark a session entered in error);
history is shown for every audited model. Lists join what they show.
"""

from __future__ import annotations

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from clinic.core.admin import ReadOnlyAdminMixin
from patients.admin import AUDIT_FIELDS, NeverDeleteMixin

from .models import (
    Appointment,
    CheckIn,
    Product,
    ProductLot,
    Recall,
    RecallNotice,
    SeriesTemplate,
    SessionAddendum,
    SessionStatus,
    TreatmentSeries,
    TreatmentSession,
)


class ProductLotInline(admin.TabularInline):
    model = ProductLot
    extra = 0
    fields = ["lot_number", "expiry_date", "quantity_on_hand", "status"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Product)
class ProductAdmin(SimpleHistoryAdmin):
    list_display = ["name", "manufacturer", "clinic", "source", "form", "storage", "active"]
    list_filter = ["clinic", "source", "form", "storage", "active"]
    search_fields = ["name", "manufacturer"]
    list_select_related = ["clinic"]
    readonly_fields = AUDIT_FIELDS
    inlines = [ProductLotInline]


@admin.register(ProductLot)
class ProductLotAdmin(NeverDeleteMixin, SimpleHistoryAdmin):
    list_display = [
        "lot_number",
        "product",
        "status",
        "expiry_date",
        "received_on",
        "quantity_received",
        "quantity_on_hand",
    ]
    list_filter = ["status", "product__clinic", "product", "expiry_date"]
    search_fields = ["lot_number", "product__name", "supplier", "certificate_ref"]
    list_select_related = ["product"]
    raw_id_fields = ["product", "status_changed_by"]
    # Stock moves with sessions (treatments.services); the admin shows it, never edits it.
    readonly_fields = [
        *AUDIT_FIELDS,
        "quantity_on_hand",
        "status_changed_at",
        "status_changed_by",
        "low_stock_alerted_at",
    ]
    date_hierarchy = "expiry_date"


@admin.register(SeriesTemplate)
class SeriesTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "clinic", "indication", "sessions_planned", "interval_weeks", "active"]
    list_filter = ["clinic", "active"]
    search_fields = ["name", "indication"]
    list_select_related = ["clinic"]
    readonly_fields = AUDIT_FIELDS


@admin.register(TreatmentSeries)
class TreatmentSeriesAdmin(admin.ModelAdmin):
    list_display = [
        "patient",
        "indication",
        "clinic",
        "sessions_planned",
        "interval_weeks",
        "status",
        "maintenance_due_on",
    ]
    list_filter = ["status", "clinic", "template"]
    search_fields = ["patient__last_name", "patient__first_name", "indication"]
    list_select_related = ["patient", "clinic"]
    raw_id_fields = ["patient", "template"]
    readonly_fields = AUDIT_FIELDS


@admin.register(Appointment)
class AppointmentAdmin(SimpleHistoryAdmin):
    list_display = [
        "starts_at",
        "ends_at",
        "clinic",
        "practitioner",
        "patient",
        "sequence",
        "status",
        "safety_hold",
    ]
    list_filter = ["status", "clinic", "safety_hold", "practitioner"]
    search_fields = ["patient__last_name", "patient__first_name", "practitioner__username"]
    list_select_related = ["clinic", "practitioner", "patient"]
    raw_id_fields = ["patient", "practitioner", "series", "hold_cleared_by"]
    readonly_fields = AUDIT_FIELDS
    date_hierarchy = "starts_at"


class SessionAddendumInline(admin.TabularInline):
    model = SessionAddendum
    extra = 0
    fields = ["created_at", "author", "text"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TreatmentSession)
class TreatmentSessionAdmin(NeverDeleteMixin, SimpleHistoryAdmin):
    list_display = [
        "performed_at",
        "clinic",
        "patient",
        "practitioner",
        "delivery_method",
        "lot",
        "units_used",
        "status",
    ]
    list_filter = ["status", "clinic", "delivery_method", "laser_type", "practitioner"]
    search_fields = ["patient__last_name", "patient__first_name", "lot__lot_number"]
    list_select_related = ["clinic", "patient", "practitioner", "lot__product"]
    raw_id_fields = [
        "patient",
        "practitioner",
        "appointment",
        "series",
        "lot",
        "signed_by",
        "report_link",
    ]
    # Stock and signing go through the workflows; the admin shows them.
    readonly_fields = [
        *AUDIT_FIELDS,
        "lot",
        "units_used",
        "report_link",
        "signed_at",
        "signed_by",
        "entered_in_error_at",
    ]
    date_hierarchy = "performed_at"
    inlines = [SessionAddendumInline]

    def has_change_permission(self, request, obj=None) -> bool:
        # A signed session is locked: corrections are addenda, written on the session's page.
        if obj is not None and obj.status != SessionStatus.OPEN:
            return False
        return super().has_change_permission(request, obj)


@admin.register(SessionAddendum)
class SessionAddendumAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "session", "author"]
    list_filter = ["session__clinic"]
    search_fields = ["text", "author__username"]
    list_select_related = ["session", "author"]
    raw_id_fields = ["session", "author"]
    readonly_fields = AUDIT_FIELDS


@admin.register(CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    list_display = ["due_at", "step_label", "state", "session", "sent_at", "answered_at"]
    list_filter = ["state", "step_code", "session__clinic"]
    search_fields = ["session__patient__last_name", "session__patient__first_name"]
    list_select_related = ["session"]
    raw_id_fields = ["session", "link", "message", "reminder"]
    readonly_fields = [*AUDIT_FIELDS, "sent_at", "reminded_at", "answered_at"]
    date_hierarchy = "due_at"


class RecallNoticeInline(admin.TabularInline):
    model = RecallNotice
    extra = 0
    fields = ["patient", "message", "call_task", "reached_at", "acknowledged_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Recall)
class RecallAdmin(NeverDeleteMixin, admin.ModelAdmin):
    list_display = ["lot", "recalled_at", "recalled_by", "messaged_at"]
    list_filter = ["lot__product__clinic"]
    search_fields = ["lot__lot_number", "lot__product__name", "reason"]
    list_select_related = ["lot__product", "recalled_by"]
    raw_id_fields = ["lot", "recalled_by"]
    # Made by treatments.services.lot_recall with the lot's status; the admin shows it.
    readonly_fields = [*AUDIT_FIELDS, "lot", "recalled_by", "recalled_at", "messaged_at"]
    inlines = [RecallNoticeInline]


@admin.register(RecallNotice)
class RecallNoticeAdmin(NeverDeleteMixin, admin.ModelAdmin):
    list_display = ["recall", "patient", "reached_at", "acknowledged_at"]
    list_filter = ["recall__lot__product__clinic"]
    search_fields = ["patient__last_name", "patient__first_name", "recall__lot__lot_number"]
    list_select_related = ["recall", "patient"]
    raw_id_fields = ["recall", "patient", "sessions", "message", "link", "call_task"]
    readonly_fields = [*AUDIT_FIELDS, "reached_at", "acknowledged_at"]
