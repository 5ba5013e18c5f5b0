"""Products and lots, series templates and series, appointments, treatment sessions with their
addenda, and the follow-up check-ins planned after each session.

The practitioner-overlap guarantee for appointments is an exclusion constraint on PostgreSQL
(see migration 0002) and a check inside the booking transaction on SQLite.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from clinic.core.audit import AuditedQuerySet
from clinic.core.models import CLINICAL_ROLES, BaseModel, Clinic, choices_check
from patients.models import OutboxMessage, Patient, PersonalLink


class ProductSource(models.TextChoices):
    ADIPOSE_MSC = "adipose_msc", "Human MSC — adipose"
    BONE_MARROW_MSC = "bone_marrow_msc", "Human MSC — bone marrow"
    UMBILICAL_CORD_MSC = "umbilical_cord_msc", "Human MSC — umbilical cord"
    PLANT = "plant", "Plant-derived"
    OTHER = "other", "Other"


class ProductForm(models.TextChoices):
    GEL_SERUM = "gel_serum", "Gel / serum"
    LYOPHILISED = "lyophilised", "Lyophilised powder"
    SOLUTION = "solution", "Injectable solution"
    OTHER = "other", "Other"


class Storage(models.TextChoices):
    FROZEN = "frozen", "Frozen (-20 °C or colder)"
    REFRIGERATED = "refrigerated", "Refrigerated (2-8 °C)"
    ROOM = "room", "Room temperature"


class Product(BaseModel):
    """An exosome product a clinic uses. Lots of it are received and tracked separately."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=200)
    manufacturer = models.CharField(max_length=200)
    source = models.CharField(max_length=24, choices=ProductSource.choices)
    form = models.CharField(max_length=16, choices=ProductForm.choices)
    storage = models.CharField(max_length=16, choices=Storage.choices)
    unit = models.CharField(max_length=30, default="vial", help_text="Unit of use for stock.")
    components = models.TextField(blank=True, help_text="Declared components (for allergies).")
    active = models.BooleanField(default=True)

    history = HistoricalRecords()
    objects = AuditedQuerySet.as_manager()

    class Meta:
        verbose_name = "product"
        verbose_name_plural = "products"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "name", "manufacturer"],
                name="product_unique_per_clinic",
                violation_error_message="This clinic already has this product.",
            ),
            choices_check("source", ProductSource, "product_source_valid"),
            choices_check("form", ProductForm, "product_form_valid"),
            choices_check("storage", Storage, "product_storage_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.manufacturer})"


class LotStatus(models.TextChoices):
    RELEASED = "released", "Released"
    QUARANTINED = "quarantined", "Quarantined"
    RECALLED = "recalled", "Recalled"


class ProductLot(BaseModel):
    """A received lot of a product: the unit of traceability. Stock is in units of use."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=60)
    expiry_date = models.DateField()
    received_on = models.DateField()
    quantity_received = models.PositiveIntegerField()
    quantity_on_hand = models.IntegerField()
    supplier = models.CharField(max_length=200, blank=True)
    certificate_ref = models.CharField(
        "certificate of analysis reference", max_length=120, blank=True
    )
    status = models.CharField(max_length=12, choices=LotStatus.choices, default=LotStatus.RELEASED)
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    low_stock_alerted_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()
    objects = AuditedQuerySet.as_manager()
    clinic_path: ClassVar[str] = "product__clinic"
    never_delete: ClassVar[bool] = True

    class Meta:
        verbose_name = "product lot"
        verbose_name_plural = "product lots"
        ordering = ["expiry_date", "lot_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "lot_number"],
                name="lot_number_unique_per_product",
                violation_error_message="This product already has a lot with this number.",
            ),
            models.CheckConstraint(
                condition=Q(quantity_on_hand__gte=0),
                name="lot_stock_never_negative",
                violation_error_message="Not enough stock left in this lot.",
            ),
            models.CheckConstraint(
                condition=Q(quantity_on_hand__lte=F("quantity_received")),
                name="lot_stock_at_most_received",
                violation_error_message="A lot cannot hold more than was received.",
            ),
            models.CheckConstraint(
                condition=Q(quantity_received__gt=0),
                name="lot_received_quantity_positive",
                violation_error_message="A received lot has at least one unit.",
            ),
            models.CheckConstraint(
                condition=Q(expiry_date__gt=F("received_on")),
                name="lot_expires_after_receipt",
                violation_error_message="The expiry date must come after the date received.",
            ),
            models.CheckConstraint(
                condition=Q(status="released") | ~Q(status_reason=""),
                name="lot_hold_has_reason",
                violation_error_message="Quarantine and recall need a reason.",
            ),
            choices_check("status", LotStatus, "lot_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.product.name} lot {self.lot_number}"

    def unusable_reason(self, on_date) -> str | None:
        """Why this lot may not be recorded on a session on `on_date` (clinic local), or None."""
        if self.status == LotStatus.RECALLED:
            return f"Lot {self.lot_number} was recalled: {self.status_reason}"
        if self.status == LotStatus.QUARANTINED:
            return f"Lot {self.lot_number} is quarantined: {self.status_reason}"
        if self.expiry_date < on_date:
            return f"Lot {self.lot_number} expired on {self.expiry_date:%Y-%m-%d}."
        return None


class SeriesTemplate(BaseModel):
    """A standard course, e.g. "acne scars: 3 sessions, 4 weeks apart"; kept by the safety lead."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="series_templates")
    name = models.CharField(max_length=120)
    indication = models.CharField(max_length=120)
    sessions_planned = models.PositiveSmallIntegerField()
    interval_weeks = models.PositiveSmallIntegerField(default=4)
    min_interval_weeks = models.PositiveSmallIntegerField(default=4)
    max_interval_weeks = models.PositiveSmallIntegerField(default=6)
    maintenance_interval_months = models.PositiveSmallIntegerField(default=6)
    session_minutes = models.PositiveSmallIntegerField(default=60)
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "series template"
        verbose_name_plural = "series templates"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "name"],
                name="template_name_unique",
                violation_error_message="A template with this name exists.",
            ),
            models.CheckConstraint(
                condition=Q(sessions_planned__gte=1, sessions_planned__lte=12),
                name="template_sessions_1_to_12",
                violation_error_message="A series has 1 to 12 sessions.",
            ),
            models.CheckConstraint(
                condition=Q(
                    min_interval_weeks__lte=F("interval_weeks"),
                    interval_weeks__lte=F("max_interval_weeks"),
                ),
                name="template_interval_within_window",
                violation_error_message="The interval must lie within the allowed window.",
            ),
            models.CheckConstraint(
                condition=Q(
                    maintenance_interval_months__gte=1, maintenance_interval_months__lte=24
                ),
                name="template_maintenance_1_to_24_months",
                violation_error_message="Maintenance comes 1 to 24 months after a course.",
            ),
            models.CheckConstraint(
                condition=Q(session_minutes__gte=10, session_minutes__lte=480),
                name="template_session_length_sane",
                violation_error_message="A session lasts 10 minutes to 8 hours.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SeriesStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class TreatmentSeries(BaseModel):
    """A patient's course of sessions, booked together, with maintenance after it ends."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="series")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="series")
    template = models.ForeignKey(
        SeriesTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="series"
    )
    indication = models.CharField(max_length=120)
    sessions_planned = models.PositiveSmallIntegerField()
    interval_weeks = models.PositiveSmallIntegerField()
    maintenance_interval_months = models.PositiveSmallIntegerField(default=6)
    status = models.CharField(
        max_length=12, choices=SeriesStatus.choices, default=SeriesStatus.ACTIVE
    )
    maintenance_due_on = models.DateField(null=True, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        verbose_name = "treatment series"
        verbose_name_plural = "treatment series"
        ordering = ["-created_at"]
        constraints = [
            choices_check("status", SeriesStatus, "series_status_valid"),
            models.CheckConstraint(
                condition=Q(sessions_planned__gte=1, sessions_planned__lte=12),
                name="series_sessions_1_to_12",
                violation_error_message="A series has 1 to 12 sessions.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.indication} × {self.sessions_planned}"


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    ARRIVED = "arrived", "Arrived"
    IN_TREATMENT = "in_treatment", "In treatment"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"


# Statuses that hold the practitioner's time (cancelled and no-show free the slot).
LIVE_APPOINTMENT_STATUSES = ("booked", "arrived", "in_treatment", "completed")


class Appointment(BaseModel):
    """A booked time with a practitioner. No practitioner holds two overlapping live ones."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="appointments")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments"
    )
    series = models.ForeignKey(
        TreatmentSeries,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
    )
    sequence = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Position in the series, from 1."
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED
    )
    # Safety hold: the patient had an unresolved or red-flag reaction when this was booked.
    safety_hold = models.BooleanField(default=False)
    hold_cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    hold_cleared_at = models.DateTimeField(null=True, blank=True)
    hold_clearance_reason = models.TextField(blank=True)
    front_desk_note = models.CharField(max_length=300, blank=True)

    history = HistoricalRecords()
    objects = AuditedQuerySet.as_manager()

    class Meta:
        verbose_name = "appointment"
        verbose_name_plural = "appointments"
        ordering = ["starts_at"]
        indexes = [
            models.Index(fields=["practitioner", "starts_at"], name="appt_practitioner_time"),
            models.Index(fields=["clinic", "starts_at"], name="appt_clinic_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="appointment_ends_after_start",
                violation_error_message="An appointment must end after it starts.",
            ),
            choices_check("status", AppointmentStatus, "appointment_status_valid"),
            models.UniqueConstraint(
                fields=["series", "sequence"],
                condition=Q(status__in=LIVE_APPOINTMENT_STATUSES),
                name="appointment_one_live_per_series_step",
                violation_error_message="This step of the series is already booked.",
            ),
            models.CheckConstraint(
                condition=Q(hold_cleared_at__isnull=True) | ~Q(hold_clearance_reason=""),
                name="appointment_hold_clearance_has_reason",
                violation_error_message="Clearing a safety hold needs a reason.",
            ),
        ]

    def __str__(self) -> str:
        return f"Appointment {self.starts_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def hold_open(self) -> bool:
        return self.safety_hold and self.hold_cleared_at is None


