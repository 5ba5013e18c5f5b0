"""People by name in a real browser: the reactions list and its practitioner filter."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from clinic.core.models import Role
from clinic.core.services import staff_create
from tests.factories import PatientFactory, ReactionReportFactory, TreatmentSessionFactory
from tests.kit.auth import PASSWORD, playwright_login
from tests.kit.browser import artifact_path


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_safety_lead_filters_reactions_by_a_practitioner_named_not_by_login(
    page, clinic_a, safety_lead_a, practitioner_a, superuser_a
):
    """GIVEN two Seoul practitioners with full names, each with a reaction to review
    WHEN the safety lead opens the reactions list and picks one practitioner in the filter
    THEN the filter offers only the two practitioners by name (no admin, no safety lead) and
    the list shows that practitioner's reaction under their name."""
    practitioner_a.first_name, practitioner_a.last_name = "Ji-woo", "Kim"
    practitioner_a.save(update_fields=["first_name", "last_name"])
    second = staff_create(
        username="seoul.practitioner2",
        password=PASSWORD,
        clinic_roles=[(clinic_a, Role.PRACTITIONER)],
        first_name="Min-jun",
        last_name="Park",
    )
    for who in (practitioner_a, second):
        session = TreatmentSessionFactory(patient=PatientFactory(clinic=clinic_a), practitioner=who)
        ReactionReportFactory(session=session)

    base = page.base_url
    playwright_login(page, base, safety_lead_a)
    page.goto(base + reverse("triage:reactions"))
    picker = page.get_by_label("Practitioner")
    expect(picker.locator("option")).to_have_text(["Any", "Ji-woo Kim", "Min-jun Park"])

    picker.select_option(label="Min-jun Park")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("heading", name=re.compile(r"^1 reaction\b"))).to_be_visible()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").last).to_have_text("Min-jun Park")
    expect(page.locator("main")).not_to_contain_text("seoul.practitioner2")
    page.screenshot(path="/tmp/shots-names/reactions.png", full_page=True)
    page.screenshot(path=str(artifact_path("reactions-by-name.png")), full_page=True)
