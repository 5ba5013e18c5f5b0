"""Patients, their screening facts and contact preferences; and how the clinic reaches people:
personal links, the outbox (every message with its delivery state) and front-desk call tasks.

The outbox and links know nothing of sessions or check-ins (those live a floor above): an
outbox row carries ids in `context`, and the app that queued it renders it at delivery.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils import timezone
from simple_history.models import HistoricalRecords

from clinic.core.audit import AuditedQuerySet
from clinic.core.dates import DATE_OF_BIRTH
from clinic.core.models import CLINICAL_ROLES, BaseModel, Clinic, Language, choices_check

# The duplicate-detection keys, importable from here as before.
from .normalise import name_key as name_key
from .normalise import phone_key as phone_key

# A patient's reference is the start of their uuid (searchable through the uuid's index).
REFERENCE_LENGTH = 8


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Fitzpatrick(models.IntegerChoices):
    I = 1, "I — always burns, never tans"  # noqa: E741
    II = 2, "II — usually burns, tans minimally"
    III = 3, "III — sometimes burns, tans uniformly"
    IV = 4, "IV — burns minimally, always tans"
    V = 5, "V — very rarely burns, tans very easily"
    VI = 6, "VI — never burns"


class PatientQuerySet(AuditedQuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        # bulk_create skips save(): derive the duplicate-detection keys here too.
        objs = list(objs)
        for patient in objs:
            patient.derive_keys()
        return super().bulk_create(objs, *args, **kwargs)


class Patient(BaseModel):
    """A patient of one clinic: identity, contact, consent and the screening facts."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    email = models.EmailField(blank=True)
    phone = models.CharField(
        "mobile phone",
        max_length=32,
        blank=True,
        help_text="Stored in E.164 (+821012345678). Entered in the clinic's national form "
        "(010-1234-5678) or with + and the country code; checked before it is saved.",
    )
    preferred_channel = models.CharField(
        max_length=8, choices=Channel.choices, default=Channel.EMAIL
    )
    consent_to_contact = models.BooleanField(
        default=False, help_text="The patient agreed to receive check-ins and reminders."
    )
    consent_recorded_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=5, choices=Language.choices, default=Language.EN)
    # Channel stops: an SMS STOP reply or a hard email bounce ends messages on that channel.
    sms_stopped_at = models.DateTimeField(null=True, blank=True)
    email_bounced_at = models.DateTimeField(null=True, blank=True)

    # Screening facts (PRODUCT.md "Contraindications and risk factors").
    fitzpatrick_type = models.PositiveSmallIntegerField(
        choices=Fitzpatrick.choices, null=True, blank=True
    )
    allergies = models.TextField("known allergies", blank=True)
    allergic_to_product_components = models.BooleanField(
        "allergic to exosome product components", default=False
    )
    # Defaults in the database too: rows written by code that predates these facts (an older
    # migration's data step, a worker still on the previous release) get "none recorded".
    current_medications = models.TextField(
        "current medications",
        blank=True,
        default="",
        db_default="",
        help_text="What the patient takes now (names and doses as told).",
    )
    on_anticoagulants = models.BooleanField("takes blood thinners", default=False)
    on_isotretinoin = models.BooleanField(
        "isotretinoin now or in the last 6 months",
        default=False,
        db_default=False,
        help_text="Isotretinoin (e.g. Roaccutane) rules out microneedling and laser for 6 "
        "months after the last dose.",
    )
    keloid_history = models.BooleanField("history of keloids", default=False)
    autoimmune_disease = models.BooleanField(default=False)
    pregnant_or_breastfeeding = models.BooleanField(default=False)
    screening_notes = models.TextField(blank=True)

    # Derived keys for duplicate detection (patients/normalise.py); kept in sync by save():
    # the name folded and order-free, the phone's E.164 digits.
    name_key = models.CharField(max_length=200, editable=False, db_index=True)
    phone_key = models.CharField(max_length=32, editable=False, db_index=True)

    entered_in_error = models.BooleanField(default=False)
    entered_in_error_reason = models.TextField(blank=True)

    # Archived: the record stays (never deleted) but leaves lists and search unless asked
    # for; booking and logging a session are refused. `treatments/archive.py` archives.
    archived_at = models.DateTimeField(null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # A database default too: rows written by older code (a data migration's historical
    # models) leave it out.
    archived_reason = models.TextField(
        "reason for archiving", blank=True, default="", db_default=""
    )

    history = HistoricalRecords()
    objects = PatientQuerySet.as_manager()
    never_delete: ClassVar[bool] = True

    class Meta:
        verbose_name = "patient"
        verbose_name_plural = "patients"
        ordering = ["last_name", "first_name"]
        indexes = [
            models.Index(
                fields=["clinic", "name_key", "date_of_birth"], name="patient_dupe_lookup"
            ),
            # The duplicate check's email branch (email__iexact compares UPPER(email)).
            models.Index(Upper("email"), name="patient_email_upper"),
        ]
        constraints = [
            choices_check("preferred_channel", Channel, "patient_channel_valid"),
            choices_check("language", Language, "patient_language_valid"),
            models.CheckConstraint(
                condition=Q(fitzpatrick_type__isnull=True)
                | Q(fitzpatrick_type__gte=1, fitzpatrick_type__lte=6),
                name="patient_fitzpatrick_1_to_6",
                violation_error_message="Fitzpatrick type is I to VI.",
            ),
            models.CheckConstraint(
                condition=Q(preferred_channel="email", email__gt="")
                | Q(preferred_channel="sms", phone__gt=""),
                name="patient_preferred_channel_has_contact",
                violation_error_message=(
                    "The preferred channel needs its contact detail: an email address for "
                    "email, a mobile number for SMS."
                ),
            ),
            models.CheckConstraint(
                condition=Q(entered_in_error=False) | ~Q(entered_in_error_reason=""),
                name="patient_entered_in_error_has_reason",
                violation_error_message="Say why the record was entered in error.",
            ),
            models.CheckConstraint(
                condition=Q(archived_at__isnull=True, archived_reason="")
                | Q(archived_at__isnull=False, archived_reason__gt=""),
                name="patient_archived_has_reason",
                violation_error_message="Say why the patient is archived.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def clean(self) -> None:
        born: date | None = self.date_of_birth
        if born:
            # "Not in the future" is judged by the clinic's today, not the server's.
            clinic = self.clinic if self.clinic_id else None
            try:
                DATE_OF_BIRTH.check(born, clinic=clinic)
            except ValidationError as error:
                raise ValidationError({"date_of_birth": error}) from None

    def derive_keys(self) -> None:
        self.name_key = name_key(self.first_name, self.last_name)
        self.phone_key = phone_key(self.phone)
        if self.consent_to_contact and self.consent_recorded_at is None:
            self.consent_recorded_at = timezone.now()

    def save(self, *args, **kwargs) -> None:
        self.derive_keys()
        super().save(*args, **kwargs)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def reference(self) -> str:
        """The short reference staff read out and search by: the uuid's first 8 characters."""
        return self.uuid.hex[:REFERENCE_LENGTH].upper()

    def can_receive(self, channel: str) -> bool:
        """Consent given, contact known and the channel not stopped."""
        if not self.consent_to_contact or self.entered_in_error:
            return False
        if channel == Channel.EMAIL:
            return bool(self.email) and self.email_bounced_at is None
        return bool(self.phone) and self.sms_stopped_at is None


# Screening facts older than this must be confirmed again before a session (a later issue makes
# it a clinic setting). Never confirmed counts as older.
SCREENING_FACTS_MAX_AGE_DAYS = 90


class ScreeningFact(models.TextChoices):
    """The screening facts a clinician confirms one by one (the Patient field of each)."""

    FITZPATRICK_TYPE = "fitzpatrick_type", "Fitzpatrick type"
    ALLERGIES = "allergies", "Known allergies"
    ALLERGIC_TO_PRODUCT_COMPONENTS = (
        "allergic_to_product_components",
        "Allergic to exosome product components",
    )
    CURRENT_MEDICATIONS = "current_medications", "Current medications"
    ON_ANTICOAGULANTS = "on_anticoagulants", "Takes blood thinners"
    ON_ISOTRETINOIN = "on_isotretinoin", "Isotretinoin now or in the last 6 months"
    KELOID_HISTORY = "keloid_history", "History of keloids"
    AUTOIMMUNE_DISEASE = "autoimmune_disease", "Autoimmune disease"
    PREGNANT_OR_BREASTFEEDING = "pregnant_or_breastfeeding", "Pregnant or breastfeeding"


# The Patient fields that hold screening facts, in the order forms and history show them:
# the facts a clinician confirms one by one, and the free-text notes beside them.
SCREENING_FIELDS: tuple[str, ...] = (*ScreeningFact.values, "screening_notes")


class ScreeningFactConfirmation(BaseModel):
    """When a clinician last confirmed one screening fact of a patient, and who.

    One row per (patient, fact), updated in place each time the fact is confirmed: the latest
    confirmation is what screening judges (`SCREENING_FACTS_MAX_AGE_DAYS`), and the row's own
    history keeps the earlier ones. A table rather than two columns per fact on Patient, so
    that confirming facts that did not change writes no Patient history row: the patient's
    history lists only real changes of the record, and a repeated save adds nothing to it.
    """

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="fact_confirmations"
    )
    fact = models.CharField(max_length=40, choices=ScreeningFact.choices)
    confirmed_at = models.DateTimeField()
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    history = HistoricalRecords()
    objects = AuditedQuerySet.as_manager()
    clinic_path: ClassVar[str] = "patient__clinic"
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES
    never_delete: ClassVar[bool] = True

    class Meta:
        verbose_name = "screening fact confirmation"
        verbose_name_plural = "screening fact confirmations"
        constraints = [
            choices_check("fact", ScreeningFact, "screening_fact_valid"),
            models.UniqueConstraint(
                fields=["patient", "fact"],
                name="screening_fact_confirmed_once_per_patient",
                violation_error_message="This fact already has its confirmation row.",
            ),
        ]

    def __str__(self) -> str:
        when = f"{self.confirmed_at:%Y-%m-%d}"
        return f"{self.get_fact_display()} of patient {self.patient_id} confirmed {when}"


class PatientAccess(models.Model):
    """Who read or exported a patient's record, and when (the read half of the audit)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="accesses")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=40)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "patient record access"
        verbose_name_plural = "patient record accesses"
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.user} {self.action} patient {self.patient_id} at {self.at:%Y-%m-%d %H:%M}"


class LinkPurpose(models.TextChoices):
    SESSION_REPORT = "session_report", "Report at any time (aftercare sheet, 120 days)"
    CHECKIN = "checkin", "Answer one check-in (7 days)"
    RECALL = "recall", "Acknowledge a lot recall notice"


class PersonalLinkQuerySet(AuditedQuerySet):
    def live(self) -> PersonalLinkQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class PersonalLink(BaseModel):
    """A patient's personal link. Only a SHA-256 hash of the token is stored.

    The plain token exists once, in the message or QR code that carries it. A link is reusable
    until it expires or staff revoke it (re-sending issues a new link and ends the old one).
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="links")
    purpose = models.CharField(max_length=20, choices=LinkPurpose.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    use_count = models.PositiveIntegerField(default=0)

    objects = PersonalLinkQuerySet.as_manager()
    clinic_path: ClassVar[str] = "patient__clinic"

    class Meta:
        verbose_name = "personal link"
        verbose_name_plural = "personal links"
        constraints = [
            choices_check("purpose", LinkPurpose, "link_purpose_valid"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")),
                name="link_expires_after_creation",
                violation_error_message="A link must expire after it is created.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} link for patient {self.patient_id}"

    def clean(self) -> None:
        # The constraint compares with created_at, which a new row does not have yet.
        if self.expires_at and self.expires_at <= (self.created_at or timezone.now()):
            raise ValidationError({"expires_at": "A link must expire after it is created."})

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class MessageKind(models.TextChoices):
    AFTERCARE = "aftercare", "Aftercare instructions"
    CHECKIN = "checkin", "Check-in"
    CHECKIN_REMINDER = "checkin_reminder", "Check-in reminder"
    APPOINTMENT_REMINDER = "appointment_reminder", "Appointment reminder"
    APPOINTMENTS_CANCELLED = "appointments_cancelled", "Appointments cancelled"
    MAINTENANCE = "maintenance", "Maintenance reminder"
    RECALL = "recall", "Lot recall notice"
    RED_FLAG_ALERT = "red_flag_alert", "Red-flag alert to staff"
    LOW_STOCK_ALERT = "low_stock_alert", "Low stock alert to staff"
    STAFF_NOTICE = "staff_notice", "Staff notice"


class MessageState(models.TextChoices):
    PENDING = "pending", "Pending"
    CLAIMED = "claimed", "Being delivered"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    MISSED = "missed", "Missed (too late to send)"
    SUPPRESSED = "suppressed", "Not sent (no consent or channel stopped)"
    CANCELLED = "cancelled", "Cancelled"


class OutboxQuerySet(AuditedQuerySet):
    def due(self, now=None) -> OutboxQuerySet:
        return self.filter(state=MessageState.PENDING, due_at__lte=now or timezone.now())


class OutboxMessage(BaseModel):
    """One message to a patient or an alert to staff, with its due time and delivery state.

    The database is the schedule: beat sweeps due rows, claims them with a token and a lease,
    and delivery compares-and-sets on that token. Task arguments carry ids, never content.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="outbox")
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="messages"
    )
    kind = models.CharField(max_length=24, choices=MessageKind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    to_address = models.CharField(max_length=254, help_text="Email address or phone number.")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(
        blank=True,
        help_text="Fixed text; link-bearing messages are "
        "rendered at delivery so the plain token is never stored.",
    )
    context = models.JSONField(
        default=dict, blank=True, help_text="Ids the renderer needs (no patient data)."
    )
    idempotency_key = models.CharField(
        max_length=120, unique=True, help_text="One message per purpose, e.g. checkin:42."
    )
    due_at = models.DateTimeField()
    state = models.CharField(
        max_length=12, choices=MessageState.choices, default=MessageState.PENDING
    )
    claim_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    send_started_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the current claim began handing it to the provider (committed before "
        "the call). Set on a claimed row whose worker died: it may have reached the provider.",
    )
    duplicate_suspected = models.BooleanField(
        default=False, help_text="A send may have been repeated after a crash."
    )

    objects = OutboxQuerySet.as_manager()

    class Meta:
        verbose_name = "outbox message"
        verbose_name_plural = "outbox messages"
        ordering = ["due_at"]
        indexes = [
            # The sweeper's query: due pending rows, oldest first.
            models.Index(
                fields=["due_at"], name="outbox_due_pending", condition=Q(state="pending")
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="outbox_claimed_lease",
                condition=Q(state="claimed"),
            ),
            models.Index(fields=["clinic", "state", "due_at"], name="outbox_clinic_state"),
        ]
        constraints = [
            choices_check("kind", MessageKind, "outbox_kind_valid"),
            choices_check("channel", Channel, "outbox_channel_valid"),
            choices_check("state", MessageState, "outbox_state_valid"),
            models.CheckConstraint(
                condition=~Q(state="claimed")
                | Q(claim_token__isnull=False, lease_expires_at__isnull=False),
                name="outbox_claim_has_token_and_lease",
                violation_error_message="A claimed message needs a claim token and a lease.",
            ),
            models.CheckConstraint(
                condition=~Q(state="sent") | Q(sent_at__isnull=False),
                name="outbox_sent_has_time",
                violation_error_message="A sent message records when it was sent.",
            ),
            models.CheckConstraint(
                condition=~Q(to_address=""),
                name="outbox_has_recipient",
                violation_error_message="A message needs a recipient address.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} via {self.channel} due {self.due_at:%Y-%m-%d %H:%M}"


class CallReason(models.TextChoices):
    UNANSWERED_CHECKIN = "unanswered_checkin", "Check-in unanswered"
    FAILED_MESSAGE = "failed_message", "Message could not be delivered"
    MISSED_MESSAGE = "missed_message", "Message too late to send"
    NO_CONTACT = "no_contact", "No way to reach the patient by message"
    RECALL = "recall", "Lot recall: patient not reached"
    OTHER = "other", "Other"


class CallState(models.TextChoices):
    OPEN = "open", "To call"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class CallTask(BaseModel):
    """A call the front desk should make. Carries only what the call needs, no clinical notes."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="call_tasks")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="call_tasks")
    reason = models.CharField(max_length=24, choices=CallReason.choices)
    message = models.ForeignKey(
        OutboxMessage, on_delete=models.PROTECT, null=True, blank=True, related_name="call_tasks"
    )
    dedupe_key = models.CharField(
        max_length=120, unique=True, help_text="One task per cause, e.g. checkin:42."
    )
    due_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=12, choices=CallState.choices, default=CallState.OPEN)
    outcome = models.TextField(blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        verbose_name = "call task"
        verbose_name_plural = "call tasks"
        ordering = ["due_at"]
        indexes = [models.Index(fields=["clinic", "state", "due_at"], name="calltask_open")]
        constraints = [
            choices_check("reason", CallReason, "calltask_reason_valid"),
            choices_check("state", CallState, "calltask_state_valid"),
            models.CheckConstraint(
                condition=~Q(state="done") | Q(done_at__isnull=False),
                name="calltask_done_has_time",
                violation_error_message="A finished call records when it was made.",
            ),
        ]

    def __str__(self) -> str:
        return f"Call patient {self.patient_id}: {self.get_reason_display()}"