class DeliveryMethod(models.TextChoices):
    MICRONEEDLING = "microneedling", "Microneedling"
    LASER = "laser", "Laser / light"
    MICRO_INJECTION = "micro_injection", "Micro-injection / mesotherapy"
    TOPICAL = "topical", "Topical only"


class LaserType(models.TextChoices):
    NON_ABLATIVE_FRACTIONAL = "non_ablative_fractional", "Non-ablative fractional"
    ABLATIVE_FRACTIONAL = "ablative_fractional", "Ablative fractional"
    IPL = "ipl", "IPL"
    OTHER = "other", "Other"


class TreatedArea(models.TextChoices):
    FOREHEAD = "forehead", "Forehead"
    CHEEKS = "cheeks", "Cheeks"
    NOSE = "nose", "Nose"
    CHIN = "chin", "Chin"
    PERIORAL = "perioral", "Perioral"
    PERIORBITAL = "periorbital", "Periorbital"
    NECK = "neck", "Neck"
    DECOLLETAGE = "decolletage", "Décolletage"
    SCALP = "scalp", "Scalp"
    SCAR_SITES = "scar_sites", "Scar sites"


class SessionStatus(models.TextChoices):
    OPEN = "open", "Open (unsigned)"
    SIGNED = "signed", "Signed and locked"
    ENTERED_IN_ERROR = "entered_in_error", "Entered in error"


