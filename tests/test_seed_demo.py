"""The demo seed: believable, complete (every state shows), consistent and idempotent."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Sum
from django.test import TestCase

from adverse_events import summaries
from adverse_events.models import (
    Alarm,
    Assessment,
    ReactionReport,
    ReactionTerm,
    Submission,
    TriageStatus,
)
from clinic.core.models import Clinic, Membership, Role, User
from clinic.demo import SEEDED_MODELS, totp_key_hex
from patients.models import MessageState, OutboxMessage, Patient
from treatments.models import (
    LIVE_APPOINTMENT_STATUSES,
    Appointment,
    CheckIn,
    CheckInState,
    LotStatus,
    ProductLot,
    SessionStatus,
    TreatmentSession,
)


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", "--force", stdout=out, **options)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    counts = {m._meta.label: m.objects.count() for m in SEEDED_MODELS}
    for model in SEEDED_MODELS:  # history rows too
        history = getattr(model, "history", None)
        if history is not None:
            counts[f"{model._meta.label} history"] = history.count()
    return counts


class SeededDemoTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.output = seed(scale=1)

    def test_it_builds_two_clinics_with_about_200_patients(self) -> None:
        assert set(Clinic.objects.values_list("name", flat=True)) == {"Seoul", "New York"}
        assert 190 <= Patient.objects.count() <= 210
        seoul = Patient.objects.filter(clinic__name="Seoul")
        assert seoul.filter(language="ko").count() > seoul.count() * 0.7
        for clinic in Clinic.objects.all():
            types = set(clinic.patients.values_list("fitzpatrick_type", flat=True))
            assert types >= {1, 2, 3, 4, 5, 6}
            assert clinic.checkin_plan.count() == 6

    def test_patients_cover_consent_channel_stops_and_screening_facts(self) -> None:
        assert Patient.objects.filter(consent_to_contact=False).exists()
        assert Patient.objects.filter(sms_stopped_at__isnull=False).exists()
        assert Patient.objects.filter(email_bounced_at__isnull=False).exists()
        for fact in (
            "on_anticoagulants",
            "keloid_history",
            "autoimmune_disease",
            "pregnant_or_breastfeeding",
        ):
            assert Patient.objects.filter(**{fact: True}).exists(), fact
        # bulk inserts skip save(): the duplicate-detection keys were filled all the same
        assert not Patient.objects.filter(name_key="").exists()

    def test_staff_hold_every_role_at_each_clinic_with_fixed_totp_secrets(self) -> None:
        for clinic in Clinic.objects.all():
            roles = list(Membership.objects.filter(clinic=clinic).values_list("role", flat=True))
            assert roles.count(Role.PRACTITIONER) >= 2
            assert Role.FRONT_DESK in roles and Role.SAFETY_LEAD in roles
            assert roles.count(Role.MANAGER) == 1
        # A demo manager looks after staff only: no role that sees patients.
        manager = User.objects.get(username="seoul.manager")
        assert set(manager.memberships.values_list("role", flat=True)) == {Role.MANAGER}
        shared = User.objects.get(username="shared.practitioner")
        assert shared.memberships.count() == 2
        admin = User.objects.get(username="admin")
        assert admin.is_superuser and admin.is_staff
        device = admin.totpdevice_set.get(confirmed=True)
        assert device.key == totp_key_hex("admin")
        assert "demo_totp" in self.output and "demo-clinic-2026!" in self.output

    def test_every_state_appears(self) -> None:
        assert set(CheckIn.objects.values_list("state", flat=True)) == set(CheckInState.values)
        assert set(OutboxMessage.objects.values_list("state", flat=True)) == set(
            MessageState.values
        )
        triage = set(Assessment.objects.values_list("triage_status", flat=True))
        assert triage == set(TriageStatus.values)
        reported = set(ReactionReport.objects.values_list("term__code", flat=True))
        assert reported == set(ReactionTerm.objects.values_list("code", flat=True))
        assert set(ReactionReport.objects.values_list("patient_severity", flat=True)) == {1, 2, 3}
        assert set(TreatmentSession.objects.values_list("status", flat=True)) == set(
            SessionStatus.values
        )

    def test_every_red_flag_submission_has_an_alarm_and_some_are_acknowledged(self) -> None:
        flagged = Submission.objects.filter(red_flag=True)
        assert flagged.exists()
        assert Alarm.objects.count() == flagged.count()
        assert Alarm.objects.filter(acknowledged_at__isnull=False).exists()
        assert Alarm.objects.filter(acknowledged_at__isnull=True).exists()

    def test_lots_include_an_expired_and_a_quarantined_one_and_stock_adds_up(self) -> None:
        lots = ProductLot.objects.select_related("product__clinic")
        assert any(lot.expiry_date < lot.received_on.today() for lot in lots)
        assert lots.filter(status=LotStatus.QUARANTINED).exclude(status_reason="").exists()
        used = dict(
            TreatmentSession.objects.exclude(status=SessionStatus.ENTERED_IN_ERROR)
            .values_list("lot")
            .annotate(Sum("units_used"))
        )
        for lot in lots:
            assert lot.quantity_on_hand >= 0
            assert lot.quantity_received - lot.quantity_on_hand == used.get(lot.pk, 0), lot

    def test_no_practitioner_holds_two_overlapping_live_appointments(self) -> None:
        by_practitioner = defaultdict(list)
        for a in Appointment.objects.filter(status__in=LIVE_APPOINTMENT_STATUSES):
            by_practitioner[a.practitioner_id].append((a.starts_at, a.ends_at))
        for spans in by_practitioner.values():
            spans.sort()
            for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
                assert end <= start

    def test_sessions_follow_their_appointments_in_the_past(self) -> None:
        sessions = TreatmentSession.objects.select_related("appointment")
        assert sessions.count() > 300
        for s in sessions:
            assert s.appointment.status == "completed"
            assert s.appointment.starts_at <= s.performed_at < s.appointment.ends_at
        once = CheckIn.objects.values("session").annotate(n=Count("id")).filter(n__gt=6)
        assert not once.exists()

    def test_each_practitioner_has_a_day_list_on_an_opening_day(self) -> None:
        """The practitioner's day is never empty in the demo: on an opening day each
        practitioner has someone arrived today, and the sessions logged today are linked to
        their appointments (every session is, see above)."""
        for clinic in Clinic.objects.all():
            today = clinic.today()
            if (
                clinic.opening_span(today) is None
                or clinic.closures.filter(starts_on__lte=today, ends_on__gte=today).exists()
            ):
                continue
            start, end = clinic.day_span(today)
            practitioners = Membership.objects.filter(clinic=clinic, role=Role.PRACTITIONER)
            for membership in practitioners:
                todays = Appointment.objects.filter(
                    clinic=clinic,
                    practitioner=membership.user,
                    starts_at__gte=start,
                    starts_at__lt=end,
                )
                assert todays.filter(status="arrived").exists(), membership.user
                closes = clinic.at_local(today, clinic.opening_span(today)[1])
                if clinic.now() + timedelta(hours=1) < closes:
                    assert todays.filter(status="booked").exists(), membership.user

    def test_the_summary_tables_are_built_and_equal_the_live_aggregates(self) -> None:
        assert summaries.summaries_as_of() is not None
        assert summaries.table_lot_weeks() == summaries.live_lot_weeks() != {}
        assert summaries.table_lot_terms() == summaries.live_lot_terms() != {}
        assert summaries.table_reaction_weeks() == summaries.live_reaction_weeks() != {}
        assert summaries.table_checkin_weeks() == summaries.live_checkin_weeks() != {}

    def test_seeding_twice_changes_nothing(self) -> None:
        before = row_counts()
        output = seed(scale=1)
        assert "already seeded" in output
        assert row_counts() == before


def test_it_refuses_to_run_outside_demo_mode(db, settings) -> None:
    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="DEMO_MODE"):
        call_command("seed_demo", stdout=StringIO())
    assert not Clinic.objects.exists()
