"""Lot safety numbers and signals: the figures, the rate and sentinel rules, raising once,
re-raising a dismissed signal, the safety lead's review, and the debounced run."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from scipy.stats import binomtest

from adverse_events import signals
from adverse_events.models import LotSignal, ReactionTerm, SignalKind, SignalStatus
from adverse_events.signals import compare, lot_figures, signal_review, signals_compute, wilson
from clinic.core.exceptions import Conflict, RuleViolation
from patients.models import MessageKind, OutboxMessage
from tests.adverse_events.patient_form_world import reaction, session_with_link
from tests.factories import (
    AssessmentFactory,
    LotTermSummaryFactory,
    LotWeekSummaryFactory,
    ProductFactory,
    ProductLotFactory,
    ReactionReportFactory,
    TreatmentSessionFactory,
)
from treatments.models import SessionStatus

pytestmark = pytest.mark.django_db


def redness() -> ReactionTerm:
    return ReactionTerm.objects.get(code="redness")


def lot_with(product, sessions: int, cases: int, term_cases: int | None = None, lot=None):
    """A lot whose summary rows say `cases` of `sessions` had a reaction (redness)."""
    lot = lot or ProductLotFactory(product=product)
    LotWeekSummaryFactory(lot=lot, sessions=sessions, cases=cases)
    if term_cases is None:
        term_cases = cases
    if term_cases:
        LotTermSummaryFactory(lot=lot, term=redness(), cases=term_cases)
    return lot


def set_cases(lot, sessions: int, cases: int) -> None:
    lot.week_summaries.update(sessions=sessions, cases=cases)
    lot.term_summaries.update(cases=cases)


@pytest.fixture
def product(clinic_a):
    return ProductFactory(clinic=clinic_a)


@pytest.fixture
def clean_siblings(product):
    """Four lots of the product at a 2% reaction rate: 8 cases in 400 sessions."""
    return [lot_with(product, 100, 2) for _ in range(4)]


# --- the numbers --------------------------------------------------------------------------


def test_the_rate_interval_is_wilson():
    low, high = wilson(3, 100)
    assert low == pytest.approx(0.01025, abs=1e-4)
    assert high == pytest.approx(0.08452, abs=1e-4)
    assert wilson(0, 0) == (None, None)


def test_the_comparison_is_the_exact_conditional_binomial_test():
    """GIVEN 6 cases in 100 sessions against 10 in 900 THEN the p-value is the binomial tail
    of 6 of the 16 cases landing in a lot that holds 10% of the sessions."""
    c = compare(6, 100, 10, 900)
    assert c.rate_ratio == pytest.approx(5.4)
    expected = binomtest(6, 16, 0.1, alternative="greater").pvalue
    assert c.p_value == pytest.approx(expected)
    assert 1 < c.rr_ci_low < 5.4 < c.rr_ci_high
    # The other lots had no cases: the ratio has no upper bound, but the test still works.
    unbounded = compare(3, 100, 0, 900)
    assert unbounded.rate_ratio is None and unbounded.rr_ci_high is None
    assert unbounded.p_value == pytest.approx(0.1**3)


def test_figures_compare_each_lot_with_its_products_other_lots_only(product, clean_siblings):
    other_product_lot = lot_with(ProductFactory(clinic=product.clinic), 100, 50)
    hot = lot_with(product, 100, 8)
    figures = lot_figures()
    f = figures[hot.pk].any
    assert (f.cases, f.exposure, f.other_cases, f.other_exposure) == (8, 100, 8, 400)
    assert f.rate == pytest.approx(0.08)
    assert f.comparison.rate_ratio == pytest.approx(4.0)
    # The other product's 50 cases are not this product's business.
    assert figures[other_product_lot.pk].any.other_exposure == 0
    assert [t.term_id for t in figures[hot.pk].terms] == [redness().pk]


# --- rate signals -------------------------------------------------------------------------


def test_a_lot_standing_out_raises_a_rate_signal_for_any_reaction_and_the_term(
    product, clean_siblings
):
    hot = lot_with(product, 100, 8)
    summary = signals_compute()
    raised = LotSignal.objects.filter(kind=SignalKind.RATE).order_by("dedupe_key")
    assert {s.lot_id for s in raised} == {hot.pk}
    assert [s.term_id for s in raised] == [redness().pk, None]
    s = raised.get(term=None)
    assert (s.cases, s.exposure, s.status) == (8, 100, SignalStatus.NEW)
    assert s.rate_ratio == pytest.approx(4.0)
    assert s.rr_ci_low > 1 and s.p_value <= signals.FDR
    assert len(summary.raised) == 2 and summary.sentinels == 0


def test_fewer_than_three_cases_never_raise_a_rate_signal(product):
    lot_with(product, 100, 0)
    lot_with(product, 100, 0)
    lot_with(product, 10, 2)  # 20% against 0%: striking, but two cases
    signals_compute()
    assert not LotSignal.objects.exists()


def test_a_ratio_under_two_does_not_raise_one_however_significant(product):
    for _ in range(3):
        lot_with(product, 10_000, 1000)
    lot_with(product, 10_000, 1800)  # ratio 1.8, p tiny
    signals_compute()
    assert not LotSignal.objects.exists()


def test_a_lot_alone_in_its_product_has_nothing_to_compare_with(product):
    lot_with(product, 20, 10)
    signals_compute()
    assert not LotSignal.objects.exists()


def test_a_signal_is_raised_once_and_its_figures_follow_while_it_is_open(product, clean_siblings):
    hot = lot_with(product, 100, 8)
    signals_compute()
    signals_compute()
    assert LotSignal.objects.filter(lot=hot, term=None).count() == 1
    set_cases(hot, 150, 12)
    summary = signals_compute()
    assert summary.raised == []
    s = LotSignal.objects.get(lot=hot, term=None)
    assert (s.cases, s.exposure) == (12, 150)


def test_a_dismissed_signal_comes_back_only_when_its_cases_have_doubled(
    product, clean_siblings, safety_lead_a
):
    hot = lot_with(product, 100, 8)
    signals_compute()
    first = LotSignal.objects.get(lot=hot, term=None)
    signal_review(signal=first, user=safety_lead_a, status="dismissed", reason="Batch of new staff")
    set_cases(hot, 150, 15)  # grown, not doubled
    signals_compute()
    assert LotSignal.objects.filter(lot=hot, term=None).count() == 1
    first.refresh_from_db()
    assert first.cases == 8  # a dismissed signal keeps the figures it was judged on
    set_cases(hot, 200, 16)
    signals_compute()
    again = LotSignal.objects.filter(lot=hot, term=None).latest("pk")
    assert again.pk != first.pk and again.status == SignalStatus.NEW
    assert again.dedupe_key == f"rate:{hot.pk}:any:r2" and again.cases == 16


def test_an_actioned_signal_is_not_raised_again(product, clean_siblings, safety_lead_a):
    hot = lot_with(product, 100, 8)
    signals_compute()
    signal_review(
        signal=LotSignal.objects.get(lot=hot, term=None), user=safety_lead_a, status="actioned"
    )
    set_cases(hot, 300, 40)
    signals_compute()
    assert LotSignal.objects.filter(lot=hot, term=None).count() == 1


def test_new_signals_are_announced_to_the_safety_leads_without_patient_detail(
    product, clean_siblings, safety_lead_a, django_capture_on_commit_callbacks
):
    hot = lot_with(product, 100, 8)
    with django_capture_on_commit_callbacks(execute=True):
        signals_compute()
    notes = OutboxMessage.objects.filter(kind=MessageKind.STAFF_NOTICE)
    assert notes.count() == 2  # any reaction, and redness
    assert {n.to_address for n in notes} == {safety_lead_a.email}
    body = notes.first().body
    assert f"/safety/lots/{hot.uuid}/" in body
    with django_capture_on_commit_callbacks(execute=True):
        signals_compute()
    assert notes.count() == 2  # raised once, announced once


# --- sentinel events ----------------------------------------------------------------------


def test_a_sentinel_term_raises_a_sentinel_signal_per_report_whatever_the_rates(product):
    lot = lot_with(product, 500, 1)
    infection = ReactionTerm.objects.filter(sentinel=True).first()
    session = TreatmentSessionFactory(lot=lot, clinic=product.clinic)
    report = ReactionReportFactory(session=session, term=infection)
    ReactionReportFactory(session=session, term=redness())  # not sentinel
    summary = signals_compute()
    s = LotSignal.objects.get()
    assert (s.kind, s.report, s.lot, s.exposure) == (SignalKind.SENTINEL, report, lot, 500)
    assert summary.sentinels == 1
    signals_compute()
    assert LotSignal.objects.count() == 1


def test_a_serious_assessment_raises_a_sentinel_signal(product):
    lot = lot_with(product, 50, 1)
    session = TreatmentSessionFactory(lot=lot, clinic=product.clinic)
    assessment = AssessmentFactory(report__session=session, report__term=redness())
    signals_compute()
    assert not LotSignal.objects.exists()
    assessment.serious_hospitalisation = True
    assessment.save()
    signals_compute()
    assert LotSignal.objects.get().report == assessment.report


def test_a_session_entered_in_error_raises_no_sentinel(product):
    lot = lot_with(product, 50, 1)
    session = TreatmentSessionFactory(lot=lot, clinic=product.clinic)
    ReactionReportFactory(session=session, term=ReactionTerm.objects.filter(sentinel=True)[0])
    type(session).objects.filter(pk=session.pk).update(
        status=SessionStatus.ENTERED_IN_ERROR, entered_in_error_reason="Wrong patient"
    )
    signals_compute()
    assert not LotSignal.objects.exists()


# --- review -------------------------------------------------------------------------------


def test_review_moves_forward_and_keeps_who_and_when(product, clean_siblings, safety_lead_a):
    lot_with(product, 100, 8)
    signals_compute()
    s = LotSignal.objects.get(term=None)
    s = signal_review(signal=s, user=safety_lead_a, status="under_review")
    assert s.reviewed_by == safety_lead_a and s.reviewed_at is not None
    with pytest.raises(RuleViolation) as error:
        signal_review(signal=s, user=safety_lead_a, status="dismissed", reason="  ")
    assert error.value.field == "reason"
    s = signal_review(signal=s, user=safety_lead_a, status="dismissed", reason="Known cause")
    assert s.status_reason == "Known cause"
    with pytest.raises(Conflict) as error:
        signal_review(signal=s, user=safety_lead_a, status="actioned")
    assert error.value.field == "status"
    with pytest.raises(RuleViolation):
        signal_review(signal=s, user=safety_lead_a, status="bogus")
    history = list(s.history.order_by("history_date").values_list("status", "history_user"))
    assert history[-2:] == [("under_review", safety_lead_a.pk), ("dismissed", safety_lead_a.pk)]


# --- the debounced run --------------------------------------------------------------------


def test_a_burst_of_reports_enqueues_one_run(practitioner_a, monkeypatch):
    """GIVEN 50 patients reporting reactions within a minute WHEN each submission commits
    THEN one signals run is queued, with the debounce countdown; once it starts, the next
    report queues another."""
    from adverse_events import tasks
    from adverse_events.services import submission_record

    queued: list[dict] = []
    monkeypatch.setattr(tasks.signals_run, "apply_async", lambda **kw: queued.append(kw))
    reached = session_with_link(practitioner_a)
    for _ in range(50):
        submission_record(
            link=reached.link,
            submission_id=uuid.uuid4(),
            all_fine=False,
            reactions=[reaction("redness")],
        )
    # pytest's transaction never commits: run what each commit would have run.
    for _ in range(50):
        tasks.signals_run_soon()
    assert queued == [{"countdown": signals.DEBOUNCE_SECONDS}]
    signals.signals_run_started()
    assert tasks.signals_run_soon()
    assert len(queued) == 2


def test_submitting_reactions_asks_for_a_run_on_commit_but_all_fine_does_not(
    practitioner_a, monkeypatch, django_capture_on_commit_callbacks
):
    from adverse_events import tasks

    calls: list[bool] = []
    monkeypatch.setattr(tasks, "signals_run_soon", lambda: calls.append(True))
    from adverse_events.services import submission_record

    reached = session_with_link(practitioner_a)
    with django_capture_on_commit_callbacks(execute=True):
        submission_record(link=reached.link, submission_id=uuid.uuid4(), all_fine=True)
    assert calls == []
    with django_capture_on_commit_callbacks(execute=True):
        submission_record(
            link=reached.link,
            submission_id=uuid.uuid4(),
            all_fine=False,
            reactions=[reaction("swelling")],
        )
    assert calls == [True]


def test_a_marker_left_by_a_lost_task_stops_blocking(monkeypatch):
    assert signals.signals_run_claim()
    assert not signals.signals_run_claim()
    later = timezone.now() + signals.PENDING_STALE_AFTER + timedelta(seconds=1)
    assert signals.signals_run_claim(now=later)


def test_a_broker_failure_releases_the_marker(monkeypatch):
    from adverse_events import tasks

    def down(**kw):
        raise ConnectionError("broker away")

    monkeypatch.setattr(tasks.signals_run, "apply_async", down)
    assert not tasks.signals_run_soon()
    assert signals.signals_run_claim()  # not blocked by the failed attempt


# --- end to end: the task refreshes the summaries from real rows, then computes -----------


def test_the_task_refreshes_the_summaries_then_raises_signals_from_real_reports(clinic_a):
    """GIVEN real sessions and reports: a lot with 5 of 10 sessions followed by redness (one
    of them an infection too) and four lots with 1 case in 40 sessions WHEN the signals task
    runs THEN the summaries hold those counts and the lot has a rate and a sentinel signal."""
    from adverse_events.models import LotWeekSummary
    from adverse_events.tasks import signals_run

    product = ProductFactory(clinic=clinic_a)
    hot = ProductLotFactory(product=product, quantity_received=100)
    infection = ReactionTerm.objects.filter(sentinel=True).first()
    for i in range(10):
        session = TreatmentSessionFactory(lot=hot, clinic=clinic_a)
        if i < 5:
            report = ReactionReportFactory(session=session, term=redness())
    ReactionReportFactory(session=session, term=infection)  # the 10th: a sentinel case
    for _ in range(4):
        lot = ProductLotFactory(product=product, quantity_received=100)
        sessions = [TreatmentSessionFactory(lot=lot, clinic=clinic_a) for _ in range(10)]
    ReactionReportFactory(session=sessions[0], term=redness())

    result = signals_run()

    assert sum(LotWeekSummary.objects.filter(lot=hot).values_list("cases", flat=True)) == 6
    rate = LotSignal.objects.get(lot=hot, kind=SignalKind.RATE, term=None)
    assert (rate.cases, rate.exposure) == (6, 10)
    sentinel = LotSignal.objects.get(kind=SignalKind.SENTINEL)
    assert sentinel.lot == hot and sentinel.report.term == infection
    assert report.session.lot == hot
    assert result["raised"] >= 3 and result["sentinels"] == 1
