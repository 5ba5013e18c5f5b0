"""The patient's pages through Django's test client: link states, the flow, errors next to
fields, exactly once, language, rate limits and what a page may show."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from adverse_events.models import Alarm, ReactionReport, Submission
from patients.links import link_revoke
from tests.adverse_events.patient_form_world import (
    checkin_with_link,
    clear_rate_limits,
    seoul_today,
    session_with_link,
)
from treatments.models import CheckInState

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    clear_rate_limits()
    yield
    clear_rate_limits()


@pytest.fixture
def reached(practitioner_a):
    return session_with_link(practitioner_a, first_name="Minji", last_name="Kimura")


def enter(client: Client, token: str):
    return client.get(reverse("report:entry", kwargs={"token": token}))


def submission_id_of(response) -> str:
    return re.search(r'name="submission_id" value="([0-9a-f-]+)"', response.content.decode()).group(
        1
    )


def details_post(sid: str, code: str = "redness", **extra) -> dict:
    today = seoul_today().isoformat()
    data = {
        "step": "details",
        "submission_id": sid,
        "terms": [code],
        f"{code}-onset_date": today,
        f"{code}-status": "ongoing",
        f"{code}-ended_on": "",
        f"{code}-patient_severity": "2",
        f"{code}-stopped_activities": "no",
        f"{code}-sought_care": "no",
        "free_text": "",
    }
    data.update(extra)
    return data


# --- link states ---------------------------------------------------------------------------


def test_a_live_link_is_swapped_for_a_session_and_leaves_the_url(client, reached):
    response = enter(client, reached.token)
    assert response.status_code == 302 and response["Location"] == reverse("report:start")
    page = client.get(reverse("report:start"))
    assert page.status_code == 200
    assert reached.token not in page.content.decode()
    reached.link.refresh_from_db()
    assert reached.link.use_count == 1 and reached.link.last_used_at


def _dead_link_pages(client, reached, practitioner_a):
    unknown = enter(Client(), "no-such-token-at-all")
    expired_reach = session_with_link(practitioner_a)
    with time_machine.travel(expired_reach.link.expires_at + timedelta(seconds=1)):
        expired = enter(Client(), expired_reach.token)
    link_revoke(link=reached.link)
    revoked = enter(Client(), reached.token)
    return unknown, expired, revoked


def test_unknown_expired_and_revoked_links_get_the_same_neutral_page(
    client, reached, practitioner_a
):
    unknown, expired, revoked = _dead_link_pages(client, reached, practitioner_a)
    assert unknown.status_code == expired.status_code == revoked.status_code == 404
    assert unknown.content == expired.content == revoked.content
    assert "This link does not work" in unknown.content.decode()


def test_a_link_revoked_after_the_first_visit_stops_working(client, reached):
    enter(client, reached.token)
    link_revoke(link=reached.link)
    response = client.get(reverse("report:start"))
    assert response.status_code == 404
    assert "Minji" not in response.content.decode()


def test_without_a_link_the_pages_are_neutral(client):
    for name in ("report:start", "report:report", "report:thanks", "report:urgent"):
        response = client.get(reverse(name))
        assert (
            response.status_code == 404 and "This link does not work" in response.content.decode()
        )


def test_the_page_shows_the_first_name_and_date_only(client, reached):
    enter(client, reached.token)
    html = client.get(reverse("report:start")).content.decode()
    assert "Minji" in html and "Kimura" not in html
    patient = reached.session.patient
    for private in (
        patient.email,
        patient.phone,
        str(patient.date_of_birth),
        reached.session.lot.lot_number,
    ):
        assert private not in html
    assert "How are you since your treatment on" in html


def test_the_patient_pages_never_link_to_staff_pages(client, reached):
    enter(client, reached.token)
    html = client.get(reverse("report:start")).content.decode()
    for staff in (reverse("home"), reverse("dashboard"), reverse("core:login")):
        assert f'href="{staff}"' not in html
    assert reached.session.clinic.name in html


def test_a_token_for_one_patient_never_shows_another(client, reached, practitioner_a):
    other = session_with_link(practitioner_a, first_name="Jisoo", last_name="Park")
    enter(client, reached.token)
    enter(client, other.token)
    html = client.get(reverse("report:start")).content.decode()
    assert "Jisoo" in html and "Minji" not in html
    # The first patient's confirmation is not reachable from the second patient's session.
    client.post(reverse("report:fine"), {"submission_id": str(uuid.uuid4())})
    assert Submission.objects.get().patient == other.session.patient


def test_the_token_url_sends_no_referrer(client, reached):
    assert enter(client, reached.token)["Referrer-Policy"] == "no-referrer"
    assert enter(Client(), "dead-token")["Referrer-Policy"] == "no-referrer"


def test_patient_pages_are_never_cached_and_send_no_referrer_off_site(client, reached):
    enter(client, reached.token)
    response = client.get(reverse("report:start"))
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] in ("no-referrer", "same-origin")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp


# --- the flow ------------------------------------------------------------------------------


def test_all_fine_in_one_tap(client, reached):
    enter(client, reached.token)
    sid = submission_id_of(client.get(reverse("report:start")))
    response = client.post(reverse("report:fine"), {"submission_id": sid})
    assert response["Location"] == reverse("report:thanks")
    assert Submission.objects.get(submission_id=sid).all_fine
    assert "glad" in client.get(reverse("report:thanks")).content.decode()


def test_a_report_through_both_steps(client, reached):
    enter(client, reached.token)
    sid = submission_id_of(client.get(reverse("report:report")))
    step2 = client.post(
        reverse("report:report"), {"step": "choose", "submission_id": sid, "terms": ["redness"]}
    )
    assert step2.status_code == 200 and 'name="redness-onset_date"' in step2.content.decode()
    assert submission_id_of(step2) == sid
    response = client.post(reverse("report:report"), details_post(sid))
    assert response["Location"] == reverse("report:thanks")
    report = ReactionReport.objects.get()
    assert report.patient_severity == 2 and report.ongoing


def test_choosing_nothing_says_so_next_to_the_list(client, reached):
    enter(client, reached.token)
    sid = submission_id_of(client.get(reverse("report:report")))
    html = client.post(
        reverse("report:report"), {"step": "choose", "submission_id": sid}
    ).content.decode()
    assert 'role="alert"' in html and "Choose at least one reaction" in html
    assert 'aria-describedby="id_terms_error"' in html


def test_an_end_before_the_start_is_shown_next_to_the_end_date_keeping_the_answers(client, reached):
    enter(client, reached.token)
    today = seoul_today()
    data = details_post(
        str(uuid.uuid4()),
        **{
            "redness-status": "ended",
            "redness-ended_on": (today - timedelta(days=1)).isoformat(),
            "free_text": "It itched too",
        },
    )
    response = client.post(reverse("report:report"), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "The end date cannot be before the start date." in html
    assert 'id="id_redness-ended_on_error"' in html
    assert re.search(
        r'<input[^>]*aria-describedby="id_redness-ended_on_error"[^>]*name="redness-ended_on"', html
    ) or re.search(
        r'name="redness-ended_on"[^>]*aria-describedby="id_redness-ended_on_error"', html
    )
    assert "It itched too" in html and f'value="{today.isoformat()}"' in html
    assert not Submission.objects.exists()


def test_a_missing_answer_is_shown_next_to_its_question(client, reached):
    enter(client, reached.token)
    data = details_post(str(uuid.uuid4()))
    del data["redness-patient_severity"]
    html = client.post(reverse("report:report"), data).content.decode()
    assert 'id="id_redness-patient_severity_error"' in html
    assert 'href="#id_redness-patient_severity_0"' in html


def test_a_double_submit_makes_one_submission_and_both_see_the_confirmation(client, reached):
    enter(client, reached.token)
    sid = str(uuid.uuid4())
    first = client.post(reverse("report:report"), details_post(sid))
    second = client.post(reverse("report:report"), details_post(sid))
    assert first["Location"] == second["Location"] == reverse("report:thanks")
    assert Submission.objects.count() == 1 and ReactionReport.objects.count() == 1


def test_a_red_flag_goes_to_the_urgent_page_with_the_clinic_phone(client, reached, clinic_a):
    enter(client, reached.token)
    response = client.post(
        reverse("report:report"), details_post(str(uuid.uuid4()), code="breathing_difficulty")
    )
    assert response["Location"] == reverse("report:urgent")
    assert Alarm.objects.count() == 1
    html = client.get(reverse("report:urgent")).content.decode()
    assert "emergency" in html and 'href="tel:+82-2-555-0100"'.replace("-", "") in html.replace(
        "-", ""
    )


def test_a_check_in_link_answers_that_check_in(client, reached):
    checkin, _link, token = checkin_with_link(reached.session)
    enter(client, token)
    sid = submission_id_of(client.get(reverse("report:start")))
    client.post(reverse("report:fine"), {"submission_id": sid})
    checkin.refresh_from_db()
    assert checkin.state == CheckInState.ANSWERED_FINE


# --- language ------------------------------------------------------------------------------


def test_the_form_speaks_the_patients_language(client, practitioner_a):
    reached = session_with_link(practitioner_a, language="ko")
    enter(client, reached.token)
    html = client.get(reverse("report:start")).content.decode()
    assert 'lang="ko"' in html and "괜찮아요" in html


def test_the_language_switch_changes_the_language(client, reached):
    enter(client, reached.token)
    client.post(reverse("report:language"), {"language": "ko", "next": reverse("report:report")})
    html = client.get(reverse("report:report")).content.decode()
    assert 'lang="ko"' in html and "붉어짐" in html


def test_the_language_switch_never_redirects_off_site(client):
    response = client.post(
        reverse("report:language"), {"language": "ko", "next": "https://evil.example/r/"}
    )
    assert response["Location"] == reverse("report:start")


# --- rate limits ---------------------------------------------------------------------------


def test_guessing_tokens_is_rate_limited_with_a_friendly_page(client, settings):
    settings.REPORT_RATE_LIMITS = {"entry": "3/m"}
    statuses = [enter(client, f"guess-{n}").status_code for n in range(4)]
    assert statuses == [404, 404, 404, 429]
    last = enter(client, "guess-x")
    assert last.status_code == 429 and "Please wait a moment" in last.content.decode()


def test_posting_is_rate_limited(client, reached, settings):
    settings.REPORT_RATE_LIMITS = {"post": "2/m"}
    enter(client, reached.token)
    statuses = [
        client.post(reverse("report:fine"), {"submission_id": str(uuid.uuid4())}).status_code
        for _ in range(3)
    ]
    assert statuses == [302, 302, 429]
    assert Submission.objects.count() == 2


def test_the_compiled_korean_catalogue_matches_the_po_file():
    """The .mo is committed (CI has no gettext): it must say what the .po says."""
    import gettext
    from pathlib import Path

    from django.conf import settings

    folder = Path(settings.BASE_DIR) / "locale" / "ko" / "LC_MESSAGES"
    po = (folder / "django.po").read_text(encoding="utf-8")
    with open(folder / "django.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)

    def unquote(chunk: str) -> str:
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', chunk)
        return "".join(p.replace('\\"', '"').replace("\\\\", "\\") for p in parts)

    entry = re.compile(
        r'^(?:msgctxt (".*?)\n)?msgid (".*?)\n'
        r'(?:msgid_plural (".*?)\nmsgstr\[0\] (".*?)|msgstr (".*?))\Z',
        re.S,
    )
    checked = 0
    for block in re.split(r"\n\s*\n", po):
        text = "\n".join(line for line in block.splitlines() if not line.startswith("#"))
        match = entry.match(text.strip())
        if match is None:
            continue
        raw_context, raw_id, raw_plural, raw_plural_str, raw_str = match.groups()
        context, msgid = unquote(raw_context or ""), unquote(raw_id)
        if raw_plural is not None:  # one plural form in Korean: msgstr[0]
            plural, msgstr = unquote(raw_plural), unquote(raw_plural_str)
            if msgid and msgstr:
                found = (
                    compiled.npgettext(context, msgid, plural, 2)
                    if context
                    else compiled.ngettext(msgid, plural, 2)
                )
                assert found == msgstr, msgid
                checked += 1
            continue
        msgstr = unquote(raw_str)
        if msgid and msgstr:
            found = compiled.pgettext(context, msgid) if context else compiled.gettext(msgid)
            assert found == msgstr, msgid
            checked += 1
    assert checked > 50
