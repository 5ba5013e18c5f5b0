"""The ground floor: base model, clinics, staff and their roles, audit plumbing.

Every clinical row belongs to a clinic; staff see only the clinics they are members of, and
only what their role may. `ScopedQuerySet.visible_to(user)` is the one place that rule lives.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_otp.models import Device

from .recovery import check_recovery_code, normalise_recovery_code

if TYPE_CHECKING:
    from collections.abc import Iterable
    from contextlib import AbstractContextManager


class Language(models.TextChoices):
    """The languages the app speaks to patients and staff in (pages and messages)."""

    EN = "en", "English"
    KO = "ko", "한국어"


class Role(models.TextChoices):
    PRACTITIONER = "practitioner", "Practitioner"
    FRONT_DESK = "front_desk", "Front desk"
    SAFETY_LEAD = "safety_lead", "Safety lead"
    MANAGER = "manager", "Manager"


# Every role set the code uses, defined once (a test refuses a set of roles written elsewhere).
# Clinicians read clinical records, log sessions and clear a safety hold.
CLINICAL_ROLES = frozenset({Role.PRACTITIONER, Role.SAFETY_LEAD})
# Products and lots, series templates, recalls and the review of a lot signal.
SAFETY_LEAD_ONLY = frozenset({Role.SAFETY_LEAD})
# Whom an appointment may be booked with, and whom every practitioner picker offers.
BOOKABLE_ROLES = frozenset({Role.PRACTITIONER})
# Who may archive and unarchive a patient: the front desk and practitioners (the safety lead
# reads patients' records but does not archive them).
ARCHIVE_ROLES = frozenset({Role.PRACTITIONER, Role.FRONT_DESK})
# Staff who work with patients (register, book, call, treat): the default of every page, API
# view and model. A manager alone is not one: they look after staff, never patients.
PATIENT_ROLES = frozenset({Role.PRACTITIONER, Role.FRONT_DESK, Role.SAFETY_LEAD})
# Invitations, roles, deactivation and the staff audit of a clinic.
MANAGER_ONLY = frozenset({Role.MANAGER})
# A clinic's check-in settings (plan, quiet hours, reminder delays): clinical settings, so
# the safety lead sets them as well as the manager (who alone sets the rest).
CHECKIN_SETTINGS_ROLES = frozenset({Role.MANAGER, Role.SAFETY_LEAD})
# Any staff role: only for what every staff member may see (their clinics, the layout).
ALL_ROLES = frozenset(Role)


def choices_check(
    field: str, choices: type[models.TextChoices], name: str
) -> models.CheckConstraint:
    """A named check constraint that backs a TextChoices field in the database."""
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": choices.values}),
        name=name,
        violation_error_message=f"{field} must be one of: {', '.join(choices.values)}.",
    )


class ScopedQuerySet(models.QuerySet):
    """QuerySet that restricts itself to a user's clinics and roles.

    A model names the path from itself to its Clinic in `clinic_path` ("clinic",
    "patient__clinic", ...; "" for Clinic itself, None for shared reference data such as the
    reaction vocabulary) and which roles may read it in `read_roles`. `visible_to(user)` keeps
    the rows of clinics where the user holds one of those roles. Pages and API views get their
    querysets through this one method (see clinic/core/access.py), so none can forget it.
    """

    def visible_to(self, user: Any, roles: Iterable[str] | None = None) -> ScopedQuerySet:
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        model_roles = getattr(self.model, "read_roles", PATIENT_ROLES)
        if roles is None:
            # A model may open itself to more roles than a view that names none gets.
            roles = getattr(self.model, "default_read_roles", None) or model_roles
        else:
            # Asking for roles never widens who reads a model (the staff audit stays the
            # manager's whatever role a caller names).
            roles = frozenset(roles) & frozenset(model_roles)
        clinic_ids = Membership.clinic_ids_for(user, roles)
        path = getattr(self.model, "clinic_path", "clinic")
        if path is None:
            return self if clinic_ids.exists() else self.none()
        lookup = "pk__in" if path == "" else f"{path}__in"
        return self.filter(**{lookup: clinic_ids})


class BaseModel(models.Model):
    """Timestamps on every row and a public UUID for URLs; the integer key stays internal."""

    uuid = models.UUIDField("public id", default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField("created", auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField("updated", auto_now=True)

    objects = ScopedQuerySet.as_manager()

    clinic_path: ClassVar[str | None] = "clinic"
    # Staff who work with patients; a model open to managers too says so (Clinic, Membership).
    read_roles: ClassVar[frozenset[str]] = PATIENT_ROLES
    # Not a column: True on the record a create service hands back when its form token had
    # already made it (the `created: False` of clinic/core/formtokens.py).
    already_submitted: bool = False

    class Meta:
        abstract = True

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if getattr(self, "never_delete", False):
            from .exceptions import RuleViolation

            raise RuleViolation(
                f"{self._meta.verbose_name_plural} are clinical records and are never "
                "deleted; mark them entered in error instead."
            )
        return super().delete(*args, **kwargs)


class User(AbstractUser):
    """A staff member. Patients never have accounts."""

    uuid = models.UUIDField("public id", default=uuid.uuid4, unique=True, editable=False)
    # The staff member's own choice on their profile page; empty follows the browser.
    language = models.CharField(
        "language of the staff pages", max_length=5, choices=Language.choices, blank=True
    )
    # Copied into the session at login; raising it ends every session and the middleware
    # logs out a session holding an older one (deactivation, a reset second factor). Works
    # with any session backend, unlike deleting session rows.
    session_epoch = models.PositiveIntegerField("session epoch", default=0, editable=False)

    objects = UserManager()

    class Meta:
        verbose_name = "staff user"
        verbose_name_plural = "staff users"

    @property
    def display_name(self) -> str:
        """How people see this staff member everywhere: the full name, else the username."""
        return self.get_full_name() or self.get_username()

    def __str__(self) -> str:
        return self.display_name

    def roles_at(self, clinic: Clinic) -> set[str]:
        return set(
            self.memberships.filter(clinic=clinic, active=True).values_list("role", flat=True)
        )


def _validate_timezone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone.")


def _parse_hhmm(value: object) -> time | None:
    """'9:00' or '09:00' as a time; None for anything else (compared as times, not text)."""
    try:
        return datetime.strptime(str(value), "%H:%M").time()
    except ValueError:
        return None


def tel_target(number: str) -> str:
    """A phone number as a tel: link target: its digits, with a leading + kept."""
    digits = "".join(c for c in number if c.isdigit())
    return f"+{digits}" if number.strip().startswith("+") and digits else digits


def _as_time(value: time | str) -> time:
    return value if isinstance(value, time) else time.fromisoformat(str(value))


# Defaults of a clinic's check-in follow-up (each clinic may change them on its settings page).
CHECKIN_REMINDER_DELAY = timedelta(hours=24)
CHECKIN_CALL_DELAY = timedelta(hours=24)


def default_opening_hours() -> dict[str, list[str]]:
    # ISO weekday (1 = Monday) -> [open, close] in local time; a missing day is closed.
    return {str(d): ["09:00", "18:00"] for d in range(1, 6)} | {"6": ["10:00", "14:00"]}


class Clinic(BaseModel):
    """A clinic location. Time zone, opening hours and the check-in plan are per clinic."""

    name = models.CharField(max_length=200, unique=True)
    time_zone = models.CharField(max_length=64, validators=[_validate_timezone])
    phone = models.CharField("phone for patients", max_length=40)
    country = models.CharField(
        max_length=2,
        help_text="ISO 3166 country code (KR, US): the default region of phone numbers.",
    )
    emergency_number = models.CharField(
        max_length=10,
        help_text="The local emergency number patients are told to call (119 in Korea, 911 "
        "in the US). Never written into a template: every page and message reads it here.",
    )
    staff_language = models.CharField(
        "language of staff messages",
        max_length=5,
        choices=Language.choices,
        default=Language.EN,
        help_text="On-call alerts and other messages to this clinic's staff are in it.",
    )
    on_call_email = models.EmailField("on-call address for red-flag alerts")
    on_call_sms = models.CharField(
        "on-call mobile for red-flag alerts",
        max_length=40,
        blank=True,
        help_text="A mobile number in international form, e.g. +82 10 1234 5678 (optional).",
    )
    address = models.TextField(blank=True)
    opening_hours = models.JSONField(default=default_opening_hours)
    quiet_hours_start = models.TimeField(default="21:00")
    quiet_hours_end = models.TimeField(default="08:00")
    # An unanswered check-in is reminded once after `checkin_reminder_delay`, then becomes a
    # call task for the front desk `checkin_call_delay` after the reminder.
    checkin_reminder_delay = models.DurationField(
        "reminder after an unanswered check-in", default=CHECKIN_REMINDER_DELAY
    )
    checkin_call_delay = models.DurationField(
        "call task after the reminder", default=CHECKIN_CALL_DELAY
    )
    low_stock_threshold = models.PositiveIntegerField(
        default=5, help_text="Alert the safety lead when a lot falls to this many units."
    )

    clinic_path: ClassVar[str] = ""
    # Any staff role may be shown its clinics (a manager's staff pages ask with MANAGER_ONLY);
    # a view that names no roles gets the clinics where the user works with patients, so a
    # front desk who also manages another clinic registers patients only where they work.
    read_roles: ClassVar[frozenset[str]] = ALL_ROLES
    default_read_roles: ClassVar[frozenset[str]] = PATIENT_ROLES

    class Meta:
        verbose_name = "clinic"
        verbose_name_plural = "clinics"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    # --- the clinic's clock: the only place a clinic's time zone becomes times -------------

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def now(self) -> datetime:
        """This instant on the clinic's wall clock (an aware datetime in its zone)."""
        return timezone.now().astimezone(self.zone)

    def today(self) -> date:
        """Today's date at the clinic: every "today" rule (date of birth, lot expiry, a
        session's day) compares with this, never with the server's date."""
        return self.now().date()

    def local(self, moment: datetime) -> datetime:
        """`moment` on the clinic's wall clock."""
        return moment.astimezone(self.zone)

    def at_local(self, day: date, at: time) -> datetime:
        """The instant the clinic's wall clock shows `at` on `day`.

        Raises RuleViolation for a time skipped by a spring-forward change (02:30 on the
        March Sunday in New York does not exist).
        """
        from .exceptions import RuleViolation

        aware = datetime.combine(day, at, tzinfo=self.zone)
        round_trip = aware.astimezone(UTC).astimezone(self.zone)
        if round_trip.replace(tzinfo=None) != aware.replace(tzinfo=None):
            raise RuleViolation(f"{at:%H:%M} does not exist on {day:%d %b %Y} (clocks go forward).")
        return aware

    def day_span(self, day: date) -> tuple[datetime, datetime]:
        """The first instant of `day` at the clinic and the first of the next day."""
        start = datetime.combine(day, time(0), tzinfo=self.zone)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
        return start, end

    def opening_span(self, day: date) -> tuple[time, time] | None:
        """Opening and closing time on `day` (local), or None when the clinic is shut."""
        span = (self.opening_hours or {}).get(str(day.isoweekday()))
        if not span:
            return None
        opens, closes = (_parse_hhmm(v) for v in span)
        if opens is None or closes is None:
            return None
        return opens, closes

    def outside_quiet_hours(self, moment: datetime) -> datetime:
        """`moment`, moved to the end of the clinic's quiet hours if it falls inside them.

        Quiet hours may wrap midnight (21:00-08:00, the default) or not (13:00-14:00).
        """
        start, end = _as_time(self.quiet_hours_start), _as_time(self.quiet_hours_end)
        if start == end:
            return moment
        local = self.local(moment)
        t = local.time()
        if start > end:  # wraps midnight
            if t >= start:
                target_day = local.date() + timedelta(days=1)
            elif t < end:
                target_day = local.date()
            else:
                return moment
        elif start <= t < end:
            target_day = local.date()
        else:
            return moment
        return datetime.combine(target_day, end, tzinfo=self.zone).astimezone(moment.tzinfo)

    def activate(self) -> AbstractContextManager[None]:
        """`with clinic.activate():` renders dates and times (templates, `localtime`, forms)
        on the clinic's wall clock for the duration of the block."""
        return timezone.override(self.zone)

    @property
    def phone_tel(self) -> str:
        """The clinic's phone as a tel: target (digits and a leading +)."""
        return tel_target(self.phone)

    @property
    def emergency_tel(self) -> str:
        return tel_target(self.emergency_number)

    def clean(self) -> None:
        errors = {}
        if self.country and not (len(self.country) == 2 and self.country.isalpha()):
            errors["country"] = "Give the two-letter country code, e.g. KR or US."
        else:
            self.country = (self.country or "").upper()
        if self.emergency_number and not self.emergency_number.isdigit():
            errors["emergency_number"] = "Give the emergency number as digits only, e.g. 119."
        hours = self.opening_hours or {}
        if not isinstance(hours, dict):
            errors["opening_hours"] = "Opening hours must map ISO weekdays 1-7 to [open, close]."
        else:
            for day, span in hours.items():
                if day not in {str(d) for d in range(1, 8)}:
                    errors["opening_hours"] = f"Unknown weekday {day!r}; use 1 (Monday) to 7."
                elif not (isinstance(span, list) and len(span) == 2):
                    errors["opening_hours"] = f"Day {day}: give [open, close], e.g. 09:00, 18:00."
                else:
                    opens, closes = (_parse_hhmm(v) for v in span)
                    if opens is None or closes is None:
                        errors["opening_hours"] = f"Day {day}: times are HH:MM, e.g. 09:00."
                    elif opens >= closes:
                        errors["opening_hours"] = f"Day {day}: give [open, close] with open first."
        if errors:
            raise ValidationError(errors)


