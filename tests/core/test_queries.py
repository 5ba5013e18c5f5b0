"""The query-count helper: it pins a page's query count and catches an N+1."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import ClinicFactory, MembershipFactory
from tests.kit.queries import assert_constant_queries

pytestmark = pytest.mark.django_db


def _memberships_for(user):
    def grow(n: int) -> None:
        for _ in range(n):
            MembershipFactory(user=user, clinic=ClinicFactory())

    return grow


def test_the_dashboard_costs_the_same_queries_for_two_or_twelve_clinics(
    practitioner_client, practitioner_a
):
    assert_constant_queries(
        # The dashboard's clinical panels (issue 9): alarms, triage, prolonged, today's
        # sessions, response rate, lot signals; the same whatever the number of clinics.
        # Prolonged reactions and today's sessions each read the clinics' time zones. The
        # practitioner's day list (issue 18) adds its appointments, their series and sessions.
        practitioner_client,
        reverse("dashboard"),
        _memberships_for(practitioner_a),
        expected=24,
    )


@pytest.mark.urls("tests.core.scoped_urls")
def test_the_helper_fails_on_an_n_plus_one(practitioner_client, practitioner_a):
    with pytest.raises(AssertionError, match="N\\+1"):
        assert_constant_queries(
            practitioner_client,
            reverse("t-n-plus-one"),
            _memberships_for(practitioner_a),
            expected=0,
        )


def test_the_helper_fails_when_the_pinned_count_changes(practitioner_client, practitioner_a):
    with pytest.raises(AssertionError, match="pinned"):
        assert_constant_queries(
            practitioner_client,
            reverse("dashboard"),
            _memberships_for(practitioner_a),
            expected=1,
        )
