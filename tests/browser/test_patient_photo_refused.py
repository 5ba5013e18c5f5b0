"""Words first, in Chromium (issue 15): a red-flag report whose photo is refused is saved
anyway, lands on the urgent page with the clinic's own tap-to-call numbers, raises the alarm
and queues the on-call alert; the photo is then added through the "add a photo" step as an
addition to that same submission. English at Seoul (119) on a phone, Korean at New York (911,
never 119), and without JavaScript. Screenshots go to test-artifacts/patient-refused-*.png."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from PIL import Image

from adverse_events import photos
from adverse_events.models import Alarm, Submission, SubmissionPhoto
from patients.models import MessageKind, OutboxMessage
from tests.adverse_events.patient_form_world import image_bytes, session_with_link
from tests.browser import test_patient_form as form_tests
from tests.browser.test_patient_form import describe, look, open_link

# The phone fixtures and the vocabulary/rate-limit reset of the patient form's browser tests.
phone = form_tests.phone
phone_without_js = form_tests.phone_without_js
_world = form_tests._world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _private_storage(settings: Any, tmp_path: Path) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "private")},
        },
    }


def _file(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def oversize(tmp_path: Path) -> str:
    return _file(tmp_path, "throat.png", image_bytes("PNG") + b"\0" * (photos.MAX_BYTES + 1))


def a_gif(tmp_path: Path) -> str:
    gif = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 80)).save(gif, format="GIF")
    return _file(tmp_path, "lips.jpg", gif.getvalue())  # the name lies; the bytes decide


def a_jpeg(tmp_path: Path) -> str:
    return _file(tmp_path, "later.jpg", image_bytes("JPEG", size=(640, 480)))


def assert_alarmed(submission: Submission) -> None:
    assert Alarm.objects.get().submission == submission
    alerts = OutboxMessage.objects.filter(kind=MessageKind.RED_FLAG_ALERT)
    assert alerts.count() == 1 and alerts.get().clinic == submission.clinic


def assert_tap_target(link: Any) -> None:
    box = link.bounding_box()
    assert box is not None and box["height"] >= 44, f"tap target too small: {box}"


def test_english_at_seoul_an_oversize_photo_on_a_phone(phone, practitioner_a, tmp_path):
    reached = session_with_link(practitioner_a)
    open_link(phone, reached.token)
    phone.get_by_role("link", name="Report a reaction").click()
    phone.get_by_label("Difficulty breathing", exact=False).check()
    phone.get_by_role("button", name="Next").click()
    banner_call = phone.get_by_role("link", name="Call emergency services: 119")
    assert banner_call.get_attribute("href") == "tel:119"
    describe(phone, "Difficulty breathing", severity="Severe")
    phone.get_by_label("A photo (optional)").set_input_files(oversize(tmp_path))
    phone.get_by_label("Anything else you want to tell us?").fill("My lips feel thick.")
    phone.get_by_role("button", name="Send my report").click()
    phone.wait_for_url("**/r/urgent/")

    emergency = phone.get_by_role("link", name="Call emergency services: 119")
    assert emergency.get_attribute("href") == "tel:119"
    clinic = phone.get_by_role("link", name="Call the clinic", exact=False)
    assert clinic.get_attribute("href") == "tel:+8225550100"
    assert_tap_target(emergency)
    assert_tap_target(clinic)
    main = phone.inner_text("main")
    assert "Your photo was not kept" in main
    assert "The photo is too large: the limit is 10 MB." in main
    look(phone, "refused-urgent")
    submission = Submission.objects.get()
    assert submission.free_text == "My lips feel thick." and not submission.photos.exists()
    assert_alarmed(submission)

    phone.get_by_role("link", name="Add a photo").click()
    phone.wait_for_url("**/r/photo/")
    look(phone, "refused-add-photo")
    phone.get_by_label("Your photo").set_input_files(a_jpeg(tmp_path))
    phone.get_by_role("button", name="Add the photo").click()
    phone.get_by_role("status").filter(has_text="Your photo was added").wait_for()
    look(phone, "refused-photo-added")
    added = SubmissionPhoto.objects.get()
    assert added.submission == submission and added.added_at is not None
    assert Submission.objects.count() == 1 and Alarm.objects.count() == 1


def test_korean_at_new_york_a_refused_photo_type(phone, practitioner_b, tmp_path):
    reached = session_with_link(practitioner_b, first_name="민지", language="ko")
    new_york_today = timezone.localdate(timezone=ZoneInfo("America/New_York")).isoformat()
    open_link(phone, reached.token)
    assert phone.locator("html").get_attribute("lang") == "ko"
    phone.get_by_role("link", name="증상 알리기").click()
    phone.get_by_label("숨쉬기 어려움").check()
    phone.get_by_role("button", name="다음").click()
    section = phone.get_by_role("region", name="숨쉬기 어려움")
    section.get_by_label("언제 시작되었나요?").fill(new_york_today)
    section.get_by_label("아직 계속돼요").check()
    section.get_by_label("심함", exact=False).check()
    section.get_by_role("group", name="이 증상 때문에 평소 활동을 못 했나요?").get_by_label(
        "아니요"
    ).check()
    section.get_by_role(
        "group", name="이 증상으로 의사, 간호사 또는 약사에게 진료나 상담을 받았나요?"
    ).get_by_label("아니요").check()
    phone.get_by_label("사진 (선택)").set_input_files(a_gif(tmp_path))
    phone.get_by_role("button", name="보내기").click()
    phone.wait_for_url("**/r/urgent/")

    emergency = phone.get_by_role("link", name="응급 신고 전화: 911")
    assert emergency.get_attribute("href") == "tel:911"
    assert_tap_target(emergency)
    body = phone.inner_text("body")
    assert not re.search(r"(?<!\d)119(?!\d)", body) and "tel:119" not in phone.content()
    assert "사진은 저장되지 않았어요" in body
    assert "읽을 수 있는 사진 파일이 아니에요" in body
    look(phone, "refused-ko-urgent")
    submission = Submission.objects.get()
    assert submission.language == "ko"
    assert_alarmed(submission)

    phone.get_by_role("link", name="사진 추가하기").click()
    phone.wait_for_url("**/r/photo/")
    phone.get_by_label("사진", exact=True).set_input_files(a_jpeg(tmp_path))
    phone.get_by_role("button", name="사진 추가하기").click()
    phone.get_by_role("status").filter(has_text="사진이 보고에 추가되었어요").wait_for()
    look(phone, "refused-ko-photo-added")
    added = SubmissionPhoto.objects.get()
    assert added.submission == submission and added.added_at is not None


def test_without_javascript_a_refused_photo_and_the_add_step(
    phone_without_js, practitioner_a, tmp_path
):
    page = phone_without_js
    reached = session_with_link(practitioner_a)
    open_link(page, reached.token)
    page.get_by_role("link", name="Report a reaction").click()
    page.get_by_label("Swelling of the face, lips or throat", exact=False).check()
    page.get_by_role("button", name="Next").click()
    label = page.get_by_role("region").first.get_by_role("heading").inner_text()
    describe(page, label, severity="Severe")
    page.get_by_label("A photo (optional)").set_input_files(a_gif(tmp_path))
    page.get_by_role("button", name="Send my report").click()
    page.wait_for_url("**/r/urgent/")
    emergency = page.get_by_role("link", name="Call emergency services: 119")
    assert emergency.get_attribute("href") == "tel:119"
    assert_tap_target(emergency)
    assert "This file is not a photo we can read." in page.inner_text("main")
    look(page, "refused-nojs-urgent", axe=False)
    submission = Submission.objects.get()
    assert_alarmed(submission)

    page.get_by_role("link", name="Add a photo").click()
    page.wait_for_url("**/r/photo/")
    # A refused photo here too: the error sits next to the field, nothing changes.
    page.get_by_label("Your photo").set_input_files(a_gif(tmp_path))
    page.get_by_role("button", name="Add the photo").click()
    field = page.get_by_label("Your photo")
    field.and_(page.locator("[aria-invalid=true]")).wait_for()
    assert "not a photo we can read" in page.inner_text("#id_photo_error")
    assert not SubmissionPhoto.objects.exists()
    page.get_by_label("Your photo").set_input_files(a_jpeg(tmp_path))
    page.get_by_role("button", name="Add the photo").click()
    page.get_by_role("status").filter(has_text="Your photo was added").wait_for()
    look(page, "refused-nojs-photo-added", axe=False)
    added = SubmissionPhoto.objects.get()
    assert added.submission == submission and added.added_at is not None
