"""The admin: superusers only, behind two factors; nothing in it can be deleted.

`admin.site` becomes `ClinicAdminSite`, a django-otp OTPAdminSite that lets in only
superusers who passed the second factor in this session (`is_staff` alone is refused: the
admin does not scope rows to a clinic, so clinics run their staff on the staff pages). Its
login form asks for the code of the user's one TOTP device, so there is no device picker.

Every registered ModelAdmin, this project's and third-party ones alike, answers
`has_delete_permission` False. Signed sessions, addenda, assessments, the audit rows and the
access logs (PatientAccess, the login attempts of django-axes) are read-only here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django_otp.admin import OTPAdminSite

from .forms import AdminLoginForm
from .models import (
    CheckInPlanStep,
    Clinic,
    ClinicClosure,
    Heartbeat,
    Invitation,
    Membership,
    StaffAuditEvent,
    User,
)


def _never_delete(request: Any, obj: Any = None) -> bool:
    return False


class ClinicAdminSite(OTPAdminSite):
    """Superusers with a verified second factor; no model admin may delete anything."""

    def has_permission(self, request: Any) -> bool:
        return super().has_permission(request) and request.user.is_superuser

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        super().register(model_or_iterable, admin_class, **options)
        forbid_deletes(self)


def forbid_deletes(site: admin.AdminSite) -> None:
    """Make every model admin registered so far refuse deletes (instance attribute, so a
    third-party class is not changed for anyone else)."""
    for model_admin in site._registry.values():
        model_admin.has_delete_permission = _never_delete  # type: ignore[method-assign]


class ReadOnlyAdminMixin:
    """Shown, never added, changed or deleted here: audit and access-log rows, addenda,
    assessments (their own pages record who changed what)."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


admin.site.__class__ = ClinicAdminSite
admin.site.disable_action("delete_selected")
forbid_deletes(admin.site)
admin.site.login_form = AdminLoginForm
admin.site.login_template = "core/admin_login.html"
admin.site.site_header = "Clinic tracker administration"
admin.site.site_title = "Clinic tracker admin"


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    fields = ["clinic", "role", "active"]
    autocomplete_fields = ["clinic"]
    can_delete = False  # a removed role stays, inactive


def _read_only_login_audit() -> None:
    """django-axes' login attempts and logs are evidence: read-only (unlock with
    `manage.py axes_reset_username`)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        if model in admin.site._registry:
            base = type(admin.site._registry[model])
            admin.site.unregister(model)
            admin.site.register(
                model, type(f"ReadOnly{base.__name__}", (ReadOnlyAdminMixin, base), {})
            )


_read_only_login_audit()


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [MembershipInline]
    list_display = ["username", "email", "first_name", "last_name", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "is_superuser", "memberships__clinic"]
    search_fields = ["username", "email", "first_name", "last_name"]
    readonly_fields = ["uuid", "last_login", "date_joined", "session_epoch"]


class ClinicClosureInline(admin.TabularInline):
    model = ClinicClosure
    extra = 0
    fields = ["starts_on", "ends_on", "reason"]


class CheckInPlanStepInline(admin.TabularInline):
    model = CheckInPlanStep
    extra = 0
    fields = ["code", "label", "offset", "active"]


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name", "country", "time_zone", "phone", "emergency_number", "on_call_email"]
    list_filter = ["time_zone"]
    search_fields = ["name", "phone", "on_call_email", "address"]
    readonly_fields = ["uuid", "created_at", "updated_at"]
    inlines = [CheckInPlanStepInline, ClinicClosureInline]


@admin.register(ClinicClosure)
class ClinicClosureAdmin(admin.ModelAdmin):
    list_display = ["clinic", "starts_on", "ends_on", "reason"]
    list_filter = ["clinic", "starts_on"]
    search_fields = ["clinic__name", "reason"]
    date_hierarchy = "starts_on"
    list_select_related = ["clinic"]


@admin.register(CheckInPlanStep)
class CheckInPlanStepAdmin(admin.ModelAdmin):
    list_display = ["clinic", "code", "label", "offset", "active"]
    list_filter = ["clinic", "active"]
    search_fields = ["clinic__name", "code", "label"]
    list_select_related = ["clinic"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "clinic", "role", "active"]
    list_filter = ["clinic", "role", "active"]
    search_fields = ["user__username", "user__email", "clinic__name"]
    list_select_related = ["user", "clinic"]
    autocomplete_fields = ["user", "clinic"]


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "beat_at"]
    search_fields = ["name"]
    readonly_fields = ["name", "beat_at"]


@admin.register(StaffAuditEvent)
class StaffAuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "clinic", "action", "subject_name", "actor", "detail"]
    list_filter = ["action", "clinic"]
    search_fields = ["subject_name", "actor__username", "detail"]
    list_select_related = ["clinic", "actor"]
    date_hierarchy = "created_at"


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "clinic", "first_name", "last_name", "email", "expires_at",
                    "accepted_at", "revoked_at"]  # fmt: skip
    list_filter = ["clinic", ("accepted_at", admin.EmptyFieldListFilter)]
    search_fields = ["first_name", "last_name", "email"]
    list_select_related = ["clinic"]
    exclude = ["token_hash"]