class TreatmentSession(BaseModel):
    """What was actually done: procedure and settings, areas, the exact lot and amount,
    the screening answers and the aftercare given. Signed sessions are locked."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="sessions")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="sessions")
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sessions"
    )
    appointment = models.OneToOneField(
        Appointment, on_delete=models.PROTECT, null=True, blank=True, related_name="session"
    )
    series = models.ForeignKey(
        TreatmentSeries, on_delete=models.PROTECT, null=True, blank=True, related_name="sessions"
    )
    performed_at = models.DateTimeField(default=timezone.now)
    delivery_method = models.CharField(max_length=20, choices=DeliveryMethod.choices)
    needle_depth_mm = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    laser_device = models.CharField(max_length=120, blank=True)
    laser_type = models.CharField(max_length=24, choices=LaserType.choices, blank=True)
    fluence_j_cm2 = models.DecimalField(
        "energy / fluence (J/cm²)", max_digits=6, decimal_places=2, null=True, blank=True
    )
    passes = models.PositiveSmallIntegerField(null=True, blank=True)
    treated_areas = models.JSONField(default=list)
    lot = models.ForeignKey(ProductLot, on_delete=models.PROTECT, related_name="sessions")
    units_used = models.PositiveSmallIntegerField(default=1)
    volume_ml = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    screening = models.JSONField(
        default=dict, blank=True, help_text="Answers and findings at screening."
    )
    screening_override_reason = models.TextField(blank=True)
    warnings_acknowledged = models.BooleanField(default=False)
    aftercare_given = models.BooleanField(default=True)
    notes = models.TextField("clinical notes", blank=True)
    status = models.CharField(
        max_length=20, choices=SessionStatus.choices, default=SessionStatus.OPEN
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    entered_in_error_reason = models.TextField(blank=True)
    entered_in_error_at = models.DateTimeField(null=True, blank=True)
    report_link = models.OneToOneField(
        PersonalLink, on_delete=models.PROTECT, null=True, blank=True, related_name="session"
    )

    history = HistoricalRecords()
    objects = AuditedQuerySet.as_manager()
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES
    never_delete: ClassVar[bool] = True

    class Meta:
        verbose_name = "treatment session"
        verbose_name_plural = "treatment sessions"
        ordering = ["-performed_at"]
        indexes = [
            models.Index(fields=["clinic", "performed_at"], name="session_clinic_time"),
            models.Index(fields=["lot", "status"], name="session_lot_status"),
            models.Index(fields=["patient", "performed_at"], name="session_patient_time"),
        ]
        constraints = [
            choices_check("delivery_method", DeliveryMethod, "session_method_valid"),
            choices_check("status", SessionStatus, "session_status_valid"),
            models.CheckConstraint(
                condition=Q(laser_type="") | Q(laser_type__in=LaserType.values),
                name="session_laser_type_valid",
                violation_error_message="Unknown laser type.",
            ),
            models.CheckConstraint(
                condition=Q(units_used__gt=0),
                name="session_amount_positive",
                violation_error_message="The amount used must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=~Q(delivery_method="microneedling")
                | Q(
                    needle_depth_mm__isnull=False,
                    needle_depth_mm__gte=Decimal("0.1"),
                    needle_depth_mm__lte=Decimal("3.0"),
                ),
                name="session_microneedling_depth",
                violation_error_message="Microneedling needs a needle depth of 0.1 to 3.0 mm.",
            ),
            models.CheckConstraint(
                condition=~Q(delivery_method="laser") | ~Q(laser_type=""),
                name="session_laser_has_type",
                violation_error_message="A laser session needs the laser type.",
            ),
            models.CheckConstraint(
                condition=Q(volume_ml__isnull=True) | Q(volume_ml__gt=0),
                name="session_volume_positive",
                violation_error_message="The volume used must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=~Q(status="signed") | Q(signed_at__isnull=False, signed_by__isnull=False),
                name="session_signed_has_signer",
                violation_error_message="A signed session records who signed it and when.",
            ),
            models.CheckConstraint(
                condition=~Q(status="entered_in_error") | ~Q(entered_in_error_reason=""),
                name="session_error_has_reason",
                violation_error_message="Say why the session was entered in error.",
            ),
        ]

    def __str__(self) -> str:
        return f"Session {self.performed_at:%Y-%m-%d} ({self.get_delivery_method_display()})"

    def clean(self) -> None:
        areas = self.treated_areas
        if not isinstance(areas, list) or not areas:
            raise ValidationError({"treated_areas": "Choose at least one treated area."})
        unknown = [a for a in areas if a not in TreatedArea.values]
        if unknown:
            raise ValidationError({"treated_areas": f"Unknown area(s): {', '.join(unknown)}."})

    @property
    def is_locked(self) -> bool:
        return self.status != SessionStatus.OPEN


class SessionAddendum(BaseModel):
    """A correction or note added to a signed session, with its author and time."""

    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()

    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES
    clinic_path: ClassVar[str] = "session__clinic"

    class Meta:
        verbose_name = "session addendum"
        verbose_name_plural = "session addenda"
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(text=""),
                name="addendum_not_empty",
                violation_error_message="An addendum needs text.",
            ),
        ]

    def __str__(self) -> str:
        return f"Addendum to session {self.session_id} by {self.author_id}"


class CheckInState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    QUEUED = "queued", "Queued to send"
    SENT = "sent", "Sent"
    REMINDED = "reminded", "Reminded"
    ANSWERED_FINE = "answered_fine", "Answered: all fine"
    ANSWERED_REACTIONS = "answered_reactions", "Answered: reactions"
    MISSED = "missed", "Missed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ANSWERED_STATES = (CheckInState.ANSWERED_FINE, CheckInState.ANSWERED_REACTIONS)


class CheckIn(BaseModel):
    """A follow-up after a session at one step of the clinic's plan (day 1, day 3, ...)."""

    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="checkins")
    step_code = models.SlugField(max_length=20)
    step_label = models.CharField(max_length=60)
    due_at = models.DateTimeField(help_text="Planned send time, outside quiet hours.")
    state = models.CharField(
        max_length=20, choices=CheckInState.choices, default=CheckInState.SCHEDULED
    )
    link = models.ForeignKey(
        PersonalLink, on_delete=models.PROTECT, null=True, blank=True, related_name="checkins"
    )
    message = models.ForeignKey(
        OutboxMessage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reminder = models.ForeignKey(
        OutboxMessage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    objects = AuditedQuerySet.as_manager()
    clinic_path: ClassVar[str] = "session__clinic"

    class Meta:
        verbose_name = "check-in"
        verbose_name_plural = "check-ins"
        ordering = ["due_at"]
        indexes = [
            models.Index(
                fields=["due_at"], name="checkin_due_scheduled", condition=Q(state="scheduled")
            ),
            # The summary refresh finds the check-ins changed since its last run.
            models.Index(fields=["updated_at"], name="checkin_updated"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "step_code"],
                name="checkin_one_per_session_step",
                violation_error_message="This session already has a check-in for this step.",
            ),
            choices_check("state", CheckInState, "checkin_state_valid"),
            models.CheckConstraint(
                condition=~Q(state__in=[s.value for s in ANSWERED_STATES])
                | Q(answered_at__isnull=False),
                name="checkin_answer_has_time",
                violation_error_message="An answered check-in records when it was answered.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step_label} check-in for session {self.session_id}"


class Recall(BaseModel):
    """A lot's recall: why, by whom, when. Recalled is final, so a lot has at most one.

    Its notices list every patient who received the lot (sessions not entered in error), as
    the lot stood when it was recalled: no session can use a recalled lot afterwards."""

    lot = models.ForeignKey(ProductLot, on_delete=models.PROTECT, related_name="recalls")
    reason = models.TextField()
    recalled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recalled_at = models.DateTimeField(default=timezone.now)
    messaged_at = models.DateTimeField(
        null=True, blank=True, help_text='When "message all" was first used.'
    )

    objects = AuditedQuerySet.as_manager()
    clinic_path: ClassVar[str] = "lot__product__clinic"
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES
    never_delete: ClassVar[bool] = True

    class Meta:
        verbose_name = "lot recall"
        verbose_name_plural = "lot recalls"
        ordering = ["-recalled_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["lot"],
                name="recall_one_per_lot",
                violation_error_message="This lot has already been recalled.",
            ),
            models.CheckConstraint(
                condition=~Q(reason=""),
                name="recall_has_reason",
                violation_error_message="A recall needs a reason.",
            ),
        ]

    def __str__(self) -> str:
        return f"Recall of lot {self.lot_id} on {self.recalled_at:%Y-%m-%d}"


class RecallNotice(BaseModel):
    """One patient's recall notice: the sessions in which they received the lot, the message
    that told them (at most one per recall), when it reached them and when they acknowledged
    it through their link, or the front-desk call when no message could."""

    recall = models.ForeignKey(Recall, on_delete=models.PROTECT, related_name="notices")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="recall_notices")
    sessions = models.ManyToManyField(TreatmentSession, related_name="recall_notices")
    message = models.OneToOneField(
        OutboxMessage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    link = models.OneToOneField(
        PersonalLink, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    call_task = models.ForeignKey(
        "patients.CallTask", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reached_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    objects = AuditedQuerySet.as_manager()
    clinic_path: ClassVar[str] = "recall__lot__product__clinic"
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES
    never_delete: ClassVar[bool] = True

    class Meta:
        verbose_name = "recall notice"
        verbose_name_plural = "recall notices"
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["recall", "patient"],
                name="recall_notice_one_per_patient",
                violation_error_message="This patient already has a notice for this recall.",
            ),
        ]

    def __str__(self) -> str:
        return f"Recall notice {self.recall_id} for patient {self.patient_id}"
