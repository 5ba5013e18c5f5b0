"""The API takes date-times only with their offset: "2026-12-14T10:00" could be any clinic's
ten o'clock, and reading it as UTC moved a Seoul appointment to 19:00."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.factories import AppointmentFactory, PatientFactory, SeriesTemplateFactory
from treatments.models import Appointment

pytestmark = pytest.mark.django_db

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(datetime(2026, 12, 7, 3, 0, tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def appointment(clinic_a, practitioner_a):
    start = datetime(2026, 12, 14, 10, 0, tzinfo=SEOUL)
    return AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a),
        practitioner=practitioner_a,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
    )


def _reschedule(client, appointment, starts_at: str):
    return client.post(
        f"/api/v1/appointments/{appointment.uuid}/reschedule/",
        {"starts_at": starts_at},
        content_type="application/json",
    )


def test_a_time_without_an_offset_is_refused_naming_the_field(front_desk_client, appointment):
    response = _reschedule(front_desk_client, appointment, "2026-12-15T10:00:00")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "offset" in error["fields"]["starts_at"][0]
    appointment.refresh_from_db()
    assert appointment.starts_at == datetime(2026, 12, 14, 10, 0, tzinfo=SEOUL)


def test_a_date_alone_is_not_taken_for_midnight_utc(front_desk_client, appointment):
    response = _reschedule(front_desk_client, appointment, "2026-12-15")
    assert response.status_code == 400
    assert "starts_at" in response.json()["error"]["fields"]


def test_the_same_time_with_its_offset_is_accepted(front_desk_client, appointment):
    response = _reschedule(front_desk_client, appointment, "2026-12-15T10:00:00+09:00")
    assert response.status_code == 200, response.json()
    appointment.refresh_from_db()
    assert appointment.starts_at == datetime(2026, 12, 15, 10, 0, tzinfo=SEOUL)


def test_a_series_with_a_naive_start_books_nothing(
    front_desk_client, clinic_a, practitioner_a, appointment
):
    template = SeriesTemplateFactory(clinic=clinic_a, sessions_planned=1)
    before = Appointment.objects.count()
    response = front_desk_client.post(
        "/api/v1/series/",
        {
            "patient": str(appointment.patient.uuid),
            "practitioner": str(practitioner_a.uuid),
            "template": str(template.uuid),
            "starts": ["2026-12-21T10:00:00"],
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "starts" in response.json()["error"]["fields"]
    assert Appointment.objects.count() == before


def test_a_query_string_time_without_an_offset_is_refused(front_desk_client, appointment):
    response = front_desk_client.get("/api/v1/appointments/", {"starts_after": "2026-12-14T09:00"})
    assert response.status_code == 400
    assert "starts_after" in response.json()["error"]["fields"]


def test_a_query_string_time_with_its_offset_filters(front_desk_client, appointment):
    response = front_desk_client.get(
        "/api/v1/appointments/", {"starts_after": "2026-12-14T09:00:00+09:00"}
    )
    assert response.status_code == 200
    assert [a["id"] for a in response.json()["results"]] == [str(appointment.uuid)]
    response = front_desk_client.get(
        "/api/v1/appointments/", {"starts_after": "2026-12-14T10:30:00+09:00"}
    )
    assert response.json()["results"] == []
