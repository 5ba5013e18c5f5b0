"""In Chromium at the Seoul clinic: the front desk marks a patient arrived from its day list;
the practitioner's open dashboard shows them on top on its next poll; opening the appointment
offers the pre-filled session form; a pregnancy the practitioner records on the patient's
screening facts makes it a hard stop; on a second patient, logging and signing completes the
appointment and the series shows its next step (issue 18's "done when")."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    ProductFactory,
    SeriesTemplateFactory,
    TreatmentSeriesFactory,
    TreatmentSessionFactory,
)
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path
from tests.kit.world import default_plan, released_lot
from treatments.models import Appointment, AppointmentStatus, SessionStatus, TreatmentSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("DAY_SHOTS", "/tmp/shots-day"))


def shot(page, name: str) -> None:
    page.screenshot(path=str(artifact_path(f"{name}.png")), full_page=True)
    if SHOTS.parent.exists():
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def todays_times(clinic):
    """Two starts today on the clinic's clock, half an hour apart (the test runs at any hour)."""
    start, end = clinic.day_span(clinic.today())
    first = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=30)
    first = max(start, min(first, end - timedelta(hours=2)))
    return first, first + timedelta(minutes=30)


def test_a_practitioners_day_from_arrival_to_the_series_next_step(
    page, _chromium, clinic_a, practitioner_a, front_desk_a, settings
):
    """GIVEN Mina Park's acne-scar series (session 1 by laser with GlowExo four weeks ago,
    session 2 today, session 3 in four weeks) and Joon Lee booked just before her
    WHEN the front desk marks Mina arrived
    THEN the practitioner's open dashboard shows her on top without a reload; her appointment
    opens the session form filled in (series step, laser settings, GlowExo's lots first);
    saving and signing completes the appointment and the session page names the next step."""
    settings.DASHBOARD_POLL_SECONDS = 1
    default_plan(clinic_a)
    glow = ProductFactory(clinic=clinic_a, name="GlowExo")
    acme = ProductFactory(clinic=clinic_a, name="AcmeSerum")
    today = clinic_a.today()
    released_lot(clinic_a, product=acme, lot_number="ACME-1", expiry_date=today + timedelta(30))
    late = released_lot(
        clinic_a, product=glow, lot_number="GLOW-LATE", expiry_date=today + timedelta(300)
    )
    released_lot(clinic_a, product=glow, lot_number="GLOW-SOON", expiry_date=today + timedelta(90))
    joon_at, mina_at = todays_times(clinic_a)
    joon = PatientFactory(clinic=clinic_a, first_name="Joon", last_name="Lee")
    AppointmentFactory(
        patient=joon,
        practitioner=practitioner_a,
        starts_at=joon_at,
        ends_at=joon_at + timedelta(minutes=30),
    )
    mina = PatientFactory(clinic=clinic_a, first_name="Mina", last_name="Park")
    template = SeriesTemplateFactory(clinic=clinic_a, sessions_planned=3)
    series = TreatmentSeriesFactory(
        clinic=clinic_a, patient=mina, template=template, indication="Acne scars"
    )
    steps = [
        AppointmentFactory(
            patient=mina,
            practitioner=practitioner_a,
            series=series,
            sequence=n + 1,
            starts_at=mina_at + timedelta(weeks=4 * (n - 1)),
            ends_at=mina_at + timedelta(weeks=4 * (n - 1), minutes=30),
            status=AppointmentStatus.COMPLETED if n == 0 else AppointmentStatus.BOOKED,
        )
        for n in range(3)
    ]
    TreatmentSessionFactory(
        patient=mina,
        practitioner=practitioner_a,
        appointment=steps[0],
        series=series,
        performed_at=steps[0].starts_at,
        lot=late,
        laser=True,
    )
    base = page.base_url

    # The practitioner's dashboard is open (a second browser context) before Mina arrives.
    context = _chromium.new_context(viewport={"width": 1280, "height": 900})
    doctor = context.new_page()
    doctor_errors: list[str] = []
    doctor.on("console", lambda m: m.type == "error" and doctor_errors.append(m.text))
    playwright_login(doctor, base, practitioner_a)
    doctor.goto(base + reverse("dashboard"))
    rows = doctor.locator("#day-list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Joon Lee")

    # The front desk marks Mina arrived from its own day list (htmx, in place).
    playwright_login(page, base, front_desk_a)
    page.goto(base + reverse("dashboard"))
    row = page.locator(f"#appt-{steps[1].uuid}")
    row.get_by_role("button", name="Mark arrived").click()
    expect(row.locator(".badge-status-arrived")).to_have_text("Arrived")
    expect(row.get_by_role("button", name="Mark arrived")).to_have_count(0)
    shot(page, "front-desk-day-arrived")

    # The practitioner's list follows on its next poll: Mina, arrived, on top.
    expect(rows.first).to_contain_text("Mina Park")
    expect(rows.first).to_contain_text("Arrived")
    expect(rows.first).to_contain_text("Acne scars")
    expect(rows.first).to_contain_text("2 of 3")
    expect(rows.first).to_contain_text(clinic_a.local(mina_at).strftime("%H:%M"))
    shot(doctor, "practitioner-day-list")

    # Joon's appointment opens his session form, pre-filled; a pregnancy the practitioner
    # records on his screening-facts page makes it a hard stop.
    rows.filter(has_text="Joon Lee").get_by_role("link", name="Log session").click()
    doctor.wait_for_url(lambda url: "/session/new/" in url)
    expect(doctor.get_by_role("heading", name="Log a session: Joon Lee")).to_be_visible()
    expect(doctor.locator("#session-appointment")).to_contain_text("In treatment")
    doctor.goto(base + reverse("clinical:chart", kwargs={"uuid": joon.uuid}))
    doctor.get_by_role("link", name="Edit screening facts").click()
    doctor.get_by_label("Pregnant or breastfeeding").check()
    doctor.get_by_role("button", name="Save and confirm facts").click()
    expect(doctor.get_by_text("Screening facts saved and confirmed.")).to_be_visible()
    doctor.goto(base + reverse("dashboard"))
    rows.filter(has_text="Joon Lee").get_by_role("link", name="Continue logging").click()
    doctor.wait_for_url(lambda url: "/session/new/" in url)
    stop = doctor.locator('#screening-findings .alert-error li[data-code="pregnancy"]')
    expect(stop).to_be_visible()
    shot(doctor, "session-form-pregnancy-hard-stop")
    doctor.goto(base + reverse("dashboard"))
    expect(rows.first).to_contain_text("Mina Park")

    # One click opens the session form, filled in; the appointment is now in treatment.
    rows.first.get_by_role("link", name="Log session").click()
    doctor.wait_for_url(lambda url: "/session/new/" in url)
    expect(doctor.get_by_role("heading", name="Log a session: Mina Park")).to_be_visible()
    facts = doctor.locator("#session-appointment")
    expect(facts).to_contain_text("Acne scars, session 2 of 3")
    expect(facts).to_contain_text("In treatment")
    expect(facts).to_contain_text("Laser / light with GlowExo")
    expect(doctor.get_by_label("Delivery method")).to_have_value("laser")
    expect(doctor.get_by_label("Laser device")).to_have_value("Fraxel")
    expect(doctor.get_by_label("Cheeks")).to_be_checked()
    offered = doctor.locator("#lot-options option")
    assert [offered.nth(i).get_attribute("value") for i in range(offered.count())] == [
        "GLOW-SOON",
        "GLOW-LATE",
        "ACME-1",
    ]
    expect(doctor.locator("#planned-lots")).to_contain_text("GLOW-SOON")
    shot(doctor, "session-form-from-appointment")
    assert Appointment.objects.get(pk=steps[1].pk).status == AppointmentStatus.IN_TREATMENT

    doctor.get_by_label("Product lot number").fill("GLOW-SOON")
    doctor.get_by_role("button", name="Save session").click()
    doctor.wait_for_url(lambda url: url.endswith("/aftercare/"))
    doctor.get_by_role("link", name="← Back to the session").click()
    doctor.get_by_label("I confirm this record is complete and correct").check()
    doctor.get_by_role("button", name="Sign and lock").click()
    expect(doctor.get_by_text("Signed and locked").first).to_be_visible()
    series_box = doctor.locator("#session-series")
    expect(series_box).to_contain_text("Completed")
    expect(series_box).to_contain_text("Next: session 3 of 3 on")
    third = clinic_a.local(steps[2].starts_at)
    expect(series_box).to_contain_text(third.strftime("%H:%M"))
    shot(doctor, "session-signed-next-step")
    doctor.get_by_role("link", name="← Chart of Mina Park").click()
    expect(doctor.locator(f"#series-next-{series.uuid}")).to_contain_text("Next: session 3 of 3 on")
    shot(doctor, "chart-series-next-step")

    session = TreatmentSession.objects.get(appointment=steps[1])
    assert session.status == SessionStatus.SIGNED and session.series == series
    steps[1].refresh_from_db()
    assert steps[1].status == AppointmentStatus.COMPLETED
    assert page.console_errors == [] and doctor_errors == []
    context.close()
