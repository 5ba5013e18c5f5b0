"""Triage one report (context, assessment, history), the filtered reactions list and its
streamed CSV export."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from adverse_events.models import Assessment, TriageStatus
from adverse_events.services import assessment_record
from clinic.core.exceptions import RuleViolation
from tests.factories import (
    AssessmentFactory,
    ReactionReportFactory,
    ReactionTermFactory,
    SubmissionFactory,
    SubmissionPhotoFactory,
    TreatmentSessionFactory,
)
from tests.kit.queries import assert_constant_queries
from treatments.models import DeliveryMethod

pytestmark = pytest.mark.django_db
LIST = reverse("triage:reactions")
CSV = reverse("triage:reactions_csv")


def _url(report) -> str:
    return reverse("triage:report", args=[report.uuid])


REVIEW = {"triage_status": "reviewed", "severity_grade": "2", "action_taken": "Cold compress"}
CLOSE = REVIEW | {"triage_status": "closed", "outcome": "recovered", "causality": "probable"}


class TestTriagePage:
    def test_it_shows_the_context_at_once(self, practitioner_client, clinic_a):
        submission = SubmissionFactory(clinic=clinic_a, free_text="It itches at night")
        report = ReactionReportFactory(
            clinic=clinic_a, session=submission.session, submission=submission
        )
        AssessmentFactory(report=report)
        sibling = ReactionReportFactory(
            clinic=clinic_a,
            session=submission.session,
            submission=submission,
            term=ReactionTermFactory(code="itching"),
        )
        earlier = ReactionReportFactory(clinic=clinic_a, patient=report.patient)
        earlier.created_at = report.created_at - timedelta(days=30)
        earlier.save(update_fields=["created_at"])
        photo = SubmissionPhotoFactory(submission=submission)
        html = practitioner_client.get(_url(report)).content.decode()
        session = report.session
        assert "It itches at night" in html
        assert session.lot.lot_number in html and session.lot.product.name in html
        assert "0.50 mm" in html
        assert reverse("photos:show", args=[photo.uuid]) in html
        assert reverse("triage:report", args=[sibling.uuid]) in html
        assert reverse("triage:report", args=[earlier.uuid]) in html
        assert reverse("clinical:session", args=[session.uuid]) in html

    def test_opening_it_is_recorded_as_a_patient_access(
        self, practitioner_client, practitioner_a, clinic_a
    ):
        report = AssessmentFactory(report__clinic=clinic_a).report
        practitioner_client.get(_url(report))
        assert report.patient.accesses.filter(user=practitioner_a, action="triage_view").exists()

    def test_reviewing_then_closing_keeps_every_step_in_history(
        self, practitioner_client, practitioner_a, clinic_a
    ):
        """GIVEN a new report WHEN a practitioner reviews it and then closes it
        THEN the assessment ends closed, the patient's report is untouched, and the history
        shows both steps by that practitioner."""
        report = AssessmentFactory(report__clinic=clinic_a).report
        before = (report.patient_severity, report.ongoing, report.onset_date)
        assert practitioner_client.post(_url(report), REVIEW).status_code == 302
        assert practitioner_client.post(_url(report), CLOSE).status_code == 302
        assessment = Assessment.objects.get(report=report)
        assert assessment.triage_status == TriageStatus.CLOSED
        assert assessment.assessed_by == practitioner_a
        report.refresh_from_db()
        assert (report.patient_severity, report.ongoing, report.onset_date) == before
        statuses = [h.triage_status for h in assessment.history.order_by("history_date")]
        assert statuses[-2:] == ["reviewed", "closed"]
        assert {h.history_user for h in assessment.history.all()[:2]} == {practitioner_a}
        html = practitioner_client.get(_url(report)).content.decode()
        assert "History of this assessment" in html and "Reviewed" in html

    def test_reviewed_without_a_grade_shows_the_error_next_to_the_grade(
        self, practitioner_client, clinic_a
    ):
        report = AssessmentFactory(report__clinic=clinic_a).report
        data = REVIEW | {"severity_grade": "", "notes": "keep me"}
        response = practitioner_client.post(_url(report), data)
        html = response.content.decode()
        assert response.status_code == 400
        assert 'id="id_severity_grade_errors"' in html
        assert "needs a severity grade" in html
        assert "keep me" in html
        assert Assessment.objects.get(report=report).triage_status == TriageStatus.NEW

    @pytest.mark.parametrize("missing", ["outcome", "causality"])
    def test_closing_without_outcome_or_causality_shows_the_error_next_to_it(
        self, practitioner_client, clinic_a, missing
    ):
        report = AssessmentFactory(report__clinic=clinic_a).report
        response = practitioner_client.post(_url(report), CLOSE | {missing: ""})
        assert response.status_code == 400
        assert f'id="id_{missing}_errors"' in response.content.decode()

    def test_a_closed_report_cannot_go_back_to_new(self, practitioner_a, clinic_a):
        report = AssessmentFactory(report__clinic=clinic_a, closed=True).report
        with pytest.raises(RuleViolation) as caught:
            assessment_record(
                report=report, user=practitioner_a, triage_status="new", severity_grade=None
            )
        assert caught.value.field == "triage_status"

    def test_a_fatal_outcome_needs_the_death_criterion(self, practitioner_a, clinic_a):
        report = AssessmentFactory(report__clinic=clinic_a).report
        with pytest.raises(RuleViolation) as caught:
            assessment_record(
                report=report,
                user=practitioner_a,
                triage_status="closed",
                severity_grade=4,
                outcome="fatal",
                causality="possible",
            )
        assert caught.value.field == "serious_death"

    @pytest.mark.parametrize(
        "bad",
        [{"severity_grade": "9"}, {"triage_status": "deleted"}, {"outcome": "cured"}],
    )
    def test_out_of_range_choices_are_refused_next_to_the_field(
        self, practitioner_client, clinic_a, bad
    ):
        report = AssessmentFactory(report__clinic=clinic_a).report
        response = practitioner_client.post(_url(report), REVIEW | bad)
        assert response.status_code == 400
        assert f'id="id_{next(iter(bad))}_errors"' in response.content.decode()

    def test_a_report_without_an_assessment_row_gets_one_on_first_save(
        self, practitioner_client, clinic_a
    ):
        report = ReactionReportFactory(clinic=clinic_a)
        assert practitioner_client.get(_url(report)).status_code == 200
        assert practitioner_client.post(_url(report), REVIEW).status_code == 302
        assert Assessment.objects.get(report=report).severity_grade == 2

    def test_another_clinics_report_is_404(self, outsider_client, clinic_a):
        report = AssessmentFactory(report__clinic=clinic_a).report
        assert outsider_client.get(_url(report)).status_code == 404
        assert outsider_client.post(_url(report), REVIEW).status_code == 404

    def test_the_front_desk_is_refused(self, front_desk_client, clinic_a):
        report = AssessmentFactory(report__clinic=clinic_a).report
        assert front_desk_client.get(_url(report)).status_code == 403


class TestReactionsList:
    def test_filters_narrow_the_list(self, practitioner_client, clinic_a):
        laser = TreatmentSessionFactory(clinic=clinic_a, laser=True)
        hit = ReactionReportFactory(clinic=clinic_a, session=laser)
        miss = ReactionReportFactory(clinic=clinic_a)
        response = practitioner_client.get(LIST, {"delivery_method": DeliveryMethod.LASER})
        html = response.content.decode()
        assert _url(hit) in html and _url(miss) not in html

    def test_lot_product_term_and_severity_filters(self, practitioner_client, clinic_a):
        graded = AssessmentFactory(report__clinic=clinic_a, reviewed=True).report
        other = ReactionReportFactory(clinic=clinic_a, term=ReactionTermFactory(code="fever"))
        lot = graded.session.lot
        for query, shown, hidden in [
            ({"lot": lot.uuid}, graded, other),
            ({"product": lot.product.uuid}, graded, other),
            ({"term": "fever"}, other, graded),
            ({"severity": "1"}, graded, other),
            ({"practitioner": graded.session.practitioner.uuid}, graded, other),
        ]:
            html = practitioner_client.get(LIST, query).content.decode()
            assert _url(shown) in html and _url(hidden) not in html, query

    def test_a_date_range_keeps_onsets_inside_it(self, practitioner_client, clinic_a):
        today = timezone.localdate()
        old = ReactionReportFactory(clinic=clinic_a, onset_date=today - timedelta(days=20))
        new = ReactionReportFactory(clinic=clinic_a, onset_date=today)
        html = practitioner_client.get(
            LIST, {"onset_from": (today - timedelta(days=3)).isoformat()}
        ).content.decode()
        assert _url(new) in html and _url(old) not in html

    def test_a_backwards_date_range_is_an_error_next_to_the_field(self, practitioner_client):
        response = practitioner_client.get(
            LIST, {"onset_from": "2026-05-10", "onset_to": "2026-05-01"}
        )
        html = response.content.decode()
        assert response.status_code == 400
        assert 'id="id_onset_to_errors"' in html and 'value="2026-05-10"' in html

    @pytest.mark.parametrize(
        "bad", [{"onset_from": "not-a-date"}, {"lot": "nope"}, {"severity": "7"}]
    )
    def test_bad_filter_values_are_errors_not_500s(self, practitioner_client, bad):
        response = practitioner_client.get(LIST, bad)
        assert response.status_code == 400
        assert f'id="id_{next(iter(bad))}_errors"' in response.content.decode()

    def test_another_clinics_lot_is_not_a_valid_filter(
        self, practitioner_client, practitioner_b, clinic_b
    ):
        foreign = ReactionReportFactory(clinic=clinic_b)
        response = practitioner_client.get(LIST, {"lot": foreign.session.lot.uuid})
        assert response.status_code == 400

    def test_another_clinics_reactions_are_not_listed(self, outsider_client, clinic_a):
        report = ReactionReportFactory(clinic=clinic_a)
        assert _url(report) not in outsider_client.get(LIST).content.decode()

    def test_the_list_costs_the_same_at_two_data_sizes(self, practitioner_client, clinic_a):
        def grow(n: int) -> None:
            for _ in range(n):
                AssessmentFactory(report__clinic=clinic_a, reviewed=True)

        assert_constant_queries(practitioner_client, LIST, grow, expected=14)


class TestCsvExport:
    def test_it_streams_the_filtered_rows(self, practitioner_client, clinic_a):
        laser = TreatmentSessionFactory(clinic=clinic_a, laser=True)
        hit = ReactionReportFactory(clinic=clinic_a, session=laser)
        ReactionReportFactory(clinic=clinic_a)
        response = practitioner_client.get(CSV, {"delivery_method": "laser"})
        assert response.status_code == 200
        assert response.streaming
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[0][0] == "report"
        assert [r[0] for r in rows[1:]] == [str(hit.uuid)]

    def test_session_dates_are_the_clinics_own_with_the_zone_in_the_header(
        self, practitioner_client, clinic_a
    ):
        """GIVEN a session at 00:01 on 8 December in Seoul (15:01 UTC on the 7th)
        WHEN its reaction is exported
        THEN the session date is 8 December and the header says it is Seoul's date."""
        seoul = ZoneInfo("Asia/Seoul")
        session = TreatmentSessionFactory(
            clinic=clinic_a, performed_at=datetime(2026, 12, 8, 0, 1, tzinfo=seoul)
        )
        ReactionReportFactory(clinic=clinic_a, session=session, onset_date=date(2026, 12, 8))
        body = b"".join(practitioner_client.get(CSV).streaming_content).decode()
        [row] = list(csv.DictReader(io.StringIO(body)))
        assert row["session date (Asia/Seoul)"] == "2026-12-08"
        assert row["clinic time zone"] == "Asia/Seoul"

    def test_an_export_across_time_zones_gives_each_row_its_clinics_date_and_zone(
        self, practitioner_client, practitioner_a, clinic_a, clinic_b
    ):
        from clinic.core.models import Membership, Role

        Membership.objects.create(user=practitioner_a, clinic=clinic_b, role=Role.PRACTITIONER)
        moment = datetime(2026, 12, 7, 15, 1, tzinfo=ZoneInfo("UTC"))  # Seoul 8th, NY 7th
        for clinic in (clinic_a, clinic_b):
            session = TreatmentSessionFactory(clinic=clinic, performed_at=moment)
            ReactionReportFactory(clinic=clinic, session=session, onset_date=date(2026, 12, 8))
        body = b"".join(practitioner_client.get(CSV).streaming_content).decode()
        rows = list(csv.DictReader(io.StringIO(body)))
        dates = {r["clinic time zone"]: r["session date (each clinic's time zone)"] for r in rows}
        assert dates == {"Asia/Seoul": "2026-12-08", "America/New_York": "2026-12-07"}

    def test_formula_like_text_is_neutralised(self, practitioner_client, clinic_a):
        other = ReactionTermFactory(code="other_thing", is_other=True)
        ReactionReportFactory(clinic=clinic_a, term=other, other_text="=HYPERLINK(1)")
        body = b"".join(practitioner_client.get(CSV).streaming_content).decode()
        assert "'=HYPERLINK(1)" in body

    def test_every_free_text_cell_is_neutralised_including_tab_and_carriage_return(
        self, practitioner_client, clinic_a
    ):
        """A lot number, product name or term typed by staff, or a patient's words, that a
        spreadsheet would run as a formula (also after a leading tab or carriage return) is
        exported with a leading apostrophe."""
        from treatments.models import Product, ProductLot

        term = ReactionTermFactory(code="local_term", name="+SUM(1)", is_other=True)
        report = ReactionReportFactory(clinic=clinic_a, term=term, other_text="\t=HYPERLINK(2)")
        lot = report.session.lot
        ProductLot.objects.filter(pk=lot.pk).update(lot_number="@SUM(3)")
        Product.objects.filter(pk=lot.product_id).update(name="\r=HYPERLINK(4)")
        body = b"".join(practitioner_client.get(CSV).streaming_content).decode()
        [row] = list(csv.DictReader(io.StringIO(body)))
        assert row["reaction"] == "'+SUM(1)"
        assert row["described as"] == "'\t=HYPERLINK(2)"
        assert row["lot"] == "'@SUM(3)"
        assert row["product"] == "'\r=HYPERLINK(4)"

    def test_bad_filters_give_the_form_back_not_a_file(self, practitioner_client):
        response = practitioner_client.get(CSV, {"onset_from": "yesterday-ish"})
        assert response.status_code == 400
        assert not response.streaming

    def test_the_front_desk_cannot_export(self, front_desk_client):
        assert front_desk_client.get(CSV).status_code == 403
