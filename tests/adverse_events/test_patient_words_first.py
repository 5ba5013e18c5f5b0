"""Words first: a refused photo never drops the patient's report (issue 15). The report is
saved without it (a red flag still raises its alarm and queues the on-call alert), the next
page says why the photo was not kept and offers an "add a photo" step, which adds the photo
beside the saved report (its own row and time) and is reachable only for the submission just
made through this browser's link."""

from __future__ import annotations

import re
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from adverse_events import photos, services
from adverse_events.models import Alarm, ReactionReport, Submission, SubmissionPhoto
from adverse_events.views import SESSION_LAST
from clinic.core.exceptions import RuleViolation
from patients.links import link_revoke
from patients.models import MessageKind, OutboxMessage
from tests.adverse_events.patient_form_world import (
    clear_rate_limits,
    image_bytes,
    reaction,
    session_with_link,
)
from tests.kit.recall_world import notice_token, recalled_lot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "private")},
        },
    }
    clear_rate_limits()
    yield
    clear_rate_limits()


@pytest.fixture
def reached(practitioner_a):
    return session_with_link(practitioner_a, first_name="Minji")


def enter(client: Client, token: str) -> None:
    client.get(reverse("report:entry", kwargs={"token": token}))


def details_post(sid: str, code: str, zone: str = "Asia/Seoul", **extra) -> dict:
    today = timezone.localdate(timezone=ZoneInfo(zone)).isoformat()
    data = {
        "step": "details",
        "submission_id": sid,
        "terms": [code],
        f"{code}-onset_date": today,
        f"{code}-status": "ongoing",
        f"{code}-ended_on": "",
        f"{code}-patient_severity": "3",
        f"{code}-stopped_activities": "yes",
        f"{code}-sought_care": "no",
        "free_text": "My lips feel thick.",
    }
    data.update(extra)
    return data


def oversize() -> SimpleUploadedFile:
    big = image_bytes("PNG") + b"\0" * (photos.MAX_BYTES + 1)
    return SimpleUploadedFile("throat.png", big, content_type="image/png")


def not_a_photo() -> SimpleUploadedFile:
    return SimpleUploadedFile("rash.jpg", b"%PDF-1.7 not a photo", content_type="image/jpeg")


