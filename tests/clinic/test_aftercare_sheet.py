"""The printed aftercare sheet speaks the patient's language and names the clinic's own
numbers (issue 15): a Korean patient of Seoul gets a Korean sheet with tap-to-call 119 and
the clinic's phone; an English patient of New York gets 911 and never 119; a clinic without
an emergency number says "your local emergency number". The page around the sheet (back link,
message state) stays the staff's."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from django.urls import reverse

from clinic.core.models import Clinic, Language
from tests.factories import PatientFactory
from tests.kit.world import default_plan, logged_session, released_lot
from treatments.aftercare import session_link_url

pytestmark = pytest.mark.django_db


def sheet_url(session) -> str:
    return reverse("clinical:aftercare", kwargs={"uuid": session.uuid})


def printed_part(html: str) -> str:
    """The printed sheet (the <article>) as a reader sees it: tags and the QR code gone."""
    article = re.search(r'<article class="aftercare-sheet".*?</article>', html, re.S).group(0)
    article = re.sub(r"<svg\b.*?</svg>", " ", article, flags=re.S)
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", article))
    return " ".join(text.split())


def session_for(practitioner, clinic: Clinic, **patient_fields):
    default_plan(clinic)
    patient = PatientFactory(clinic=clinic, first_name="Mina", last_name="Park", **patient_fields)
    lot = released_lot(clinic, quantity=10, lot_number="EXO-2026-01")
    return logged_session(practitioner, patient=patient, lot=lot)


def test_a_korean_patient_of_seoul_gets_a_korean_sheet_with_the_clinics_numbers(
    practitioner_client, practitioner_a, clinic_a
):
    session = session_for(practitioner_a, clinic_a, language=Language.KO)
    response = practitioner_client.get(sheet_url(session))
    assert response.status_code == 200
    html = response.content.decode()
    text = printed_part(html)

    # No English sentence is left: once the names, the link and the numbers are taken out,
    # the only Latin letters are the sunscreen's "SPF".
    rest = text
    for proper in [session_link_url(session), "Mina Park", clinic_a.name, clinic_a.phone]:
        assert proper in rest
        rest = rest.replace(proper, " ")
    assert set(re.findall(r"[A-Za-z]+", rest)) <= {"SPF"}, rest

    # The same Korean as the aftercare message: instructions and the urgent line.
    assert "24시간 동안 시술 부위를 만지지 말고 깨끗하게 유지하세요." in text
    assert "지금 바로 119에 전화하거나 응급실로 가세요." in text
    assert "피부 시술 후 관리 안내" in text and "Mina Park님" in text
    day = clinic_a.local(session.performed_at).date()
    assert f"{day.year}년 {day.month}월 {day.day}일 시술 (마이크로니들링)" in text
    # Tap-to-call: the emergency number and the clinic's phone.
    assert 'href="tel:119"' in html
    assert f'href="tel:{clinic_a.phone_tel}"' in html
    assert "응급 신고 전화: 119" in text and f"병원에 전화하기: {clinic_a.phone}" in text
    assert re.search(r'<article class="aftercare-sheet" lang="ko"', html)
    # The staff's part of the page stays the staff's.
    assert "← Back to the session" in html


def test_an_english_patient_of_new_york_gets_911_and_never_119(
    outsider_client, practitioner_b, clinic_b
):
    session = session_for(practitioner_b, clinic_b, language=Language.EN)
    html = outsider_client.get(sheet_url(session)).content.decode()
    text = printed_part(html)
    assert (
        "Difficulty breathing, swelling of the face, lips or throat, or spreading hot redness "
        "with pus or fever: call 911 or go to urgent care now."
    ) in text
    assert "Do not touch the treated skin for 24 hours, and keep it clean." in text
    assert 'href="tel:911"' in html and f'href="tel:{clinic_b.phone_tel}"' in html
    assert "Call emergency services: 911" in text
    assert "For Mina Park" in text
    day = clinic_b.local(session.performed_at).date()
    assert f"treated on {day.day} {day:%B} {day.year} (microneedling)" in text
    assert "119" not in html
    assert re.search(r'<article class="aftercare-sheet" lang="en"', html)


@pytest.mark.parametrize(
    ("language", "sentence", "fallback"),
    [
        (
            Language.EN,
            "call your local emergency number or go to urgent care now.",
            "Call your local emergency number.",
        ),
        (
            Language.KO,
            "지금 바로 응급 신고 번호에 전화하거나 응급실로 가세요.",
            "계신 곳의 응급 신고 번호로 전화하세요.",
        ),
    ],
)
def test_a_clinic_without_an_emergency_number_says_your_local_emergency_number(
    practitioner_client, practitioner_a, clinic_a, language, sentence, fallback
):
    Clinic.objects.filter(pk=clinic_a.pk).update(emergency_number="")
    session = session_for(practitioner_a, clinic_a, language=language)
    html = practitioner_client.get(sheet_url(session)).content.decode()
    text = printed_part(html)
    assert sentence in text and fallback in text
    assert 'href="tel:"' not in html and "tel:119" not in html
    # The clinic's phone is still there to call.
    assert f'href="tel:{clinic_a.phone_tel}"' in html


def test_the_withdrawn_link_notice_is_in_the_patients_language(
    practitioner_client, practitioner_a, clinic_a
):
    from patients.links import link_revoke

    session = session_for(practitioner_a, clinic_a, language=Language.KO)
    link_revoke(link=session.report_link)
    text = printed_part(practitioner_client.get(sheet_url(session)).content.decode())
    assert "이 시술의 개인 링크는 만료되었거나 취소되었습니다." in text
    assert "expired" not in text
