"""The message words helper: one template per kind rendered in the recipient's language, a
wording source asked first, plain text, and dates in the clinic's zone as each language
writes them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from clinic.core.models import Clinic
from patients import messages
from patients.models import MessageKind

pytestmark = pytest.mark.django_db

OVERRIDE = (
    "{% load i18n %}{% block subject %}{{ clinic.name }} asks{% endblock %}"
    "{% block body %}Dear {{ first_name }} ({{ language }}): call {{ emergency }}."
    "{% endblock %}"
)


def test_it_renders_a_kinds_template_in_the_language_asked_for(clinic_a):
    context = {"first_name": "Mina", "link": "https://x.example/r/t/"}
    subject, body = messages.render_message(MessageKind.CHECKIN, context, "ko", clinic=clinic_a)
    assert subject == "Seoul: 시술 후 피부는 괜찮으신가요?"
    assert body.startswith("Mina님, Seoul입니다.") and "119" in body
    subject, body = messages.render_message(MessageKind.CHECKIN, context, "en", clinic=clinic_a)
    assert subject == "Seoul: how are you since your treatment?"
    assert body.startswith("Hi Mina, Seoul would like to know")


def test_an_unknown_language_falls_back_to_english(clinic_a):
    subject, _ = messages.render_message(
        MessageKind.CHECKIN, {"first_name": "A", "link": "L"}, "xx", clinic=clinic_a
    )
    assert subject == "Seoul: how are you since your treatment?"


def test_the_text_is_plain_never_html_escaped(clinic_a):
    clinic_a.name = "O'Brien & Lee <Seoul>"
    _, body = messages.render_message(
        MessageKind.MAINTENANCE,
        {"first_name": "D'Arcy", "indication": "scars & pores"},
        "en",
        clinic=clinic_a,
    )
    assert body == (
        "Hi D'Arcy, this is O'Brien & Lee <Seoul>: it is time for your maintenance session "
        "after your scars & pores course. Call +82-2-555-0100 to book."
    )


def test_a_wording_source_is_asked_first_with_the_kind_clinic_and_language(clinic_a):
    asked = []

    def source(kind, clinic, language):
        asked.append((kind, clinic, language))
        return OVERRIDE if kind == MessageKind.CHECKIN else None

    messages.register_wording_source(source)
    try:
        subject, body = messages.render_message(
            MessageKind.CHECKIN, {"first_name": "Mina", "language": "?"}, "ko", clinic=clinic_a
        )
        assert (subject, body) == ("Seoul asks", "Dear Mina (?): call 119.")
        # A kind the source does not cover keeps the shipped wording.
        subject, _ = messages.render_message(
            MessageKind.MAINTENANCE,
            {"first_name": "Mina", "indication": "x"},
            "en",
            clinic=clinic_a,
        )
        assert subject == "Maintenance reminder: Seoul"
    finally:
        messages.unregister_wording_source(source)
    assert asked == [
        (MessageKind.CHECKIN, clinic_a, "ko"),
        (MessageKind.MAINTENANCE, clinic_a, "en"),
    ]


def test_a_wording_without_a_subject_or_body_block_is_refused_by_name(clinic_a):
    def source(kind, clinic, language):
        return "{% block body %}Hello{% endblock %}"

    messages.register_wording_source(source)
    try:
        with pytest.raises(ValueError, match=r"'checkin' lacks block\(s\) \['subject'\]"):
            messages.render_message(MessageKind.CHECKIN, {}, "en", clinic=clinic_a)
    finally:
        messages.unregister_wording_source(source)


def test_without_an_emergency_number_it_says_the_local_emergency_number(clinic_a):
    clinic_a.emergency_number = ""
    context = {"first_name": "Mina", "link": "L"}
    _, body = messages.render_message(MessageKind.CHECKIN, context, "en", clinic=clinic_a)
    assert "call your local emergency number now, or the clinic on +82-2-555-0100." in body
    _, body = messages.render_message(MessageKind.CHECKIN, context, "ko", clinic=clinic_a)
    assert "지금 바로 응급 신고 번호에 전화하시거나" in body


def test_the_stored_copy_of_a_linked_message_holds_no_link(clinic_a):
    rendered = messages.render_with_link(
        MessageKind.CHECKIN,
        {"first_name": "Mina"},
        "en",
        clinic=clinic_a,
        url="https://clinic.example/r/secret-token/",
    )
    assert "It takes a minute: https://clinic.example/r/secret-token/\n" in rendered.body
    assert "secret-token" not in rendered.stored_body
    assert rendered.stored_body == rendered.body.replace(
        "https://clinic.example/r/secret-token/", "[personal link]"
    )


@pytest.mark.parametrize(
    ("moment", "time_zone", "language", "expected"),
    [
        # 05:30 UTC is 14:30 in Seoul.
        (
            datetime(2026, 12, 3, 5, 30, tzinfo=UTC),
            "Asia/Seoul",
            "ko",
            "2026년 12월 3일 (목) 오후 2:30",
        ),
        (
            datetime(2026, 12, 3, 5, 30, tzinfo=UTC),
            "Asia/Seoul",
            "en",
            "Thursday 3 December 2026 at 14:30",
        ),
        # 02:00 UTC on the 3rd is still the evening of the 2nd in New York.
        (
            datetime(2026, 12, 3, 2, 0, tzinfo=UTC),
            "America/New_York",
            "en",
            "Wednesday 2 December 2026 at 21:00",
        ),
        (
            datetime(2026, 12, 2, 15, 5, tzinfo=UTC),
            "Asia/Seoul",
            "ko",
            "2026년 12월 3일 (목) 오전 12:05",
        ),
        (
            datetime(2026, 12, 3, 3, 0, tzinfo=UTC),
            "Asia/Seoul",
            "ko",
            "2026년 12월 3일 (목) 오후 12:00",
        ),
        (
            datetime(2026, 12, 2, 23, 59, tzinfo=UTC),
            "Asia/Seoul",
            "ko",
            "2026년 12월 3일 (목) 오전 8:59",
        ),
    ],
)
def test_dates_and_times_are_in_the_clinics_zone_and_the_languages_form(
    moment, time_zone, language, expected
):
    clinic = Clinic(time_zone=time_zone)
    assert messages.format_datetime(moment, clinic=clinic, language=language) == expected


def test_a_date_is_written_the_languages_way():
    assert messages.format_date(date(2026, 3, 2), language="en") == "2 March 2026"
    assert messages.format_date(date(2026, 3, 2), language="ko") == "2026년 3월 2일"
    # A moment's date is its date in the clinic's zone.
    late = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    seoul, new_york = Clinic(time_zone="Asia/Seoul"), Clinic(time_zone="America/New_York")
    assert messages.format_date(late, language="ko", clinic=seoul) == "2026년 3월 2일"
    assert messages.format_date(late, language="en", clinic=new_york) == "1 March 2026"