def good_photo(name: str = "cheek.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes("JPEG"), content_type="image/jpeg")


def red_flag_alerts() -> int:
    return OutboxMessage.objects.filter(kind=MessageKind.RED_FLAG_ALERT).count()


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# --- the report is saved without the refused photo -----------------------------------------


def test_a_red_flag_with_an_oversize_photo_is_saved_alarmed_and_says_why(client, reached):
    """GIVEN a patient reporting difficulty breathing with a photo over 10 MB
    WHEN they send the form
    THEN the report is saved without the photo, the alarm and on-call alert exist, and the
    urgent page says the photo was not kept and why, with the clinic's tel: numbers."""
    enter(client, reached.token)
    sid = str(uuid.uuid4())
    response = client.post(
        reverse("report:report"), details_post(sid, "breathing_difficulty", photo=oversize())
    )
    assert response.status_code == 302 and response["Location"] == reverse("report:urgent")
    submission = Submission.objects.get(submission_id=sid)
    assert submission.red_flag and submission.free_text == "My lips feel thick."
    assert ReactionReport.objects.get().submission == submission
    assert not SubmissionPhoto.objects.exists()
    assert Alarm.objects.get().submission == submission
    assert red_flag_alerts() == 1

    page = text(client.get(reverse("report:urgent")))
    assert "Your photo was not kept" in page
    assert "The photo is too large: the limit is 10 MB." in page
    assert f'href="{reverse("report:photo")}"' in page
    assert 'href="tel:119"' in page and "Call emergency services: 119" in page
    assert 'href="tel:+82255501' in page  # the clinic's own phone


def test_a_photo_refused_by_the_form_field_is_handled_the_same(client, reached):
    enter(client, reached.token)
    empty = SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg")
    response = client.post(
        reverse("report:report"),
        details_post(str(uuid.uuid4()), "face_throat_swelling", photo=empty),
    )
    assert response["Location"] == reverse("report:urgent")
    assert Alarm.objects.count() == 1 and red_flag_alerts() == 1
    page = text(client.get(reverse("report:urgent")))
    assert "The photo file is empty. Choose the photo again." in page


def test_without_a_red_flag_a_refused_photo_lands_on_thanks_with_the_note(client, reached):
    enter(client, reached.token)
    response = client.post(
        reverse("report:report"), details_post(str(uuid.uuid4()), "redness", photo=not_a_photo())
    )
    assert response["Location"] == reverse("report:thanks")
    assert Submission.objects.get().reactions.count() == 1
    assert not Alarm.objects.exists() and red_flag_alerts() == 0
    page = text(client.get(reverse("report:thanks")))
    assert "Your report was saved without the photo." in page
    assert "This file is not a photo we can read." in page
    assert f'href="{reverse("report:photo")}"' in page


def test_the_reason_follows_the_language_switch(client, reached):
    enter(client, reached.token)
    client.post(
        reverse("report:report"), details_post(str(uuid.uuid4()), "redness", photo=oversize())
    )
    client.post(reverse("report:language"), {"language": "ko", "next": reverse("report:thanks")})
    page = text(client.get(reverse("report:thanks")))
    assert (
        "사진은 저장되지 않았어요" in page and "사진이 너무 커요. 10MB까지 보낼 수 있어요." in page
    )
    assert "Your photo was not kept" not in page


def test_other_errors_still_show_the_form_and_save_nothing(client, reached):
    enter(client, reached.token)
    data = details_post(str(uuid.uuid4()), "breathing_difficulty", photo=oversize())
    data["breathing_difficulty-onset_date"] = ""
    response = client.post(reverse("report:report"), data)
    assert response.status_code == 200
    page = text(response)
    assert "Please answer this question." in page and "10 MB" in page
    assert not Submission.objects.exists()


def test_a_resubmit_after_a_refused_photo_is_the_same_submission(client, reached):
    enter(client, reached.token)
    sid = str(uuid.uuid4())
    client.post(
        reverse("report:report"), details_post(sid, "breathing_difficulty", photo=oversize())
    )
    again = client.post(
        reverse("report:report"), details_post(sid, "breathing_difficulty", photo=oversize())
    )
    assert again["Location"] == reverse("report:urgent")
    assert Submission.objects.count() == 1 and ReactionReport.objects.count() == 1
    assert Alarm.objects.count() == 1 and red_flag_alerts() == 1


def test_a_resubmit_with_a_good_photo_adds_it_to_the_saved_report(client, reached):
    enter(client, reached.token)
    sid = str(uuid.uuid4())
    client.post(
        reverse("report:report"), details_post(sid, "breathing_difficulty", photo=oversize())
    )
    client.post(
        reverse("report:report"), details_post(sid, "breathing_difficulty", photo=good_photo())
    )
    # A double tap of that same send stores nothing more.
    client.post(
        reverse("report:report"), details_post(sid, "breathing_difficulty", photo=good_photo())
    )
    submission = Submission.objects.get()
    photo = submission.photos.get()
    assert photo.added_at is not None
    assert Alarm.objects.count() == 1
    assert "Your photo was not kept" not in text(client.get(reverse("report:urgent")))


# --- the "add a photo" step ----------------------------------------------------------------


def _refused_report(client, reached, code: str = "breathing_difficulty") -> Submission:
    enter(client, reached.token)
    client.post(reverse("report:report"), details_post(str(uuid.uuid4()), code, photo=oversize()))
    return Submission.objects.get(link=reached.link)


def test_add_a_photo_attaches_it_to_the_same_submission_as_an_addition(client, reached):
    submission = _refused_report(client, reached)
    page = client.get(reverse("report:photo"))
    assert page.status_code == 200 and "Add a photo to your report" in text(page)
    assert 'href="tel:119"' in text(page)  # a red flag: the emergency number stays in view
    response = client.post(reverse("report:photo"), {"photo": good_photo()})
    assert response["Location"] == reverse("report:photo")
    done = text(client.get(reverse("report:photo")))
    assert "Your photo was added to your report." in done
    photo = SubmissionPhoto.objects.get()
    assert photo.submission == submission and photo.added_at is not None
    submission.refresh_from_db()
    assert submission.free_text == "My lips feel thick."  # the words are untouched
    assert Submission.objects.count() == 1 and Alarm.objects.count() == 1
    assert "Your photo was not kept" not in text(client.get(reverse("report:urgent")))


def test_a_bad_photo_on_the_add_step_is_shown_next_to_the_field(client, reached):
    submission = _refused_report(client, reached, code="redness")
    response = client.post(reverse("report:photo"), {"photo": not_a_photo()})
    assert response.status_code == 200
    page = text(response)
    assert 'id="id_photo_error"' in page and "not a photo we can read" in page
    assert 'aria-invalid="true"' in page
    assert not submission.photos.exists()
    missing = text(client.post(reverse("report:photo"), {}))
    assert "Choose a photo to add." in missing


def test_the_add_step_is_never_reachable_for_another_patients_submission(
    client, reached, practitioner_a
):
    other = session_with_link(practitioner_a, first_name="Jisoo")
    theirs = services.submission_record(
        link=other.link,
        submission_id=uuid.uuid4(),
        all_fine=False,
        reactions=[reaction("redness")],
    ).submission
    enter(client, reached.token)
    session = client.session
    session[SESSION_LAST] = str(theirs.uuid)
    session.save()
    assert client.get(reverse("report:photo"))["Location"] == reverse("report:start")
    response = client.post(reverse("report:photo"), {"photo": good_photo()})
    assert response["Location"] == reverse("report:start")
    assert not SubmissionPhoto.objects.exists()


def test_the_add_step_is_neutral_without_a_link_or_after_it_is_revoked(client, reached):
    assert client.get(reverse("report:photo")).status_code == 404
    _refused_report(client, reached)
    link_revoke(link=reached.link)
    response = client.post(reverse("report:photo"), {"photo": good_photo()})
    assert response.status_code == 404 and "This link does not work" in text(response)
    assert not SubmissionPhoto.objects.exists()


def test_an_all_fine_answer_has_no_add_step(client, reached):
    enter(client, reached.token)
    client.post(reverse("report:fine"), {"submission_id": str(uuid.uuid4())})
    assert client.get(reverse("report:photo"))["Location"] == reverse("report:start")


def test_the_add_step_is_rate_limited(client, reached, settings):
    _refused_report(client, reached, code="redness")
    settings.REPORT_RATE_LIMITS = {"post": "1/m"}
    clear_rate_limits()
    first = client.post(reverse("report:photo"), {"photo": good_photo()})
    second = client.post(reverse("report:photo"), {"photo": good_photo()})
    assert first.status_code == 302 and second.status_code == 429
    assert SubmissionPhoto.objects.count() == 1


def test_one_report_carries_at_most_max_photos(reached):
    submission = services.submission_record(
        link=reached.link,
        submission_id=uuid.uuid4(),
        all_fine=False,
        reactions=[reaction("redness")],
    ).submission
    prepared = photos.photo_prepare(good_photo())
    for _ in range(services.MAX_PHOTOS):
        services.submission_photo_add(link=reached.link, submission=submission, photo=prepared)
    with pytest.raises(RuleViolation) as refused:
        services.submission_photo_add(link=reached.link, submission=submission, photo=prepared)
    assert refused.value.field == "photo"
    assert submission.photos.count() == services.MAX_PHOTOS


def test_a_photo_cannot_be_added_through_another_link(reached, practitioner_a):
    other = session_with_link(practitioner_a)
    submission = services.submission_record(
        link=reached.link,
        submission_id=uuid.uuid4(),
        all_fine=False,
        reactions=[reaction("redness")],
    ).submission
    with pytest.raises(RuleViolation) as refused:
        services.submission_photo_add(
            link=other.link, submission=submission, photo=photos.photo_prepare(good_photo())
        )
    assert refused.value.field == "link"
    assert not SubmissionPhoto.objects.exists()


def test_staff_see_an_added_photo_with_its_own_time_in_the_clinic_zone(
    client, reached, practitioner_client
):
    _refused_report(client, reached)
    client.post(reverse("report:photo"), {"photo": good_photo()})
    photo = SubmissionPhoto.objects.get()
    added = timezone.localtime(photo.added_at, ZoneInfo("Asia/Seoul"))
    report = ReactionReport.objects.get()
    html = text(practitioner_client.get(reverse("triage:report", args=[report.uuid])))
    assert f'added later, <time datetime="{added.isoformat()}">' in html
    assert f"{added:%H:%M}" in html
    assert reverse("photos:show", args=[photo.uuid]) in html


# --- the clinic's numbers ------------------------------------------------------------------


def test_a_korean_patient_of_new_york_is_told_911_never_119(client, practitioner_b):
    reached = session_with_link(practitioner_b, language="ko")
    enter(client, reached.token)
    start = text(client.get(reverse("report:start")))
    assert 'href="tel:911"' in start
    client.post(
        reverse("report:report"),
        details_post(str(uuid.uuid4()), "breathing_difficulty", zone="America/New_York"),
    )
    urgent = text(client.get(reverse("report:urgent")))
    assert 'lang="ko"' in urgent
    assert 'href="tel:911"' in urgent and "응급 신고 전화: 911" in urgent
    assert 'href="tel:+12125550100"' in urgent
    for page in (start, urgent):
        assert not re.search(r"(?<!\d)119(?!\d)", page)


def test_an_unconfigured_clinic_says_call_your_local_emergency_number(client, reached, clinic_a):
    clinic_a.emergency_number = ""
    clinic_a.save(update_fields=["emergency_number"])
    enter(client, reached.token)
    start = text(client.get(reverse("report:start")))
    assert "Call your local emergency number." in start
    assert "Call emergency services:" not in start


def test_pages_that_do_not_know_the_clinic_give_no_number(client):
    page = text(client.get(reverse("report:entry", kwargs={"token": "no-such-token"})))
    assert "call your local emergency number now" in page
    assert 'href="tel:' not in page


def test_every_patient_page_offers_the_emergency_number_as_a_tel_link(client, reached):
    enter(client, reached.token)
    assert 'href="tel:119"' in text(client.get(reverse("report:start")))
    details = client.post(
        reverse("report:report"),
        {"submission_id": str(uuid.uuid4()), "terms": ["breathing_difficulty"]},
    )
    assert 'href="tel:119"' in text(details)
    client.post(reverse("report:report"), details_post(str(uuid.uuid4()), "redness"))
    assert 'href="tel:119"' in text(client.get(reverse("report:thanks")))


def test_the_recall_notice_gives_the_clinics_emergency_number(
    client, practitioner_a, safety_lead_a
):
    world = recalled_lot(practitioner_a, safety_lead_a)
    enter(client, notice_token(world.notice("joon")))  # a Korean-speaking patient of Seoul
    html = text(client.get(reverse("report:recall")))
    assert 'href="tel:119"' in html and "응급 신고 전화: 119" in html
    assert "지금 바로 119에" not in html  # the number is the clinic's, not the translation's
