"""Reaction terms, reactions with their assessment, and red-flag alarms over the API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from adverse_events.models import (
    Alarm,
    Assessment,
    Causality,
    Outcome,
    ReactionReport,
    ReactionTerm,
    SeverityGrade,
    TriageStatus,
)
from clinic.core.api.fields import ref


class ReactionTermSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)

    class Meta:
        model = ReactionTerm
        fields = [
            "id",
            "code",
            "name",
            "patient_label",
            "patient_label_ko",
            "locality",
            "usual_course_days",
            "red_flag",
            "sentinel",
            "is_other",
            "display_order",
            "active",
        ]
        read_only_fields = fields


class AssessmentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    assessed_by = ref(allow_null=True)
    outcome = serializers.ChoiceField(choices=Outcome.choices, allow_blank=True, read_only=True)
    causality = serializers.ChoiceField(choices=Causality.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Assessment
        fields = [
            "id",
            "triage_status",
            "severity_grade",
            "serious_death",
            "serious_life_threatening",
            "serious_hospitalisation",
            "serious_disability",
            "serious_medically_important",
            "outcome",
            "causality",
            "action_taken",
            "notes",
            "assessed_by",
            "assessed_at",
        ]
        read_only_fields = fields


class AssessInputSerializer(serializers.Serializer):
    """Input of assessing a reaction (adverse_events.services.assessment_record)."""

    triage_status = serializers.ChoiceField(choices=TriageStatus.choices)
    severity_grade = serializers.ChoiceField(
        choices=SeverityGrade.choices, required=False, allow_null=True, default=None
    )
    serious_death = serializers.BooleanField(required=False)
    serious_life_threatening = serializers.BooleanField(required=False)
    serious_hospitalisation = serializers.BooleanField(required=False)
    serious_disability = serializers.BooleanField(required=False)
    serious_medically_important = serializers.BooleanField(required=False)
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False, allow_blank=True)
    causality = serializers.ChoiceField(choices=Causality.choices, required=False, allow_blank=True)
    action_taken = serializers.CharField(required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)


class ReactionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    patient = ref()
    session = ref(allow_null=True)
    term = serializers.SlugRelatedField(slug_field="code", read_only=True)
    assessment = serializers.SerializerMethodField()

    class Meta:
        model = ReactionReport
        fields = [
            "id",
            "patient",
            "session",
            "term",
            "other_text",
            "onset_date",
            "ongoing",
            "ended_on",
            "patient_severity",
            "stopped_activities",
            "sought_care",
            "source",
            "prolonged_since",
            "assessment",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(AssessmentSerializer(allow_null=True))
    def get_assessment(self, report: ReactionReport) -> dict | None:
        try:
            assessment = report.assessment
        except Assessment.DoesNotExist:
            return None
        return AssessmentSerializer(assessment).data


class AlarmSerializer(serializers.ModelSerializer):
    """One alarm per session while open: `submissions` are every red-flag submit it holds
    (`submission` is the one that opened it), `reactions` the red-flag reaction codes reported
    so far and `severity` the highest severity the patient gave for them (1-3)."""

    id = serializers.UUIDField(source="uuid", read_only=True)
    patient = ref()
    session = ref()
    submission = ref()
    submissions = serializers.SlugRelatedField(slug_field="uuid", many=True, read_only=True)
    reactions = serializers.SlugRelatedField(
        source="terms", slug_field="code", many=True, read_only=True
    )
    # A plain number: the patient's 1-3 rating (the reactions' own field carries the labels).
    severity = serializers.IntegerField(read_only=True, min_value=1, max_value=3)
    acknowledged_by = ref(allow_null=True)

    class Meta:
        model = Alarm
        fields = [
            "id",
            "patient",
            "session",
            "submission",
            "submissions",
            "reactions",
            "severity",
            "raised_at",
            "last_reported_at",
            "alerted_at",
            "acknowledged_by",
            "acknowledged_at",
            "acknowledgement_note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AcknowledgeInputSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
