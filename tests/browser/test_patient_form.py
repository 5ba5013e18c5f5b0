"""The patient's report form in Chromium on a phone-sized screen (390 x 844): all fine, a
report with a photo, a red flag, a double submit, an expired link, Korean, no JavaScript,
and axe-core on every page. Screenshots go to test-artifacts/patient-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from adverse_events.models import Alarm, ReactionReport, ReactionTerm, Submission, SubmissionPhoto
from adverse_events.vocabulary import load_terms
from patients.links import link_token
from patients.models import PersonalLink
from tests.adverse_events.patient_form_world import (
    clear_rate_limits,
    image_bytes,
    seoul_today,
    session_with_link,
)
from tests.kit.browser import artifact_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _world() -> Iterator[None]:
    # Transactional tests flush the tables between tests, the shipped vocabulary included.
    if not ReactionTerm.objects.exists():
        load_terms(ReactionTerm)
    clear_rate_limits()
    yield
    clear_rate_limits()


def _context(browser: Any, **extra: Any) -> Any:
    return browser.new_context(viewport=PHONE, device_scale_factor=2, has_touch=True, **extra)


@pytest.fixture
def phone(_chromium: Any, live_server: Any) -> Iterator[Any]:
    context = _context(_chromium)
    page = context.new_page()
    page.base_url = live_server.url
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    yield page
    context.close()


@pytest.fixture
def phone_without_js(_chromium: Any, live_server: Any) -> Iterator[Any]:
    context = _context(_chromium, java_script_enabled=False)
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()


def look(page: Any, name: str, *, axe: bool = True, status_404: bool = False) -> None:
    """Screenshot, no sideways scrolling, axe-core finds nothing, the CSP blocked nothing."""
    page.screenshot(path=str(artifact_path(f"patient-{name}.png")), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth") if axe else PHONE["width"]
    assert width <= PHONE["width"], f"{name}: the page scrolls sideways on a phone"
    if axe:
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(page)
        assert results.violations_count == 0, f"{name}: {results.generate_report()}"
        errors = [
            e
            for e in page.console_errors
            if not (status_404 and "status of 404" in e)  # the neutral page's own status
        ]
        assert errors == [], f"{name}: {errors}"


def open_link(page: Any, token: str) -> None:
    page.goto(page.base_url + reverse("report:entry", kwargs={"token": token}))
    assert page.url == page.base_url + reverse("report:start"), "the token left the URL"


def describe(page: Any, label: str, *, severity: str = "Moderate", when: str | None = None) -> None:
    section = page.get_by_role("region", name=label)
    section.get_by_label("When did it start?").fill(when or seoul_today().isoformat())
    section.get_by_label("Still going").check()
    section.get_by_label(severity, exact=False).check()
    section.get_by_role("group", name="Did it stop you doing your normal activities?").get_by_label(
        "No"
    ).check()
    section.get_by_role(
        "group", name="Did you see a doctor, nurse or pharmacist about it?"
    ).get_by_label("No").check()


def test_all_fine_in_one_tap(phone, practitioner_a):
    reached = session_with_link(practitioner_a, first_name="Minji")
    open_link(phone, reached.token)
    assert phone.get_by_role("heading", level=1).inner_text().startswith("Hello Minji.")
    look(phone, "start")
    phone.get_by_role("button", name="All fine").click()
    phone.wait_for_url("**/r/thanks/")
    assert phone.get_by_role("heading", name="Thank you").is_visible()
    look(phone, "thanks-fine")
    assert Submission.objects.get().all_fine


def test_a_report_with_a_photo(phone, practitioner_a, tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "private")},
        },
    }
    reached = session_with_link(practitioner_a)
    open_link(phone, reached.token)
    phone.get_by_role("link", name="Report a reaction").click()
    look(phone, "choose")
    phone.get_by_label("Redness", exact=True).check()
    phone.get_by_label("Bruising", exact=True).check()
    phone.get_by_role("button", name="Next").click()
    look(phone, "details")
    describe(phone, "Redness")
    describe(phone, "Bruising", severity="Mild")
    photo = tmp_path / "cheek.jpg"
    photo.write_bytes(image_bytes("JPEG", size=(800, 600), exif=True))
    phone.get_by_label("A photo (optional)").set_input_files(str(photo))
    phone.get_by_label("Anything else you want to tell us?").fill("Redness is warm on the left.")
    phone.get_by_role("button", name="Send my report").click()
    phone.wait_for_url("**/r/thanks/")
    assert "Your photo was received." in phone.inner_text("main")
    look(phone, "thanks-report")
    assert ReactionReport.objects.count() == 2
    assert SubmissionPhoto.objects.get().content_type == "image/jpeg"


def test_errors_are_summarised_and_shown_next_to_the_fields(phone, practitioner_a):
    reached = session_with_link(practitioner_a)
    open_link(phone, reached.token)
    phone.get_by_role("link", name="Report a reaction").click()
    phone.get_by_role("button", name="Next").click()
    assert phone.get_by_role("alert").is_visible()
    look(phone, "choose-error")
    phone.get_by_label("Swelling", exact=True).check()
    phone.get_by_role("button", name="Next").click()
    section = phone.get_by_role("region", name="Swelling")
    describe(phone, "Swelling")
    section.get_by_label("It has ended", exact=True).check()
    section.get_by_label("If it has ended: when did it end?").fill(
        (seoul_today() - timedelta(days=1)).isoformat()
    )
    phone.get_by_role("button", name="Send my report").click()
    summary = phone.get_by_role("alert")
    assert "Please check your answers" in summary.inner_text()
    # Focus moved to the summary, so a screen reader reads it first.
    assert phone.evaluate("document.activeElement.id") == "error-summary"
    end = section.get_by_label("If it has ended: when did it end?")
    assert end.get_attribute("aria-invalid") == "true"
    assert seoul_today().isoformat() == section.get_by_label("When did it start?").input_value()
    look(phone, "details-errors")
    assert not Submission.objects.exists()


def test_a_red_flag_shows_the_urgent_page_and_raises_the_alarm(phone, practitioner_a):
    reached = session_with_link(practitioner_a)
    open_link(phone, reached.token)
    phone.get_by_role("link", name="Report a reaction").click()
    phone.get_by_label("Difficulty breathing", exact=False).check()
    phone.get_by_role("button", name="Next").click()
    assert "can be serious" in phone.inner_text("main")
    label = phone.get_by_role("region").first.get_by_role("heading").inner_text()
    describe(phone, label, severity="Severe")
    phone.get_by_role("button", name="Send my report").click()
    phone.wait_for_url("**/r/urgent/")
    assert phone.get_by_role("heading", name="Get urgent help now").is_visible()
    call = phone.get_by_role("link", name="Call the clinic", exact=False)
    assert call.get_attribute("href") == "tel:+8225550100"
    look(phone, "urgent")
    alarm = Alarm.objects.get()
    assert alarm.submission.red_flag and alarm.patient == reached.session.patient


def test_a_double_submit_makes_one_submission(phone_without_js, practitioner_a):
    """GIVEN the details form without JavaScript (nothing disables the button)
    WHEN the patient double-taps Send, and the same form is then posted again (the back
    button's "resubmit", or a second tab) THEN there is one Submission and every answer
    lands on its confirmation."""
    page = phone_without_js
    reached = session_with_link(practitioner_a)
    open_link(page, reached.token)
    page.get_by_role("link", name="Report a reaction").click()
    page.get_by_label("Itching", exact=False).check()
    page.get_by_role("button", name="Next").click()
    label = page.get_by_role("region").first.get_by_role("heading").inner_text()
    describe(page, label)
    posts: list[Any] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r))
    page.get_by_role("button", name="Send my report").dblclick()
    page.wait_for_url("**/r/thanks/")
    look(page, "double-submit-thanks", axe=False)
    assert posts, "the form was not posted"
    first = posts[0]
    again = page.context.request.post(
        first.url,
        headers={"Content-Type": first.headers["content-type"]},
        data=first.post_data_buffer,
    )
    assert again.ok and again.url.endswith("/r/thanks/")
    assert Submission.objects.count() == 1
    assert ReactionReport.objects.count() == 1


def test_a_double_tap_with_javascript_sends_once(phone, practitioner_a):
    reached = session_with_link(practitioner_a)
    open_link(phone, reached.token)
    phone.get_by_role("button", name="All fine").dblclick()
    phone.wait_for_url("**/r/thanks/")
    assert Submission.objects.count() == 1


def test_an_expired_link_gets_the_neutral_page(phone, practitioner_a):
    reached = session_with_link(practitioner_a)
    now = timezone.now()
    PersonalLink.objects.filter(pk=reached.link.pk).update(
        created_at=now - timedelta(days=130), expires_at=now - timedelta(days=10)
    )
    phone.goto(phone.base_url + reverse("report:entry", kwargs={"token": reached.token}))
    assert phone.get_by_role("heading", name="This link does not work").is_visible()
    assert reached.session.patient.first_name not in phone.inner_text("body")
    look(phone, "expired", status_404=True)


def test_the_korean_form(phone, practitioner_a):
    reached = session_with_link(practitioner_a, first_name="민지", language="ko")
    open_link(phone, reached.token)
    assert phone.locator("html").get_attribute("lang") == "ko"
    assert "민지 님" in phone.get_by_role("heading", level=1).inner_text()
    look(phone, "ko-start")
    phone.get_by_role("link", name="증상 알리기").click()
    assert phone.get_by_label("붉어짐").is_visible()
    look(phone, "ko-choose")
    phone.get_by_label("붉어짐").check()
    phone.get_by_role("button", name="다음").click()
    look(phone, "ko-details")
    # The switch goes back to English for this browser session.
    phone.get_by_role("button", name="English").click()
    assert phone.locator("html").get_attribute("lang") == "en"


def test_the_form_works_without_javascript(phone_without_js, practitioner_a):
    page = phone_without_js
    reached = session_with_link(practitioner_a)
    open_link(page, reached.token)
    page.get_by_role("link", name="Report a reaction").click()
    page.get_by_label("Something else", exact=True).check()
    page.get_by_role("button", name="Next").click()
    section = page.get_by_role("region").first
    label = section.get_by_role("heading").inner_text()
    section.get_by_label("Describe it in a few words").fill("Small bumps on the chin")
    describe(page, label)
    look(page, "nojs-details", axe=False)
    page.get_by_role("button", name="Send my report").click()
    page.wait_for_url("**/r/thanks/")
    look(page, "nojs-thanks", axe=False)
    assert ReactionReport.objects.get().other_text == "Small bumps on the chin"


def test_a_reload_after_the_first_visit_keeps_the_token_out_of_the_url(phone, practitioner_a):
    reached = session_with_link(practitioner_a)
    token = link_token(reached.link)
    open_link(phone, token)
    phone.reload()
    assert token not in phone.url and phone.get_by_role("heading", level=1).is_visible()
