"""The reaction vocabulary, what patients and staff report, staff assessments beside it,
red-flag alarms and per-lot safety signals.

A patient's words (`Submission`, `ReactionReport`) are never edited after they arrive: the
practitioner's judgement is an `Assessment` recorded beside each report, with its own history.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from clinic.core.audit import AuditedQuerySet
from clinic.core.models import CLINICAL_ROLES, BaseModel, Clinic, ScopedQuerySet, choices_check
from patients.models import Language, Patient, PersonalLink
from treatments.models import CheckIn, ProductLot, TreatmentSession


class Locality(models.TextChoices):
    LOCAL = "local", "Local (at the treated skin)"
    SYSTEMIC = "systemic", "Systemic (whole body)"


class ReactionTerm(BaseModel):
    """One term of the controlled reaction list shipped with the app (see migration 0002).

    MedDRA is licensed and not shipped: clinics attach their own codes with ClinicTermCode.
    """

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField("clinical name", max_length=100)
    patient_label = models.CharField("plain words (English)", max_length=120)
    patient_label_ko = models.CharField("plain words (Korean)", max_length=120)
    locality = models.CharField(max_length=10, choices=Locality.choices)
    usual_course_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Ongoing past this many days is flagged prolonged."
    )
    red_flag = models.BooleanField(
        default=False, help_text="Patient sees 'seek urgent care now'; staff alerted."
    )
    sentinel = models.BooleanField(
        default=False, help_text="Raises a lot signal on its own, whatever the rates."
    )
    is_other = models.BooleanField(default=False, help_text="Free-text 'other' reaction.")
    display_order = models.PositiveSmallIntegerField(default=100)
    active = models.BooleanField(default=True)

    clinic_path: ClassVar[None] = None

    class Meta:
        verbose_name = "reaction term"
        verbose_name_plural = "reaction terms"
        ordering = ["display_order", "name"]
        constraints = [
            choices_check("locality", Locality, "term_locality_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    def label_for(self, language: str) -> str:
        return self.patient_label_ko if language == Language.KO else self.patient_label


class ClinicTermCode(BaseModel):
    """A clinic's own external code (e.g. its MedDRA LLT) for a term."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="term_codes")
    term = models.ForeignKey(ReactionTerm, on_delete=models.CASCADE, related_name="clinic_codes")
    system = models.CharField(max_length=40, default="MedDRA")
    code = models.CharField(max_length=40)

    class Meta:
        verbose_name = "clinic term code"
        verbose_name_plural = "clinic term codes"
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "term", "system"],
                name="term_code_unique_per_clinic",
                violation_error_message="This term already has a code "
                "in that system for this clinic.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.term.code} → {self.system} {self.code}"


class ReportSource(models.TextChoices):
    PATIENT_FORM = "patient_form", "Patient (report link)"
    CHECKIN = "checkin", "Patient (check-in)"
    STAFF = "staff", "Staff"


