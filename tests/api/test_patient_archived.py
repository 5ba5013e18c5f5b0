"""The API's patient list leaves archived patients out unless asked for; their own URL still
answers, with when and why they were archived."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_archived_patients_leave_the_api_list_unless_asked_for(client_as, front_desk_a, clinic_a):
    active = PatientFactory(clinic=clinic_a)
    archived = PatientFactory(
        clinic=clinic_a,
        archived_at=timezone.now(),
        archived_by=front_desk_a,
        archived_reason="Moved away",
    )
    client = client_as(front_desk_a)
    url = reverse("api:patient-list")

    def ids(**params):
        response = client.get(url, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {str(active.uuid)}
    assert ids(archived="include") == {str(active.uuid), str(archived.uuid)}
    assert ids(archived="only") == {str(archived.uuid)}
    assert client.get(url, {"archived": "maybe"}).status_code == 400
    detail = client.get(reverse("api:patient-detail", kwargs={"uuid": archived.uuid})).json()
    assert detail["archived_reason"] == "Moved away" and detail["archived_at"]
