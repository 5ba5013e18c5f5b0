"""/api/v1/clinics/: the caller's clinics with the numbers patients are told to call."""

from __future__ import annotations

from typing import Any

from django.urls import reverse


def test_it_lists_only_the_callers_clinics_with_their_numbers(
    clinic_b: Any, practitioner_client: Any
) -> None:
    response = practitioner_client.get(reverse("api:clinic-list"))
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["name"] for r in rows] == ["Seoul"]
    seoul = rows[0]
    assert seoul["country"] == "KR"
    assert seoul["emergency_number"] == "119"
    assert seoul["staff_language"] == "ko"
    assert seoul["phone"] == "+82-2-555-0100"


def test_another_clinic_is_a_404(clinic_b: Any, practitioner_client: Any) -> None:
    response = practitioner_client.get(reverse("api:clinic-detail", kwargs={"uuid": clinic_b.uuid}))
    assert response.status_code == 404