class Submission(BaseModel):
    """One submit of the patient form (or one staff-entered report), exactly once.

    `submission_id` comes from the form, so a double tap, a back-button resubmit or two tabs
    land on the same row (a unique constraint) and see the first one's confirmation.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="submissions")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="submissions")
    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="submissions"
    )
    checkin = models.ForeignKey(
        CheckIn, on_delete=models.PROTECT, null=True, blank=True, related_name="submissions"
    )
    link = models.ForeignKey(
        PersonalLink, on_delete=models.PROTECT, null=True, blank=True, related_name="submissions"
    )
    submission_id = models.UUIDField(unique=True)
    source = models.CharField(max_length=16, choices=ReportSource.choices)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    all_fine = models.BooleanField(default=False)
    free_text = models.TextField(blank=True)
    red_flag = models.BooleanField(default=False)
    language = models.CharField(max_length=5, choices=Language.choices, default=Language.EN)
    # A red-flag submit belongs to the session's open alarm (set in the same transaction).
    alarm = models.ForeignKey(
        "Alarm", on_delete=models.PROTECT, null=True, blank=True, related_name="submissions"
    )

    objects = AuditedQuerySet.as_manager()
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES
    never_delete: ClassVar[bool] = True

    class Meta:
        verbose_name = "patient submission"
        verbose_name_plural = "patient submissions"
        ordering = ["-created_at"]
        constraints = [
            choices_check("source", ReportSource, "submission_source_valid"),
            models.CheckConstraint(
                condition=~Q(source="staff") | Q(reported_by__isnull=False),
                name="submission_staff_has_reporter",
                violation_error_message="A staff report records who reported it.",
            ),
            models.CheckConstraint(
                condition=Q(source="staff") | Q(link__isnull=False),
                name="submission_patient_via_link",
                violation_error_message="A patient's report arrives through their link.",
            ),
            models.CheckConstraint(
                condition=Q(all_fine=False) | Q(red_flag=False),
                name="submission_fine_is_not_red_flag",
                violation_error_message="An 'all fine' answer cannot carry a red flag.",
            ),
        ]

    def __str__(self) -> str:
        return f"Submission {self.submission_id} ({self.get_source_display()})"


def photo_upload_to(instance: SubmissionPhoto, filename: str) -> str:
    # Random name, no patient data, no original file name.
    return f"photos/{instance.uuid.hex[:2]}/{instance.uuid.hex}.{instance.extension}"


class SubmissionPhoto(BaseModel):
    """A photo the patient attached: re-encoded, metadata stripped, stored privately.

    Sent with the report (`added_at` empty) or added afterwards through the "add a photo" step
    (`added_at` set), e.g. after the photo sent with the report was refused.
    """

    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="photos")
    image = models.FileField(upload_to=photo_upload_to)
    content_type = models.CharField(max_length=20)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField()
    added_at = models.DateTimeField(
        "added afterwards at",
        null=True,
        blank=True,
        help_text="Set when the patient added the photo after sending the report (through the "
        "'add a photo' step): an addition beside their words, never an edit of them.",
    )

    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES
    clinic_path: ClassVar[str] = "submission__clinic"

    class Meta:
        verbose_name = "report photo"
        verbose_name_plural = "report photos"
        constraints = [
            models.CheckConstraint(
                condition=Q(content_type__in=["image/jpeg", "image/png", "image/webp"]),
                name="photo_type_allowed",
                violation_error_message="Photos are JPEG, PNG or WebP.",
            ),
        ]

    def __str__(self) -> str:
        return f"Photo {self.uuid}"

    @property
    def extension(self) -> str:
        return {"image/png": "png", "image/webp": "webp"}.get(self.content_type, "jpg")


class PatientSeverity(models.IntegerChoices):
    MILD = 1, "Mild — noticeable, no treatment needed"
    MODERATE = 2, "Moderate — gets in the way of daily activities"
    SEVERE = 3, "Severe — hard to look after myself"


class ReactionReport(BaseModel):
    """One reaction as reported: which, since when, still going, how bad, and its effects."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="reactions")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="reactions")
    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="reactions"
    )
    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="reactions")
    term = models.ForeignKey(ReactionTerm, on_delete=models.PROTECT, related_name="reports")
    other_text = models.CharField("described as", max_length=200, blank=True)
    onset_date = models.DateField()
    ongoing = models.BooleanField(default=True)
    ended_on = models.DateField(null=True, blank=True)
    patient_severity = models.PositiveSmallIntegerField(choices=PatientSeverity.choices)
    stopped_activities = models.BooleanField("stopped normal activities", default=False)
    sought_care = models.BooleanField("sought medical care", default=False)
    source = models.CharField(max_length=16, choices=ReportSource.choices)
    prolonged_since = models.DateField(
        null=True, blank=True, help_text="Set when it outlasts the term's usual course."
    )

    history = HistoricalRecords()
    objects = AuditedQuerySet.as_manager()
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES
    never_delete: ClassVar[bool] = True

    class Meta:
        verbose_name = "reaction report"
        verbose_name_plural = "reaction reports"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["clinic", "created_at"], name="reaction_clinic_time"),
            models.Index(fields=["session", "term"], name="reaction_session_term"),
            models.Index(
                fields=["ongoing", "onset_date"], name="reaction_ongoing", condition=Q(ongoing=True)
            ),
        ]
        constraints = [
            choices_check("source", ReportSource, "reaction_source_valid"),
            models.CheckConstraint(
                condition=Q(patient_severity__gte=1, patient_severity__lte=3),
                name="reaction_patient_severity_1_to_3",
                violation_error_message="How bad: mild, moderate or severe.",
            ),
            models.CheckConstraint(
                condition=Q(ongoing=True, ended_on__isnull=True)
                | Q(ongoing=False, ended_on__isnull=False),
                name="reaction_ongoing_or_ended",
                violation_error_message="Say whether it is still going or when it ended.",
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("onset_date")),
                name="reaction_ends_after_onset",
                violation_error_message="A reaction cannot end before it started.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.term} after session {self.session_id}"

    @property
    def severity_word(self) -> str:
        """The patient's rating in one word (Mild, Moderate, Severe), without its explanation."""
        return str(self.get_patient_severity_display()).split(" — ")[0]

    def clean(self) -> None:
        if self.term_id and self.term.is_other and not self.other_text.strip():
            raise ValidationError({"other_text": "Describe the reaction."})
        if self.onset_date and self.clinic_id:
            # "Today" is the clinic's (the patient's) date, not the server's.
            today = self.clinic.today()
            if self.onset_date > today:
                raise ValidationError({"onset_date": "The start date cannot be in the future."})


class TriageStatus(models.TextChoices):
    NEW = "new", "New"
    REVIEWED = "reviewed", "Reviewed"
    CLOSED = "closed", "Closed"


class SeverityGrade(models.IntegerChoices):
    MILD = 1, "1 — Mild"
    MODERATE = 2, "2 — Moderate"
    SEVERE = 3, "3 — Severe"
    LIFE_THREATENING = 4, "4 — Life-threatening"


class Outcome(models.TextChoices):
    RECOVERING = "recovering", "Recovering"
    RECOVERED = "recovered", "Recovered"
    RECOVERED_WITH_SEQUELAE = "recovered_with_sequelae", "Recovered with sequelae"
    NOT_RECOVERED = "not_recovered", "Not recovered"
    FATAL = "fatal", "Fatal"
    UNKNOWN = "unknown", "Unknown"


class Causality(models.TextChoices):
    CERTAIN = "certain", "Certain"
    PROBABLE = "probable", "Probable / likely"
    POSSIBLE = "possible", "Possible"
    UNLIKELY = "unlikely", "Unlikely"
    CONDITIONAL = "conditional", "Conditional / unclassified"
    UNASSESSABLE = "unassessable", "Unassessable / unclassifiable"


class Assessment(BaseModel):
    """The practitioner's assessment beside one report: CTCAE grade, ICH E2A seriousness,
    outcome, WHO-UMC causality, action taken, and the triage state."""

    report = models.OneToOneField(
        ReactionReport, on_delete=models.PROTECT, related_name="assessment"
    )
    triage_status = models.CharField(
        max_length=10, choices=TriageStatus.choices, default=TriageStatus.NEW
    )
    severity_grade = models.PositiveSmallIntegerField(
        choices=SeverityGrade.choices, null=True, blank=True
    )
    serious_death = models.BooleanField("resulted in death", default=False)
    serious_life_threatening = models.BooleanField("life-threatening", default=False)
    serious_hospitalisation = models.BooleanField("hospitalisation", default=False)
    serious_disability = models.BooleanField("disability / incapacity", default=False)
    serious_medically_important = models.BooleanField("medically important", default=False)
    outcome = models.CharField(max_length=24, choices=Outcome.choices, blank=True)
    causality = models.CharField(max_length=16, choices=Causality.choices, blank=True)
    action_taken = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    assessed_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()
    objects = AuditedQuerySet.as_manager()
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES
    clinic_path: ClassVar[str] = "report__clinic"
    never_delete: ClassVar[bool] = True

    class Meta:
        verbose_name = "assessment"
        verbose_name_plural = "assessments"
        indexes = [models.Index(fields=["triage_status"], name="assessment_triage")]
        constraints = [
            choices_check("triage_status", TriageStatus, "assessment_triage_valid"),
            models.CheckConstraint(
                condition=Q(outcome="") | Q(outcome__in=Outcome.values),
                name="assessment_outcome_valid",
                violation_error_message="Unknown outcome.",
            ),
            models.CheckConstraint(
                condition=Q(causality="") | Q(causality__in=Causality.values),
                name="assessment_causality_valid",
                violation_error_message="Unknown causality category.",
            ),
            models.CheckConstraint(
                condition=Q(severity_grade__isnull=True)
                | Q(severity_grade__gte=1, severity_grade__lte=4),
                name="assessment_grade_1_to_4",
                violation_error_message="Severity grade is 1 to 4.",
            ),
            models.CheckConstraint(
                condition=Q(triage_status="new")
                | Q(
                    severity_grade__isnull=False,
                    assessed_by__isnull=False,
                    assessed_at__isnull=False,
                ),
                name="assessment_reviewed_has_grade",
                violation_error_message="A reviewed report needs a severity grade and assessor.",
            ),
            models.CheckConstraint(
                condition=~Q(triage_status="closed") | (~Q(outcome="") & ~Q(causality="")),
                name="assessment_closed_is_complete",
                violation_error_message="Closing a report needs its outcome and causality.",
            ),
            models.CheckConstraint(
                condition=~Q(outcome="fatal") | Q(serious_death=True),
                name="assessment_fatal_is_serious",
                violation_error_message="A fatal outcome is a serious event (death).",
            ),
        ]

    def __str__(self) -> str:
        return f"Assessment of report {self.report_id} ({self.get_triage_status_display()})"

    @property
    def is_serious(self) -> bool:
        return any(
            (
                self.serious_death,
                self.serious_life_threatening,
                self.serious_hospitalisation,
                self.serious_disability,
                self.serious_medically_important,
            )
        )


class Alarm(BaseModel):
    """A red-flag alarm: shown on top of the dashboard until a clinician acknowledges it.

    One open alarm per treatment session (a partial unique constraint): further red-flag
    submits on that session join it (`Submission.alarm`) instead of raising new alarms, so the
    on-call phone rings for news, not for repeats. Acknowledging closes it; a red flag after
    that opens a new one. `terms` and `severity` are what the patient has reported so far:
    the red-flag reactions and the highest severity they gave for them.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="alarms")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="alarms")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="alarms")
    # The submission that opened the alarm; all of them (this one included) are `submissions`.
    submission = models.OneToOneField(
        Submission, on_delete=models.PROTECT, related_name="opened_alarm"
    )
    terms = models.ManyToManyField(
        ReactionTerm, related_name="+", verbose_name="red-flag reactions reported"
    )
    severity = models.PositiveSmallIntegerField(
        choices=PatientSeverity.choices,
        default=PatientSeverity.MILD,
        help_text="The highest severity the patient gave for a red-flag reaction.",
    )
    raised_at = models.DateTimeField(default=timezone.now)
    last_reported_at = models.DateTimeField(
        default=timezone.now, help_text="When the latest red-flag submit joined the alarm."
    )
    alerted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the latest on-call message was queued."
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement_note = models.TextField(blank=True)

    history = HistoricalRecords(excluded_fields=["terms"])
    objects = AuditedQuerySet.as_manager()
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES

    class Meta:
        verbose_name = "red-flag alarm"
        verbose_name_plural = "red-flag alarms"
        ordering = ["-raised_at"]
        indexes = [
            models.Index(
                fields=["clinic", "raised_at"],
                name="alarm_open",
                condition=Q(acknowledged_at__isnull=True),
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True) | Q(acknowledged_by__isnull=False),
                name="alarm_ack_has_who",
                violation_error_message="An acknowledgement records who made it.",
            ),
            models.UniqueConstraint(
                fields=["session"],
                condition=Q(acknowledged_at__isnull=True),
                name="alarm_one_open_per_session",
                violation_error_message="This session already has an open red-flag alarm.",
            ),
            models.CheckConstraint(
                condition=Q(severity__gte=1, severity__lte=3),
                name="alarm_severity_1_to_3",
                violation_error_message="Severity: mild, moderate or severe.",
            ),
        ]

    def __str__(self) -> str:
        return f"Red-flag alarm for patient {self.patient_id} at {self.raised_at:%H:%M}"

    @property
    def severity_word(self) -> str:
        """The patient's rating in one word (Mild, Moderate, Severe)."""
        return str(self.get_severity_display()).split(" — ")[0]

    @property
    def reported_again(self) -> bool:
        """A later red-flag submit joined the alarm after the one that opened it."""
        return (self.last_reported_at - self.raised_at).total_seconds() >= 1


class SignalKind(models.TextChoices):
    RATE = "rate", "Rate signal"
    SENTINEL = "sentinel", "Sentinel event"


class SignalStatus(models.TextChoices):
    NEW = "new", "New"
    UNDER_REVIEW = "under_review", "Under review"
    DISMISSED = "dismissed", "Dismissed"
    ACTIONED = "actioned", "Actioned"


class LotSignal(BaseModel):
    """A safety signal on a lot, raised once and then reviewed (never re-raised nightly)."""

    lot = models.ForeignKey(ProductLot, on_delete=models.PROTECT, related_name="signals")
    kind = models.CharField(max_length=10, choices=SignalKind.choices)
    term = models.ForeignKey(
        ReactionTerm,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="signals",
        help_text="Empty means any reaction.",
    )
    report = models.ForeignKey(
        ReactionReport,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="signals",
        help_text="The sentinel event.",
    )
    dedupe_key = models.CharField(max_length=120, unique=True)
    cases = models.PositiveIntegerField(default=0)
    exposure = models.PositiveIntegerField(default=0)
    rate = models.FloatField(null=True, blank=True)
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    rate_ratio = models.FloatField(null=True, blank=True)
    rr_ci_low = models.FloatField(null=True, blank=True)
    p_value = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=14, choices=SignalStatus.choices, default=SignalStatus.NEW)
    status_reason = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()
    objects = AuditedQuerySet.as_manager()
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES
    clinic_path: ClassVar[str] = "lot__product__clinic"

    class Meta:
        verbose_name = "lot safety signal"
        verbose_name_plural = "lot safety signals"
        ordering = ["-created_at"]
        constraints = [
            choices_check("kind", SignalKind, "signal_kind_valid"),
            choices_check("status", SignalStatus, "signal_status_valid"),
            models.CheckConstraint(
                condition=~Q(status="dismissed") | ~Q(status_reason=""),
                name="signal_dismissal_has_reason",
                violation_error_message="Dismissing a signal needs a reason.",
            ),
            models.CheckConstraint(
                condition=~Q(kind="sentinel") | Q(report__isnull=False),
                name="signal_sentinel_has_report",
                violation_error_message="A sentinel signal names its report.",
            ),
            models.CheckConstraint(
                condition=Q(cases__lte=F("exposure")) | Q(kind="sentinel"),
                name="signal_cases_within_exposure",
                violation_error_message="A lot cannot have more cases than sessions.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.lot}"


# --- Summary tables --------------------------------------------------------------------------
# Charts and lot signals read these, never the raw rows, so they cost the same at a thousand
# sessions and at a million. `adverse_events.summaries.summaries_refresh()` keeps them up to
# date incrementally: it recomputes only the keys (lot, clinic-week) touched since its last
# run, from the rows' history, and tests prove the tables equal the live aggregates.
# Weeks are ISO weeks starting Monday, in UTC for session times (a session late on a Sunday
# evening in Seoul may count in the week before); report onset is a date and needs no zone.


class LotWeekSummary(models.Model):
    """Per lot and week of treatment: sessions that used the lot (not entered in error) and
    how many of them had at least one reaction reported (for any term)."""

    lot = models.ForeignKey(ProductLot, on_delete=models.CASCADE, related_name="week_summaries")
    week = models.DateField(help_text="Monday of the ISO week the sessions were performed.")
    sessions = models.PositiveIntegerField(default=0)
    cases = models.PositiveIntegerField(default=0, help_text="Sessions with any reaction.")

    objects = ScopedQuerySet.as_manager()
    clinic_path: ClassVar[str] = "lot__product__clinic"
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES

    class Meta:
        verbose_name = "lot week summary"
        verbose_name_plural = "lot week summaries"
        ordering = ["lot", "week"]
        constraints = [
            models.UniqueConstraint(fields=["lot", "week"], name="lot_week_summary_unique"),
            models.CheckConstraint(
                condition=Q(cases__lte=F("sessions")),
                name="lot_week_summary_cases_within_sessions",
                violation_error_message="A week cannot have more cases than sessions.",
            ),
        ]

    def __str__(self) -> str:
        return f"Lot {self.lot_id} week {self.week}: {self.cases}/{self.sessions}"


class LotTermSummary(models.Model):
    """Per lot and reaction term: sessions with that lot (not entered in error) that had at
    least one report of the term. Exposure is the sum of the lot's LotWeekSummary.sessions."""

    lot = models.ForeignKey(ProductLot, on_delete=models.CASCADE, related_name="term_summaries")
    term = models.ForeignKey(ReactionTerm, on_delete=models.CASCADE, related_name="+")
    cases = models.PositiveIntegerField(default=0)

    objects = ScopedQuerySet.as_manager()
    clinic_path: ClassVar[str] = "lot__product__clinic"
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES

    class Meta:
        verbose_name = "lot term summary"
        verbose_name_plural = "lot term summaries"
        ordering = ["lot", "term"]
        constraints = [
            models.UniqueConstraint(fields=["lot", "term"], name="lot_term_summary_unique"),
        ]

    def __str__(self) -> str:
        return f"Lot {self.lot_id} {self.term_id}: {self.cases}"


class ReactionWeekSummary(models.Model):
    """Per clinic, week of onset and term: reaction reports (on sessions not entered in
    error)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    week = models.DateField(help_text="Monday of the ISO week of onset.")
    term = models.ForeignKey(ReactionTerm, on_delete=models.CASCADE, related_name="+")
    reports = models.PositiveIntegerField(default=0)

    objects = ScopedQuerySet.as_manager()
    clinic_path: ClassVar[str] = "clinic"
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES

    class Meta:
        verbose_name = "reaction week summary"
        verbose_name_plural = "reaction week summaries"
        ordering = ["clinic", "week", "term"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "week", "term"], name="reaction_week_summary_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Clinic {self.clinic_id} week {self.week} {self.term_id}: {self.reports}"


class CheckInWeekSummary(models.Model):
    """Per clinic, week of the session and plan step: check-ins sent (or reminded, answered,
    missed) and how many of them were answered. `day_after` is the step's day after the
    session, for the response-by-day chart."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    week = models.DateField(help_text="Monday of the ISO week of the session.")
    step_code = models.SlugField(max_length=20)
    day_after = models.PositiveSmallIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    answered = models.PositiveIntegerField(default=0)

    objects = ScopedQuerySet.as_manager()
    clinic_path: ClassVar[str] = "clinic"
    read_roles: ClassVar[frozenset[str]] = CLINICAL_ROLES

    class Meta:
        verbose_name = "check-in week summary"
        verbose_name_plural = "check-in week summaries"
        ordering = ["clinic", "week", "day_after"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "week", "step_code"], name="checkin_week_summary_unique"
            ),
            models.CheckConstraint(
                condition=Q(answered__lte=F("sent")),
                name="checkin_week_summary_answered_within_sent",
                violation_error_message="More check-ins answered than sent.",
            ),
        ]

    def __str__(self) -> str:
        return f"Clinic {self.clinic_id} {self.week} {self.step_code}: {self.answered}/{self.sent}"


class SummaryFillState(models.Model):
    """How far each summary has been brought up to date (Zulip's FillState, in spirit)."""

    name = models.SlugField(max_length=40, unique=True)
    filled_until = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_keys = models.PositiveIntegerField(default=0, help_text="Keys recomputed last run.")

    clinic_path: ClassVar[None] = None

    class Meta:
        verbose_name = "summary fill state"
        verbose_name_plural = "summary fill states"

    def __str__(self) -> str:
        return f"{self.name} filled until {self.filled_until}"
