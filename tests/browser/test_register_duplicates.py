"""Registering in a real browser: a bad phone number is refused beside its field, and a
patient already registered under another spelling is shown before a second record is made."""

from __future__ import annotations

import pytest
from django.urls import reverse

from patients.models import Patient
from tests.factories import PatientFactory
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_bad_phone_is_refused_and_a_swapped_name_is_found(page, clinic_a, front_desk_a):
    """GIVEN Kim Min-ji (+821012345678) WHEN the front desk types "abc" as the phone THEN the
    field says so; WHEN "Kim" / "Minji" with 010-1234-5678 THEN her record is shown first."""
    existing = PatientFactory(
        clinic=clinic_a,
        first_name="Minji",
        last_name="Kim",
        date_of_birth="1990-04-12",
        phone="+821012345678",
    )
    base = page.base_url
    playwright_login(page, base, front_desk_a)
    page.goto(base + reverse("patients:register"))
    page.get_by_label("First name").fill("Kim")
    page.get_by_label("Last name").fill("Minji")
    page.get_by_label("Date of birth").fill("1990-04-12")
    page.get_by_label("Mobile phone").fill("abc")
    page.get_by_label("Preferred channel").select_option("sms")
    page.get_by_role("button", name="Register patient").click()
    error = page.locator("#id_phone_errors")
    error.wait_for()
    assert "not a valid phone number" in error.inner_text()
    assert page.get_by_label("Mobile phone").get_attribute("aria-invalid") == "true"
    page.screenshot(path=artifact_path("register_bad_phone.png"), full_page=True)

    page.get_by_label("Mobile phone").fill("010-1234-5678")
    page.get_by_role("button", name="Register patient").click()
    page.get_by_role("heading", name="This may be a patient who is already registered").wait_for()
    assert page.get_by_role("link", name="Minji Kim").get_attribute("href") == reverse(
        "patients:detail", kwargs={"uuid": existing.uuid}
    )
    page.screenshot(path=artifact_path("register_duplicate_found.png"), full_page=True)
    assert Patient.objects.count() == 1
