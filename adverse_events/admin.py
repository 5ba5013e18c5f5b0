"""Admin for the reaction vocabulary, what patients reported, assessments, alarms, signals
and the summary tables.

A patient's words are never edited in place: submissions and reaction reports are read-only
here; the practitioner's judgement goes in the Assessment beside each report.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from clinic.core.admin import ReadOnlyAdminMixin
from patients.admin import AUDIT_FIELDS, NeverDeleteMixin

from .models import (
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
    SummaryFillState,
)


class ReadOnlyMixin:
    """Everything shown, nothing editable or addable (patient-submitted records)."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(ReactionTerm)
class ReactionTermAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "patient_label",
        "locality",
        "usual_course_days",
        "red_flag",
        "sentinel",
        "display_order",
        "active",
    ]
    list_filter = ["locality", "red_flag", "sentinel", "active"]
    search_fields = ["code", "name", "patient_label", "patient_label_ko"]
    readonly_fields = [*AUDIT_FIELDS, "code"]


@admin.register(ClinicTermCode)
class ClinicTermCodeAdmin(admin.ModelAdmin):
    list_display = ["clinic", "term", "system", "code"]
    list_filter = ["clinic", "system"]
    search_fields = ["code", "term__name", "term__code"]
    list_select_related = ["clinic", "term"]
    readonly_fields = AUDIT_FIELDS


class ReactionReportInline(admin.TabularInline):
    model = ReactionReport
    extra = 0
    fields = ["term", "other_text", "onset_date", "ongoing", "ended_on", "patient_severity"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Submission)
class SubmissionAdmin(NeverDeleteMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "clinic", "patient", "source", "all_fine", "red_flag"]
    list_filter = ["source", "all_fine", "red_flag", "clinic", "language"]
    search_fields = ["patient__last_name", "patient__first_name", "submission_id"]
    list_select_related = ["clinic", "patient"]
    raw_id_fields = ["patient", "session", "checkin", "link", "reported_by"]
    readonly_fields = [*AUDIT_FIELDS, "submission_id"]
    date_hierarchy = "created_at"
    inlines = [ReactionReportInline]


@admin.register(SubmissionPhoto)
class SubmissionPhotoAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["uuid", "submission", "content_type", "width", "height", "size_bytes"]
    list_filter = ["content_type", "submission__clinic"]
    search_fields = ["uuid"]
    list_select_related = ["submission"]
    raw_id_fields = ["submission"]
    # The file is served by the private photo view, never a public media URL.
    exclude = ["image"]
    readonly_fields = AUDIT_FIELDS


class AssessmentInline(admin.StackedInline):
    model = Assessment
    extra = 0
    can_delete = False
    raw_id_fields = ["assessed_by"]
    readonly_fields = AUDIT_FIELDS


@admin.register(ReactionReport)
class ReactionReportAdmin(NeverDeleteMixin, ReadOnlyMixin, SimpleHistoryAdmin):
    list_display = [
        "created_at",
        "term",
        "patient",
        "clinic",
        "patient_severity",
        "ongoing",
        "prolonged_since",
        "source",
    ]
    list_filter = ["term", "patient_severity", "ongoing", "source", "clinic"]
    search_fields = ["patient__last_name", "patient__first_name", "term__name", "other_text"]
    list_select_related = ["term", "patient", "clinic"]
    raw_id_fields = ["patient", "session", "submission"]
    readonly_fields = AUDIT_FIELDS
    date_hierarchy = "created_at"


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "report",
        "triage_status",
        "severity_grade",
        "causality",
        "outcome",
        "assessed_by",
        "assessed_at",
    ]
    list_filter = ["triage_status", "severity_grade", "causality", "outcome", "report__clinic"]
    search_fields = ["report__patient__last_name", "report__term__name", "notes"]
    list_select_related = ["report__term", "assessed_by"]
    raw_id_fields = ["report", "assessed_by"]
    readonly_fields = AUDIT_FIELDS


@admin.register(Alarm)
class AlarmAdmin(SimpleHistoryAdmin):
    list_display = [
        "raised_at",
        "clinic",
        "patient",
        "severity",
        "last_reported_at",
        "acknowledged_by",
        "acknowledged_at",
    ]
    list_filter = ["clinic", ("acknowledged_at", admin.EmptyFieldListFilter)]
    search_fields = ["patient__last_name", "patient__first_name", "acknowledgement_note"]
    list_select_related = ["clinic", "patient", "acknowledged_by"]
    raw_id_fields = ["patient", "session", "submission", "terms", "acknowledged_by"]
    # What the patient reported and when messages went out are the service's to set.
    readonly_fields = [
        *AUDIT_FIELDS,
        "raised_at",
        "last_reported_at",
        "alerted_at",
        "severity",
    ]
    date_hierarchy = "raised_at"


@admin.register(LotSignal)
class LotSignalAdmin(SimpleHistoryAdmin):
    list_display = ["created_at", "lot", "kind", "term", "cases", "exposure", "status"]
    list_filter = ["kind", "status", "lot__product__clinic"]
    search_fields = ["lot__lot_number", "lot__product__name", "dedupe_key"]
    list_select_related = ["lot__product", "term"]
    raw_id_fields = ["lot", "term", "report", "reviewed_by"]
    readonly_fields = [
        *AUDIT_FIELDS,
        "dedupe_key",
        "cases",
        "exposure",
        "rate",
        "ci_low",
        "ci_high",
        "rate_ratio",
        "rr_ci_low",
        "p_value",
    ]
    date_hierarchy = "created_at"


# Summary tables are derived data: adverse_events.summaries rebuilds them, nobody edits them.


class SummaryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(LotWeekSummary)
class LotWeekSummaryAdmin(SummaryAdmin):
    list_display = ["lot", "week", "sessions", "cases"]
    list_filter = ["lot__product__clinic"]
    search_fields = ["lot__lot_number", "lot__product__name"]
    list_select_related = ["lot__product"]
    date_hierarchy = "week"


@admin.register(LotTermSummary)
class LotTermSummaryAdmin(SummaryAdmin):
    list_display = ["lot", "term", "cases"]
    list_filter = ["lot__product__clinic", "term"]
    search_fields = ["lot__lot_number", "lot__product__name", "term__name"]
    list_select_related = ["lot__product", "term"]


@admin.register(ReactionWeekSummary)
class ReactionWeekSummaryAdmin(SummaryAdmin):
    list_display = ["clinic", "week", "term", "reports"]
    list_filter = ["clinic", "term"]
    search_fields = ["term__name", "term__code"]
    list_select_related = ["clinic", "term"]
    date_hierarchy = "week"


@admin.register(CheckInWeekSummary)
class CheckInWeekSummaryAdmin(SummaryAdmin):
    list_display = ["clinic", "week", "step_code", "day_after", "sent", "answered"]
    list_filter = ["clinic", "step_code"]
    search_fields = ["step_code"]
    list_select_related = ["clinic"]
    date_hierarchy = "week"


@admin.register(SummaryFillState)
class SummaryFillStateAdmin(SummaryAdmin):
    list_display = ["name", "filled_until", "last_run_at", "last_keys"]
    search_fields = ["name"]