class ClinicClosure(BaseModel):
    """A day range when a clinic is closed (holidays, refurbishment)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="closures")
    starts_on = models.DateField()
    ends_on = models.DateField()
    reason = models.CharField(max_length=200, blank=True)

    # Booking and the calendar read them with the clinic; the manager's settings page too.
    read_roles: ClassVar[frozenset[str]] = ALL_ROLES
    default_read_roles: ClassVar[frozenset[str]] = PATIENT_ROLES

    class Meta:
        verbose_name = "clinic closure"
        verbose_name_plural = "clinic closures"
        ordering = ["starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")),
                name="closure_ends_after_start",
                violation_error_message="A closure must end on or after the day it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinic} closed {self.starts_on}..{self.ends_on}"


class CheckInPlanStep(BaseModel):
    """One step of a clinic's follow-up plan: a check-in `offset` after each session.

    Default: day 1, 3, 7, 14, week 6, month 3 (PRODUCT.md explains why).
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="checkin_plan")
    code = models.SlugField(max_length=20, help_text="Stable name, e.g. d1, d3, w6, m3.")
    label = models.CharField(max_length=60)
    offset = models.DurationField()
    active = models.BooleanField(default=True)

    # The manager and the safety lead edit the plan on the clinic's settings pages.
    read_roles: ClassVar[frozenset[str]] = ALL_ROLES
    default_read_roles: ClassVar[frozenset[str]] = PATIENT_ROLES

    DEFAULT_PLAN: ClassVar[list[tuple[str, str, timedelta]]] = [
        ("d1", "Day 1", timedelta(days=1)),
        ("d3", "Day 3", timedelta(days=3)),
        ("d7", "Day 7", timedelta(days=7)),
        ("d14", "Day 14", timedelta(days=14)),
        ("w6", "Week 6", timedelta(weeks=6)),
        ("m3", "Month 3", timedelta(days=91)),
    ]

    class Meta:
        verbose_name = "check-in plan step"
        verbose_name_plural = "check-in plan steps"
        ordering = ["clinic", "offset"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "code"],
                name="plan_step_code_unique_per_clinic",
                violation_error_message="This clinic's plan already has a step with that code.",
            ),
            models.CheckConstraint(
                condition=Q(offset__gt=timedelta(0)),
                name="plan_step_offset_positive",
                violation_error_message="A check-in must come after the session.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinic}: {self.label}"


class MembershipQuerySet(models.QuerySet):
    def active(self) -> MembershipQuerySet:
        return self.filter(active=True, user__is_active=True)


class Membership(BaseModel):
    """One role of a staff member at one clinic: a row per role, so a practitioner who also
    manages the clinic has two. A user may work at several clinics. A removed role is kept
    inactive (the staff audit tells when and by whom)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    active = models.BooleanField(default=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = "clinic membership"
        verbose_name_plural = "clinic memberships"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "clinic", "role"],
                name="membership_one_row_per_role",
                violation_error_message="This person already has this role at this clinic.",
            ),
            choices_check("role", Role, "membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.clinic}"

    @staticmethod
    def clinic_ids_for(user: Any, roles: Iterable[str] | None = None) -> models.QuerySet:
        qs = Membership.objects.active().filter(user=user)
        if roles is not None:
            qs = qs.filter(role__in=list(roles))
        return qs.values("clinic_id")


class Heartbeat(models.Model):
    """The last time each periodic task ran: the health check reads these."""

    name = models.CharField(max_length=60, unique=True)
    beat_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "heartbeat"
        verbose_name_plural = "heartbeats"

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class FormToken(models.Model):
    """A staff create form's one-time token, claimed by the service that made its record.

    Each create form carries a fresh UUID; the service inserts it here first, in its own
    transaction, so a second POST of the same form (a double click, a resubmit after a slow
    answer, two at the same instant) makes nothing and gets the first one's record back
    (`clinic/core/formtokens.py` explains why one table rather than a column per model).
    """

    token = models.UUIDField("form token")
    record_type = models.CharField(
        "record type", max_length=100, help_text="The created model, as app_label.model_name."
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    record_id = models.PositiveBigIntegerField("record id", null=True, blank=True)
    created_at = models.DateTimeField("used", default=timezone.now)

    class Meta:
        verbose_name = "used form token"
        verbose_name_plural = "used form tokens"
        constraints = [
            models.UniqueConstraint(
                fields=["token"],
                name="form_token_used_once",
                violation_error_message="This form was already submitted.",
            )
        ]

    def __str__(self) -> str:
        return f"Form token {self.token} ({self.record_type})"


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


# --- account security: audit of self-service changes, hashed recovery codes ---------------


class SecurityEventKind(models.TextChoices):
    PASSWORD_CHANGED = "password_changed", "Password changed"
    PASSWORD_RESET = "password_reset", "Password reset by email"
    RECOVERY_CODES_ISSUED = "recovery_codes_issued", "Recovery codes issued"
    RECOVERY_CODE_USED = "recovery_code_used", "Recovery code used to log in"
    AUTHENTICATOR_REPLACED = "authenticator_replaced", "Authenticator app replaced"


class SecurityEvent(models.Model):
    """One change a staff member made to their own login: who, what, when.

    Holds no secret and no address: `detail` is a plain remark ("7 recovery codes left").
    Rows are kept when the account is deactivated (PROTECT).
    """

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="security_events")
    kind = models.CharField(max_length=30, choices=SecurityEventKind.choices)
    at = models.DateTimeField("when", default=timezone.now, db_index=True)
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "security event"
        verbose_name_plural = "security events"
        ordering = ["-at", "-pk"]
        constraints = [choices_check("kind", SecurityEventKind, "security_event_kind_valid")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: user {self.user_id} at {self.at:%Y-%m-%d %H:%M}"


class RecoveryCodeDevice(Device):
    """A user's set of single-use recovery codes, as a django-otp device.

    django-otp's static tokens are stored in plain text; here each code is kept only as a
    salted PBKDF2 hash (`clinic/core/recovery.py`), so the database holds nothing that logs in.
    A used code is marked used, atomically, so two logins with one code cannot both pass.
    The login form asks this device when the code typed is not six digits.
    """

    class Meta:
        verbose_name = "recovery code set"
        verbose_name_plural = "recovery code sets"
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                name="recovery_device_one_per_user",
                violation_error_message="This user already has a set of recovery codes.",
            )
        ]

    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()

    def verify_token(self, token: str) -> bool:
        normalised = normalise_recovery_code(token)
        if normalised is None:
            return False
        for code in self.codes.filter(used_at__isnull=True).order_by("pk"):
            if check_recovery_code(normalised, code.hashed):
                # The conditional UPDATE is the single use: of two racing logins, one wins.
                claimed = RecoveryCode.objects.filter(pk=code.pk, used_at__isnull=True).update(
                    used_at=timezone.now()
                )
                return claimed == 1
        return False


class RecoveryCode(models.Model):
    """One recovery code, as a salted hash; `used_at` is set when it logs someone in."""

    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    hashed = models.CharField("hash of the code", max_length=200)
    used_at = models.DateTimeField("used", null=True, blank=True)

    class Meta:
        verbose_name = "recovery code"
        verbose_name_plural = "recovery codes"

    def __str__(self) -> str:
        return f"Recovery code {self.pk} of device {self.device_id}"


# How long an invitation link works after it was sent.
INVITATION_VALID_FOR = timedelta(hours=72)


class Invitation(BaseModel):
    """A manager's invitation of a new staff member to a clinic, with the roles they will hold.

    The link's token exists only in the email; the row keeps its SHA-256. It works once
    (`accepted_at`) and for `INVITATION_VALID_FOR` after it was sent.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="invitations")
    first_name = models.CharField("first name", max_length=150)
    last_name = models.CharField("last name", max_length=150, blank=True)
    email = models.EmailField("email")
    username = models.CharField(
        "username",
        max_length=150,
        blank=True,
        help_text="Leave empty to let the new colleague choose one.",
    )
    roles = models.JSONField("roles", default=list)
    token_hash = models.CharField("token hash", max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField("expires")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    accepted_at = models.DateTimeField("accepted", null=True, blank=True)
    revoked_at = models.DateTimeField("withdrawn", null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invitations_accepted",
    )

    read_roles: ClassVar[frozenset[str]] = MANAGER_ONLY

    class Meta:
        verbose_name = "staff invitation"
        verbose_name_plural = "staff invitations"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation of {self.display_name} to {self.clinic}"

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def pending(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )

    def role_labels(self) -> list[str]:
        return [Role(r).label for r in self.roles if r in Role.values]


class StaffAction(models.TextChoices):
    INVITED = "invited", "Invited"
    INVITATION_ACCEPTED = "invitation_accepted", "Accepted the invitation"
    INVITATION_WITHDRAWN = "invitation_withdrawn", "Invitation withdrawn"
    ROLE_ADDED = "role_added", "Role added"
    ROLE_REMOVED = "role_removed", "Role removed"
    DEACTIVATED = "deactivated", "Deactivated"
    REACTIVATED = "reactivated", "Reactivated"
    SECOND_FACTOR_RESET = "second_factor_reset", "Second factor reset"
    SETTINGS_CHANGED = "settings_changed", "Clinic settings changed"


class StaffAuditEvent(BaseModel):
    """Who changed whose access at a clinic, what and when: append-only, shown to managers."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="staff_audit")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    # The invitee's name while they have no account yet (or the subject's name at the time).
    subject_name = models.CharField("about", max_length=300, blank=True)
    action = models.CharField(max_length=30, choices=StaffAction.choices)
    detail = models.CharField(max_length=500, blank=True)

    read_roles: ClassVar[frozenset[str]] = MANAGER_ONLY

    class Meta:
        verbose_name = "staff audit event"
        verbose_name_plural = "staff audit events"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["clinic", "-created_at"], name="staff_audit_clinic_time")]
        constraints = [choices_check("action", StaffAction, "staff_audit_action_valid")]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.subject_name} at {self.clinic}"

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        from .exceptions import RuleViolation

        raise RuleViolation("The staff audit is append-only.")
