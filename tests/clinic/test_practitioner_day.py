"""The practitioner's day: today's appointments on the dashboard (arrived on top, polled),
the front desk marking arrivals in place, the session form opened from an appointment (in
treatment, pre-filled from the series' previous session, the planned product's lots first),
the walk-in form's offer of today's appointment, and the series' next step afterwards."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    PractitionerFactory,
    ProductFactory,
    SeriesTemplateFactory,
    TreatmentSeriesFactory,
    TreatmentSessionFactory,
)
from tests.kit.queries import assert_constant_queries
from tests.kit.world import default_plan, released_lot
from treatments.models import (
    AppointmentStatus,
    DeliveryMethod,
    LaserType,
    LotStatus,
    TreatmentSession,
)

pytestmark = pytest.mark.django_db

SEOUL = ZoneInfo("Asia/Seoul")
MONDAY = date(2026, 2, 2)
DASHBOARD = reverse("dashboard")
LIVE = reverse("dashboard-live")
POLL = {"HTTP_X_BACKGROUND_POLL": "1", "HTTP_HX_REQUEST": "true"}


def seoul(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SEOUL)


@pytest.fixture(autouse=True)
def _clock():
    # 09:00 on a Monday in Seoul (midnight UTC): "today" is the clinic's, not the server's.
    with time_machine.travel(seoul(MONDAY, 9), tick=True):
        yield


class Day:
    """Mina Park: session 2 of 3 of an acne-scar series at 14:00 (booked), session 1 done
    four weeks ago by laser with GlowExo; Joon Lee: a consultation at 15:00, arrived."""

    def __init__(self, clinic, practitioner):
        default_plan(clinic)
        self.clinic, self.practitioner = clinic, practitioner
        self.product = ProductFactory(clinic=clinic, name="GlowExo")
        self.other_product = ProductFactory(clinic=clinic, name="AcmeSerum")
        self.late_lot = released_lot(
            clinic, product=self.product, lot_number="GLOW-LATE", expiry_date=date(2027, 1, 1)
        )
        self.soon_lot = released_lot(
            clinic, product=self.product, lot_number="GLOW-SOON", expiry_date=date(2026, 6, 1)
        )
        self.other_lot = released_lot(
            clinic, product=self.other_product, lot_number="ACME-1", expiry_date=date(2026, 3, 1)
        )
        released_lot(
            clinic,
            product=self.product,
            lot_number="GLOW-HELD",
            status=LotStatus.QUARANTINED,
            status_reason="Cold chain",
        )
        released_lot(
            clinic,
            product=self.product,
            lot_number="GLOW-OLD",
            expiry_date=date(2026, 1, 1),
            received_on=date(2025, 1, 1),
        )
        template = SeriesTemplateFactory(
            clinic=clinic, sessions_planned=3, min_interval_weeks=4, max_interval_weeks=6
        )
        self.mina = PatientFactory(clinic=clinic, first_name="Mina", last_name="Park")
        self.series = TreatmentSeriesFactory(
            clinic=clinic,
            patient=self.mina,
            template=template,
            indication="Acne scars",
            sessions_planned=3,
            interval_weeks=4,
        )
        self.steps = [
            AppointmentFactory(
                patient=self.mina,
                practitioner=practitioner,
                series=self.series,
                sequence=n + 1,
                starts_at=seoul(MONDAY + timedelta(weeks=4 * (n - 1)), 14),
                ends_at=seoul(MONDAY + timedelta(weeks=4 * (n - 1)), 15),
                status=AppointmentStatus.COMPLETED if n == 0 else AppointmentStatus.BOOKED,
            )
            for n in range(3)
        ]
        self.first = TreatmentSessionFactory(
            patient=self.mina,
            practitioner=practitioner,
            appointment=self.steps[0],
            series=self.series,
            performed_at=self.steps[0].starts_at,
            lot=self.late_lot,
            laser=True,
            treated_areas=["cheeks", "forehead"],
            units_used=2,
        )
        self.joon = PatientFactory(clinic=clinic, first_name="Joon", last_name="Lee")
        self.consult = AppointmentFactory(
            patient=self.joon,
            practitioner=practitioner,
            starts_at=seoul(MONDAY, 15),
            ends_at=seoul(MONDAY, 15, 30),
            status=AppointmentStatus.ARRIVED,
        )
        self.today = self.steps[1]


@pytest.fixture
def day(clinic_a, practitioner_a) -> Day:
    return Day(clinic_a, practitioner_a)


def day_list(html: str) -> str:
    match = re.search(r'<div id="day-list"[^>]*>(.*?)</section>', html, re.S)
    assert match, "no day list on the page"
    return match.group(1)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def from_appointment(appointment) -> str:
    return reverse("clinical:session_new_from_appointment", kwargs={"uuid": appointment.uuid})


# --- the day list ----------------------------------------------------------------------------


def test_the_day_list_shows_todays_appointments_with_arrived_patients_on_top(
    practitioner_client, practitioner_a, clinic_a, day
):
    someone_else = PractitionerFactory(clinic=clinic_a)
    AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a, first_name="Other", last_name="Doctor"),
        practitioner=someone_else,
        starts_at=seoul(MONDAY, 10),
        ends_at=seoul(MONDAY, 11),
    )
    AppointmentFactory(
        patient=PatientFactory(clinic=clinic_a, first_name="Gone", last_name="Cancelled"),
        practitioner=practitioner_a,
        starts_at=seoul(MONDAY, 11),
        ends_at=seoul(MONDAY, 12),
        status=AppointmentStatus.CANCELLED,
    )
    rows = text(day_list(practitioner_client.get(DASHBOARD).content.decode()))
    assert "My appointments today 2" in rows
    # Joon arrived (15:00) comes before Mina booked (14:00); times on Seoul's clock.
    assert rows.index("Joon Lee") < rows.index("Mina Park")
    assert "15:00 Joon Lee Appointment — Arrived" in rows
    assert "14:00 Mina Park Acne scars 2 of 3 Booked Log session" in rows
    # Another practitioner's patients, cancelled ones and other days stay off my list.
    assert "Other Doctor" not in rows and "Gone Cancelled" not in rows
    assert rows.count("Mina Park") == 1


def test_each_open_appointment_links_to_its_session_form_and_a_done_one_to_its_session(
    practitioner_client, day
):
    html = day_list(practitioner_client.get(DASHBOARD).content.decode())
    assert f'href="{from_appointment(day.today)}"' in html
    assert f'href="{from_appointment(day.consult)}"' in html
    done = TreatmentSessionFactory(
        patient=day.joon,
        practitioner=day.practitioner,
        appointment=day.consult,
        lot=day.soon_lot,
    )
    day.consult.status = AppointmentStatus.COMPLETED
    day.consult.save()
    html = day_list(practitioner_client.get(DASHBOARD).content.decode())
    assert reverse("clinical:session", kwargs={"uuid": done.uuid}) in html
    assert from_appointment(day.consult) not in html


def test_the_day_list_costs_the_same_queries_at_any_number_of_appointments(
    practitioner_client, practitioner_a, clinic_a
):
    made = []

    def grow(n: int) -> None:
        for _ in range(n):
            k = len(made)
            start = seoul(MONDAY, 10) + timedelta(minutes=10 * k)
            series = TreatmentSeriesFactory(clinic=clinic_a)
            appointment = AppointmentFactory(
                patient=series.patient,
                practitioner=practitioner_a,
                series=series,
                sequence=1,
                starts_at=start,
                ends_at=start + timedelta(minutes=10),
                status=AppointmentStatus.COMPLETED if k % 2 else AppointmentStatus.ARRIVED,
            )
            if k % 2:
                TreatmentSessionFactory(
                    patient=series.patient,
                    practitioner=practitioner_a,
                    appointment=appointment,
                    performed_at=start,
                )
            made.append(appointment)

    # The poll refreshes the day list: session, user, device, roles; alarms and their count
    # (no alarm: nothing to prefetch); triage rows and count; the day list's clinics, rows
    # and count.
    assert_constant_queries(practitioner_client, LIVE, grow, expected=11, **POLL)
    html = practitioner_client.get(LIVE, **POLL).content.decode()
    assert 'My appointments today <span class="badge badge-info">12</span>' in html


# --- arrivals: the front desk marks them, the practitioner's poll shows them -------------------


def test_the_front_desk_marks_an_arrival_in_place_and_the_practitioners_poll_shows_it(
    front_desk_client, practitioner_client, day
):
    front_html = front_desk_client.get(DASHBOARD).content.decode()
    status_url = reverse("treatments:appointment_status", kwargs={"uuid": day.today.uuid})
    assert f'hx-post="{status_url}"' in front_html
    row = front_desk_client.post(
        status_url, {"action": "arrived"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert row.startswith(f'<li id="appt-{day.today.uuid}">')
    assert "Arrived</span>" in row and "button" not in row
    day.today.refresh_from_db()
    assert day.today.status == AppointmentStatus.ARRIVED

    rows = text(day_list(practitioner_client.get(LIVE, **POLL).content.decode()))
    assert "14:00 Mina Park Acne scars 2 of 3 Arrived Log session" in rows
    # Both arrived now: by time, Mina's 14:00 before Joon's 15:00.
    assert rows.index("Mina Park") < rows.index("Joon Lee")


def test_an_arrival_the_service_refuses_is_shown_beside_the_row(front_desk_client, day):
    day.today.status = AppointmentStatus.CANCELLED
    day.today.save()
    status_url = reverse("treatments:appointment_status", kwargs={"uuid": day.today.uuid})
    row = front_desk_client.post(status_url, {"action": "arrived"}, HTTP_HX_REQUEST="true")
    assert row.status_code == 200
    assert "This appointment is cancelled; it cannot be marked arrived." in row.content.decode()


def test_without_htmx_marking_arrived_still_goes_to_the_appointment_page(front_desk_client, day):
    status_url = reverse("treatments:appointment_status", kwargs={"uuid": day.today.uuid})
    response = front_desk_client.post(status_url, {"action": "arrived"})
    assert response["Location"] == reverse(
        "treatments:appointment", kwargs={"uuid": day.today.uuid}
    )


# --- the session form opened from the appointment ---------------------------------------------


def test_opening_the_form_puts_the_appointment_in_treatment_and_reopening_it_works(
    practitioner_client, day
):
    first = practitioner_client.get(from_appointment(day.today))
    assert first.status_code == 200
    day.today.refresh_from_db()
    assert day.today.status == AppointmentStatus.IN_TREATMENT
    again = practitioner_client.get(from_appointment(day.today))
    assert again.status_code == 200
    assert "In treatment" in text(again.content.decode())
    rows = text(day_list(practitioner_client.get(DASHBOARD).content.decode()))
    assert "Mina Park Acne scars 2 of 3 In treatment Continue logging" in rows


def test_the_form_is_filled_in_from_the_appointment_and_the_series_previous_session(
    practitioner_client, day
):
    html = practitioner_client.get(from_appointment(day.today)).content.decode()
    facts = text(re.search(r'id="session-appointment".*?</section>', html, re.S).group(0))
    assert "Patient Mina Park" in facts
    assert "Series Acne scars, session 2 of 3" in facts
    assert "Laser / light with GlowExo, as in the series' previous session (5 Jan 2026)" in facts
    assert '<option value="laser" selected>' in html
    assert 'name="laser_device" value="Fraxel"' in html
    assert f'<option value="{LaserType.NON_ABLATIVE_FRACTIONAL}" selected>' in html
    assert 'name="units_used" value="2"' in html
    assert re.search(r'name="treated_areas" value="forehead"[^>]*checked', html)
    # The lot is read off the vial, never pre-filled.
    assert re.search(r'name="lot"[^>]*value=', html) is None


def test_the_planned_products_usable_lots_come_first_and_unusable_lots_never(
    practitioner_client, day
):
    html = practitioner_client.get(from_appointment(day.today)).content.decode()
    datalist = re.search(r'<datalist id="lot-options">(.*?)</datalist>', html, re.S).group(1)
    offered = re.findall(r'<option value="([^"]+)"', datalist)
    assert offered == ["GLOW-SOON", "GLOW-LATE", "ACME-1"]
    assert "Planned: GlowExo" in datalist
    planned = text(re.search(r'id="planned-lots".*?</div>', html, re.S).group(0))
    assert "GLOW-SOON" in planned and "GLOW-LATE" in planned and "ACME-1" not in planned


def test_saving_links_the_session_and_completes_the_appointment_with_the_next_step_shown(
    practitioner_client, day
):
    url = from_appointment(day.today)
    page = practitioner_client.get(url).content.decode()
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    response = practitioner_client.post(
        url,
        {
            "form_token": token,
            "delivery_method": DeliveryMethod.MICRONEEDLING,
            "needle_depth_mm": "0.75",
            "treated_areas": ["cheeks"],
            "lot": "GLOW-SOON",
            "units_used": "1",
            "aftercare_given": "on",
        },
    )
    session = TreatmentSession.objects.get(appointment=day.today)
    assert response.status_code == 302
    assert (session.series, session.lot) == (day.series, day.soon_lot)
    day.today.refresh_from_db()
    assert day.today.status == AppointmentStatus.COMPLETED
    detail = text(
        practitioner_client.get(
            reverse("clinical:session", kwargs={"uuid": session.uuid})
        ).content.decode()
    )
    assert "Series: Acne scars" in detail
    assert "session 2 of 3" in detail
    assert "Next: session 3 of 3 on Mon 2 Mar 2026, 14:00 Booked" in detail


def test_a_completed_series_session_with_the_next_one_cancelled_says_when_to_book(
    practitioner_client, front_desk_client, day
):
    TreatmentSessionFactory(
        patient=day.mina,
        practitioner=day.practitioner,
        appointment=day.today,
        series=day.series,
        lot=day.soon_lot,
    )
    day.today.status = AppointmentStatus.COMPLETED
    day.today.save()
    day.steps[2].status = AppointmentStatus.CANCELLED
    day.steps[2].save()
    chart = text(
        practitioner_client.get(
            reverse("clinical:chart", kwargs={"uuid": day.mina.uuid})
        ).content.decode()
    )
    assert (
        "Next session not booked: session 3 of 3, book from Mon 2 Mar 2026 (by Mon 16 Mar 2026)"
        in chart
    )
    front = text(front_desk_client.get(DASHBOARD).content.decode())
    assert (
        "Mina Park — Acne scars: 2 of 3 booked; next session from Mon 2 Mar 2026 "
        "to Mon 16 Mar 2026" in front
    )


# --- a session without an appointment ----------------------------------------------------------


def test_the_walk_in_form_offers_the_patients_open_appointment_of_the_day(practitioner_client, day):
    html = practitioner_client.get(
        reverse("clinical:session_new", kwargs={"uuid": day.joon.uuid})
    ).content.decode()
    offer = re.search(r'id="open-today".*?</section>', html, re.S).group(0)
    assert "Log against today's 15:00 appointment" in offer
    assert f'href="{from_appointment(day.consult)}"' in offer


def test_the_walk_in_form_offers_nothing_once_the_days_session_is_logged(practitioner_client, day):
    TreatmentSessionFactory(
        patient=day.joon,
        practitioner=day.practitioner,
        appointment=day.consult,
        lot=day.soon_lot,
        units_used=1,
        needle_depth_mm=Decimal("0.5"),
    )
    day.consult.status = AppointmentStatus.COMPLETED
    day.consult.save()
    html = practitioner_client.get(
        reverse("clinical:session_new", kwargs={"uuid": day.joon.uuid})
    ).content.decode()
    assert 'id="open-today"' not in html


def test_the_appointment_page_offers_clinicians_the_session_form_and_the_front_desk_not(
    practitioner_client, front_desk_client, day
):
    page = reverse("treatments:appointment", kwargs={"uuid": day.today.uuid})
    link = f'href="{from_appointment(day.today)}"'
    assert link in practitioner_client.get(page).content.decode()
    assert link not in front_desk_client.get(page).content.decode()
    day.today.status = AppointmentStatus.CANCELLED
    day.today.save()
    assert link not in practitioner_client.get(page).content.decode()


def test_a_held_appointment_is_offered_for_clearing_not_for_logging(practitioner_client, day):
    day.consult.safety_hold = True
    day.consult.save()
    html = practitioner_client.get(
        reverse("clinical:session_new", kwargs={"uuid": day.joon.uuid})
    ).content.decode()
    assert 'id="held-today"' in html and 'id="open-today"' not in html
    practitioner_client.get(from_appointment(day.consult))
    day.consult.refresh_from_db()
    assert day.consult.status == AppointmentStatus.ARRIVED  # waits for the clearance


def test_a_series_first_session_has_nothing_planned_and_offers_every_usable_lot(
    practitioner_client, practitioner_a, clinic_a, day
):
    series = TreatmentSeriesFactory(clinic=clinic_a, indication="Pigmentation")
    first = AppointmentFactory(
        patient=series.patient,
        practitioner=practitioner_a,
        series=series,
        sequence=1,
        starts_at=seoul(MONDAY, 16),
        ends_at=seoul(MONDAY, 17),
    )
    html = practitioner_client.get(from_appointment(first)).content.decode()
    assert "Nothing planned yet (the series' first session)" in html
    assert '<option value="" selected>Choose…</option>' in html
    datalist = re.search(r'<datalist id="lot-options">(.*?)</datalist>', html, re.S).group(1)
    assert re.findall(r'<option value="([^"]+)"', datalist) == ["ACME-1", "GLOW-SOON", "GLOW-LATE"]
    assert 'id="planned-lots"' not in html


def test_opening_another_days_appointment_leaves_it_booked(practitioner_client, day):
    response = practitioner_client.get(from_appointment(day.steps[2]))
    assert response.status_code == 200
    day.steps[2].refresh_from_db()
    assert day.steps[2].status == AppointmentStatus.BOOKED
