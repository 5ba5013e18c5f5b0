"""Every patient message, as the patient receives it: in their language (chosen when it is sent,
not when it is queued), with the clinic's own numbers, dates in the clinic's zone, and the
personal link in the message but never in the stored copy."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from clinic.core.models import CheckInPlanStep, Role
from patients import outbox
from patients.models import Channel, Language, MessageKind, OutboxMessage
from patients.sms import MemorySMSBackend
from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    StaffFactory,
    TreatmentSeriesFactory,
)
from tests.kit.world import logged_session, released_lot
from treatments import booking, checkins, recalls
from treatments.services import lot_recall

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
LINK = re.compile(r"https://clinic\.example/r/[\w-]+/")
# Any run of Latin words, as a sentence of English would leave in a Korean message.
ENGLISH_WORDS = re.compile(r"[A-Za-z]{3,}(?: [A-Za-z]{2,})+")


@pytest.fixture(autouse=True)
def _backends(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "patients.sms.MemorySMSBackend"
    settings.SITE_URL = "https://clinic.example"
    MemorySMSBackend.outbox = []


@pytest.fixture
def clock():
    """10:00 on Monday 2 March 2026 in Seoul (outside quiet hours)."""
    with time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=SEOUL), tick=False) as traveller:
        yield traveller


@pytest.fixture
def mina(clinic_a):
    return PatientFactory(
        clinic=clinic_a, first_name="Mina", last_name="Park", email="mina@example.com"
    )


def sent(message: OutboxMessage) -> tuple[str, str, OutboxMessage]:
    """Deliver `message` now through the outbox (with whatever else is due); (subject, body)
    as the patient got them, with the link as <link>, and the stored row."""
    OutboxMessage.objects.filter(pk=message.pk, state="pending").update(due_at=timezone.now())
    while (claim := outbox.outbox_claim_due()) is not None:
        for message_id in claim.message_ids:
            outbox.outbox_deliver(message_id=message_id, claim_token=claim.token)
    message.refresh_from_db()
    assert message.state == "sent", message.last_error
    key = str(message.uuid)
    if message.channel == Channel.SMS:
        (body,) = [m["body"] for m in MemorySMSBackend.outbox if m["key"] == key]
        subject = ""
    else:
        (email,) = [m for m in mail.outbox if m.extra_headers["X-Idempotency-Key"] == key]
        assert email.to == [message.to_address]
        subject, body = email.subject, email.body
    return subject, LINK.sub("<link>", body), message


def assert_stored_without_link(message: OutboxMessage, body: str) -> None:
    assert message.body == body.replace("<link>", "[personal link]")
    assert "/r/" not in message.body


def assert_korean_only(text: str) -> None:
    assert not ENGLISH_WORDS.search(text.replace("<link>", "")), text


# --- one builder per message kind, through the code that queues it ---------------------------


def aftercare(patient, practitioner) -> OutboxMessage:
    session = logged_session(practitioner, patient=patient)
    return OutboxMessage.objects.get(kind=MessageKind.AFTERCARE, context={"session": session.pk})


def checkin(patient, practitioner, clock) -> OutboxMessage:
    CheckInPlanStep.objects.get_or_create(
        clinic=patient.clinic,
        code="m1",
        defaults={"label": "1 minute", "offset": timedelta(minutes=1)},
    )
    session = logged_session(practitioner, patient=patient)
    clock.shift(timedelta(minutes=2))
    checkins.checkins_dispatch_due()
    return session.checkins.get().message


def checkin_reminder(patient, practitioner, clock) -> OutboxMessage:
    message = checkin(patient, practitioner, clock)
    sent(message)
    clock.shift(timedelta(hours=25))
    checkins.checkins_follow_up()
    return OutboxMessage.objects.get(kind=MessageKind.CHECKIN_REMINDER)


def appointment_reminder(patient, practitioner, starts_at) -> OutboxMessage:
    appointment = AppointmentFactory(
        clinic=patient.clinic,
        patient=patient,
        practitioner=practitioner,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
    )
    return booking.appointment_reminder_sync(appointment=appointment)


def maintenance(patient, practitioner) -> OutboxMessage:
    series = TreatmentSeriesFactory(clinic=patient.clinic, patient=patient, indication="acne scar")
    AppointmentFactory(
        clinic=patient.clinic,
        patient=patient,
        practitioner=practitioner,
        series=series,
        sequence=1,
        starts_at=datetime(2026, 3, 9, 10, tzinfo=SEOUL),
        ends_at=datetime(2026, 3, 9, 11, tzinfo=SEOUL),
    )
    return booking.series_maintenance_sync(series=series)


def recall(patient, practitioner, safety_lead) -> OutboxMessage:
    lot = released_lot(patient.clinic, lot_number="EXO-77")
    lot.product.name = "ExoGlow serum"
    lot.product.save()
    logged_session(practitioner, patient=patient, lot=lot)
    the_recall = lot_recall(lot=lot, user=safety_lead, reason="Sterility test failed")
    recalls.recall_message_all(recall=the_recall, user=safety_lead)
    return OutboxMessage.objects.get(kind=MessageKind.RECALL, patient=patient)


# --- Korean ----------------------------------------------------------------------------------


@pytest.fixture
def korean(mina):
    mina.language = Language.KO
    mina.save()
    return mina


def test_aftercare_in_korean(korean, practitioner_a, clock):
    subject, body, stored = sent(aftercare(korean, practitioner_a))
    assert subject == "Seoul: 시술 후 관리 안내"
    assert body == (
        "Mina님, Seoul에 방문해 주셔서 감사합니다.\n"
        "\n"
        "시술 후 관리:\n"
        "- 24시간 동안 시술 부위를 만지지 말고 깨끗하게 유지하세요.\n"
        "- 24시간 동안 화장을 하지 마세요.\n"
        "- 햇빛을 피하고, 매일 SPF 30 이상의 자외선 차단제를 바르세요.\n"
        "- 24~72시간 동안 사우나, 한증막, 격한 운동을 피하세요.\n"
        "- 5일 동안 레티노이드, 산 성분 제품, 각질 제거제를 쓰지 마세요.\n"
        "- 붓기에는 냉찜질이 도움이 됩니다.\n"
        "- 하루이틀 정도 붉어지고 약간 붓는 것은 흔한 반응입니다.\n"
        "- 평소와 다른 점이 있으면 언제든지 개인 링크로 알려 주세요.\n"
        "\n"
        "숨쉬기 어렵거나, 얼굴, 입술, 목이 붓거나, 붉은 기가 뜨겁게 번지면서 고름이나 "
        "열이 나면 지금 바로 119에 전화하거나 응급실로 가세요.\n"
        "\n"
        "앞으로 4개월 동안 언제든지 피부 상태를 알려 주세요: <link>\n"
        "병원 전화: +82-2-555-0100"
    )
    assert_stored_without_link(stored, body)


def test_aftercare_by_sms_in_korean_is_short(korean, practitioner_a, clock):
    korean.preferred_channel = Channel.SMS
    korean.save()
    _, body, stored = sent(aftercare(korean, practitioner_a))
    assert body == (
        "Mina님, Seoul에 방문해 주셔서 감사합니다. 시술 후 관리 방법은 받으신 안내문에 "
        "있습니다.\n"
        "앞으로 4개월 동안 언제든지 피부 상태를 알려 주세요: <link>\n"
        "숨쉬기 어렵거나 얼굴, 입술, 목이 부으면 지금 바로 119에 전화하세요.\n"
        "병원 전화: +82-2-555-0100"
    )
    assert_stored_without_link(stored, body)


def test_checkin_in_korean(korean, practitioner_a, clock):
    subject, body, stored = sent(checkin(korean, practitioner_a, clock))
    assert subject == "Seoul: 시술 후 피부는 괜찮으신가요?"
    assert body == (
        "Mina님, Seoul입니다. 시술 후 피부 상태가 어떤지 알려 주세요. 1분이면 충분합니다: "
        "<link>\n"
        "몸에 심각한 이상이 느껴지면 지금 바로 119에 전화하시거나 병원(+82-2-555-0100)에 "
        "연락하세요."
    )
    assert_stored_without_link(stored, body)


def test_checkin_reminder_in_korean(korean, practitioner_a, clock):
    subject, body, stored = sent(checkin_reminder(korean, practitioner_a, clock))
    assert subject == "Seoul: 시술 후 피부는 괜찮으신가요?"
    assert body == (
        "Mina님, Seoul에서 다시 한번 여쭙니다. 시술 후 피부 상태가 어떤지 알려 주세요. "
        "1분이면 충분합니다: <link>\n"
        "몸에 심각한 이상이 느껴지면 지금 바로 119에 전화하시거나 병원(+82-2-555-0100)에 "
        "연락하세요."
    )
    assert_stored_without_link(stored, body)


def test_appointment_reminder_in_korean_with_the_time_in_seoul(korean, practitioner_a, clock):
    message = appointment_reminder(
        korean, practitioner_a, datetime(2026, 12, 3, 14, 30, tzinfo=SEOUL)
    )
    subject, body, stored = sent(message)
    assert subject == "예약 알림: Seoul"
    assert body == (
        "Mina님, Seoul 예약 알림입니다. 예약 일시는 2026년 12월 3일 (목) 오후 2:30입니다. "
        "변경하시려면 +82-2-555-0100에 전화해 주세요."
    )
    assert stored.body == body


def test_maintenance_in_korean(korean, practitioner_a, clock):
    subject, body, stored = sent(maintenance(korean, practitioner_a))
    assert subject == "유지 관리 시술 알림: Seoul"
    assert body == (
        "Mina님, Seoul입니다. acne scar 시술 과정을 마치신 뒤 유지 관리 시술을 받으실 때가 "
        "되었습니다. 예약하시려면 +82-2-555-0100에 전화해 주세요."
    )
    assert stored.body == body


def test_recall_in_korean(korean, practitioner_a, safety_lead_a, clock):
    subject, body, stored = sent(recall(korean, practitioner_a, safety_lead_a))
    assert subject == "Seoul: 시술 관련 중요 안내"
    assert body == (
        "Mina님, Seoul입니다. 2026년 3월 2일에 받으신 시술에 사용된 ExoGlow serum의 "
        "로트(EXO-77)가 예방 차원에서 회수되었습니다. 안내를 읽어 보시고 읽으셨다고 "
        "알려 주세요: <link>\n"
        "붓기, 뜨겁거나 번지는 붉은 기, 고름, 발열, 피부 아래 멍울이 있으면 "
        "병원(+82-2-555-0100)에 전화하세요. 숨쉬기 어려우면 지금 바로 119에 전화하세요."
    )
    assert_stored_without_link(stored, body)


def test_no_english_sentence_is_left_in_any_korean_message(
    korean, practitioner_a, safety_lead_a, clock
):
    """Belt and braces over the exact texts above: a new English line in any template shows
    up here even before someone writes its exact Korean test."""
    messages = [
        aftercare(korean, practitioner_a),
        appointment_reminder(korean, practitioner_a, datetime(2026, 12, 3, 14, 30, tzinfo=SEOUL)),
        maintenance(korean, practitioner_a),
        recall(korean, practitioner_a, safety_lead_a),
    ]
    for message in messages:
        subject, body, _ = sent(message)
        # Staff-typed names (clinic, product, indication) may be in any script.
        for typed in ("Seoul", "ExoGlow serum", "acne scar", "EXO-77", "Mina", "SPF"):
            subject, body = subject.replace(typed, ""), body.replace(typed, "")
        assert_korean_only(subject + "\n" + body)
    for message in (checkin(korean, practitioner_a, clock),):
        subject, body, _ = sent(message)
        assert_korean_only((subject + body).replace("Seoul", "").replace("Mina", ""))


# --- English ---------------------------------------------------------------------------------


def test_aftercare_in_english(mina, practitioner_a, clock):
    subject, body, stored = sent(aftercare(mina, practitioner_a))
    assert subject == "Seoul: your aftercare instructions"
    assert body == (
        "Hi Mina, thank you for visiting Seoul.\n"
        "\n"
        "Aftercare:\n"
        "- Do not touch the treated skin for 24 hours, and keep it clean.\n"
        "- No makeup for 24 hours.\n"
        "- Avoid sun; use SPF 30 or higher every day.\n"
        "- No sauna, steam room or strenuous exercise for 24 to 72 hours.\n"
        "- No retinoids, acids or exfoliants for 5 days.\n"
        "- A cold compress helps with swelling.\n"
        "- Redness and mild swelling for a day or two are expected.\n"
        "- Report anything unusual through your personal link, at any time.\n"
        "\n"
        "Difficulty breathing, swelling of the face, lips or throat, or spreading hot redness "
        "with pus or fever: call 119 or go to urgent care now.\n"
        "\n"
        "Tell us how your skin is doing, any time in the next 4 months: <link>\n"
        "Clinic phone: +82-2-555-0100"
    )
    assert_stored_without_link(stored, body)


def test_aftercare_by_sms_in_english_is_short(mina, practitioner_a, clock):
    mina.preferred_channel = Channel.SMS
    mina.save()
    _, body, _ = sent(aftercare(mina, practitioner_a))
    assert body == (
        "Hi Mina, thank you for visiting Seoul. Your aftercare instructions are on your sheet.\n"
        "Tell us how your skin is doing, any time in the next 4 months: <link>\n"
        "Trouble breathing, or your face, lips or throat swell: call 119 now.\n"
        "Clinic phone: +82-2-555-0100"
    )


def test_checkin_and_its_reminder_in_english(mina, practitioner_a, clock):
    message = checkin(mina, practitioner_a, clock)
    subject, body, stored = sent(message)
    assert subject == "Seoul: how are you since your treatment?"
    assert body == (
        "Hi Mina, Seoul would like to know how your skin is doing since your treatment. "
        "It takes a minute: <link>\n"
        "If something feels seriously wrong, call 119 now, or the clinic on +82-2-555-0100."
    )
    assert_stored_without_link(stored, body)
    clock.shift(timedelta(hours=25))
    checkins.checkins_follow_up()
    subject, body, _ = sent(OutboxMessage.objects.get(kind=MessageKind.CHECKIN_REMINDER))
    assert subject == "Seoul: how are you since your treatment?"
    assert body == (
        "Hi Mina, a reminder: Seoul would like to know how your skin is doing since your "
        "treatment. It takes a minute: <link>\n"
        "If something feels seriously wrong, call 119 now, or the clinic on +82-2-555-0100."
    )


def test_appointment_reminder_and_maintenance_in_english_in_new_york(
    clinic_b, practitioner_b, clock
):
    ben = PatientFactory(clinic=clinic_b, first_name="Ben", email="ben@example.com")
    # 14:30 in New York on 3 December 2026 (19:30 UTC, 04:30 next day in Seoul).
    message = appointment_reminder(
        ben, practitioner_b, datetime(2026, 12, 3, 14, 30, tzinfo=NEW_YORK)
    )
    subject, body, _ = sent(message)
    assert subject == "Appointment reminder: New York"
    assert body == (
        "Hi Ben, a reminder from New York: your appointment is on Thursday 3 December 2026 "
        "at 14:30. To change it, call +1-212-555-0100."
    )
    subject, body, _ = sent(maintenance(ben, practitioner_b))
    assert subject == "Maintenance reminder: New York"
    assert body == (
        "Hi Ben, this is New York: it is time for your maintenance session after your acne "
        "scar course. Call +1-212-555-0100 to book."
    )


def test_recall_in_english_in_new_york(clinic_b, practitioner_b, clock):
    lead = StaffFactory(membership__clinic=clinic_b, membership__role=Role.SAFETY_LEAD)
    ben = PatientFactory(clinic=clinic_b, first_name="Ben", email="ben@example.com")
    subject, body, stored = sent(recall(ben, practitioner_b, lead))
    assert subject == "New York: important notice about your treatment"
    # The session was at 10:00 on 2 March in Seoul: 20:00 on 1 March in New York.
    assert body == (
        "Hi Ben, this is New York. A batch (lot EXO-77) of the ExoGlow serum used in your "
        "treatment on 1 March 2026 has been recalled as a precaution. Please read what this "
        "means for you and tell us you have read it: <link>\n"
        "If you have swelling, hot or spreading redness, pus, fever or lumps under the skin, "
        "call the clinic on +1-212-555-0100. If you have trouble breathing, call 911 now."
    )
    assert_stored_without_link(stored, body)


# --- the clinic's own numbers ----------------------------------------------------------------


def test_a_clinic_without_an_emergency_number_says_your_local_emergency_number(
    clinic_a, korean, mina, practitioner_a, clock
):
    clinic_a.emergency_number = ""
    clinic_a.save()
    _, body, _ = sent(checkin(korean, practitioner_a, clock))
    assert "지금 바로 응급 신고 번호에 전화하시거나 병원(+82-2-555-0100)에 연락하세요." in body
    english = PatientFactory(clinic=clinic_a, first_name="Ara", email="ara@example.com")
    _, body, _ = sent(aftercare(english, practitioner_a))
    assert "call your local emergency number or go to urgent care now." in body
    assert "119" not in body


# --- the language is chosen when the message is sent ----------------------------------------


def test_a_language_changed_after_queuing_is_the_language_sent(mina, practitioner_a, clock):
    """GIVEN a check-in and an appointment reminder queued while Mina preferred English
    WHEN she switches to Korean before they are delivered
    THEN both go out in Korean."""
    queued_checkin = checkin(mina, practitioner_a, clock)
    reminder = appointment_reminder(
        mina, practitioner_a, datetime(2026, 12, 3, 14, 30, tzinfo=SEOUL)
    )
    mina.language = Language.KO
    mina.save()
    subject, body, _ = sent(queued_checkin)
    assert subject == "Seoul: 시술 후 피부는 괜찮으신가요?"
    assert body.startswith("Mina님, Seoul입니다.")
    subject, body, _ = sent(reminder)
    assert subject == "예약 알림: Seoul"
    assert "2026년 12월 3일 (목) 오후 2:30" in body


def test_a_moved_appointment_is_reminded_with_its_new_time(mina, practitioner_a, clock):
    """The reminder is written when it is sent, so moving the appointment after queuing (the
    reminder moves with it) sends the new time."""
    first = datetime(2026, 12, 3, 14, 30, tzinfo=SEOUL)
    reminder = appointment_reminder(mina, practitioner_a, first)
    appointment = reminder.patient.appointments.get()
    appointment.starts_at, appointment.ends_at = (
        first + timedelta(days=1),
        first + timedelta(days=1, hours=1),
    )
    appointment.save()
    assert booking.appointment_reminder_sync(appointment=appointment) is None  # moved, not new
    reminder.refresh_from_db()
    assert reminder.due_at == first  # 24 h before the new time
    _, body, _ = sent(reminder)
    assert "Friday 4 December 2026 at 14:30" in body
    assert "Thursday" not in body
