"""The admin, behind two factors, and the core models in it.

`admin.site` becomes django-otp's OTPAdminSite: only `is_staff` users who passed the second
factor in this session get in. Its login form asks for the code of the user's one TOTP device
(the same rule as the staff login), so there is no device picker.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django_otp.admin import OTPAdminSite

from .forms import AdminLoginForm
from .models import CheckInPlanStep, Clinic, ClinicClosure, Heartbeat, Membership, User

admin.site.__class__ = OTPAdminSite
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


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [MembershipInline]
    list_display = ["username", "email", "first_name", "last_name", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "is_superuser", "memberships__clinic"]
    search_fields = ["username", "email", "first_name", "last_name"]
    readonly_fields = ["uuid", "last_login", "date_joined"]


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
