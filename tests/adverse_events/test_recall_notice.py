"""The patient's recall notice behind a recall link: that patient's notice only, in their
language, an "I have read this" that records once; dead or foreign links get the neutral page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from patients.links import link_issue
from patients.models import LinkPurpose, PersonalLink
from tests.adverse_events.patient_form_world import clear_rate_limits
from tests.kit.recall_world import notice_token, recalled_lot
from tests.kit.world import logged_session
from treatments.models import RecallNotice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    clear_rate_limits()
    yield
    clear_rate_limits()


@pytest.fixture
def world(practitioner_a, safety_lead_a):
    return recalled_lot(practitioner_a, safety_lead_a)


def enter(client: Client, token: str):
    return client.get(reverse("report:entry", kwargs={"token": token}))


def test_a_recall_link_opens_that_patients_notice_and_leaves_the_url(client, world):
    token = notice_token(world.notice("mina"))
    response = enter(client, token)
    assert response.status_code == 302 and response["Location"] == reverse("report:recall")
    page = client.get(reverse("report:recall"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Hello Mina." in html
    assert "lot EXO-RC-9" in html and "Sterility" not in html  # the staff's reason stays inside
    dates = html[html.index("recall-dates") : html.index("</ul>", html.index("recall-dates"))]
    assert dates.count("<li>") == 2  # Mina's two sessions with the lot
    assert world.patients["mina"].clinic.phone in html
    assert "I have read this" in html
    assert page["Cache-Control"].startswith("max-age=0") or "no-cache" in page["Cache-Control"]


def test_the_notice_shows_nothing_of_other_patients_or_staff_pages(client, world):
    enter(client, notice_token(world.notice("mina")))
    html = client.get(reverse("report:recall")).content.decode()
    for other in ("joon", "ara"):
        p = world.patients[other]
        assert p.first_name not in html and p.last_name not in html and p.phone not in html
    assert world.patients["mina"].last_name not in html  # first name only
    for staff in (reverse("dashboard"), reverse("core:login"), "/recalls/", "/lots/"):
        assert f'href="{staff}' not in html


def test_the_notice_speaks_the_patients_language(client, world):
    enter(client, notice_token(world.notice("joon")))
    html = client.get(reverse("report:recall")).content.decode()
    assert "시술 관련 중요 안내" in html and "읽었습니다" in html
    assert "Joon" in html


def test_i_have_read_this_records_once_and_twice_is_harmless(client, world):
    enter(client, notice_token(world.notice("mina")))
    response = client.post(reverse("report:recall_read"))
    assert response.status_code == 302 and response["Location"] == reverse("report:recall")
    first = world.notice("mina").acknowledged_at
    assert first is not None
    again = client.post(reverse("report:recall_read"))
    assert again.status_code == 302
    assert world.notice("mina").acknowledged_at == first
    html = client.get(reverse("report:recall")).content.decode()
    assert "you have read this notice" in html and "I have read this</button>" not in html
    assert world.notice("joon").acknowledged_at is None


def test_a_report_link_never_opens_a_recall_notice_nor_a_recall_link_the_report_form(
    client, world, practitioner_a
):
    session = logged_session(practitioner_a, patient=world.patients["mina"])
    link, token = link_issue(patient=session.patient, purpose=LinkPurpose.SESSION_REPORT)
    type(session).objects.filter(pk=session.pk).update(report_link=link)
    enter(client, token)
    assert client.get(reverse("report:recall")).status_code == 404  # neutral page
    assert client.post(reverse("report:recall_read")).status_code == 404
    assert world.notice("mina").acknowledged_at is None
    enter(client, notice_token(world.notice("mina")))
    start = client.get(reverse("report:start"))  # the report form is not for a recall link
    assert start.status_code == 302 and start["Location"] == reverse("report:recall")
    assert client.post(reverse("report:fine"), {"submission_id": "x"}).status_code == 302
    assert client.get(reverse("report:recall")).status_code == 200


def test_expired_revoked_and_orphan_recall_links_get_the_neutral_page(client, world):
    notice = world.notice("mina")
    token = notice_token(notice)
    enter(client, token)
    PersonalLink.objects.filter(pk=world.notice("mina").link_id).update(
        created_at=timezone.now() - timedelta(days=61),
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert client.get(reverse("report:recall")).status_code == 404
    assert enter(client, token).status_code == 404
    # A recall link that no notice points at leads nowhere either.
    _, orphan = link_issue(patient=notice.patient, purpose=LinkPurpose.RECALL)
    assert enter(client, orphan).status_code == 404
    assert RecallNotice.objects.filter(acknowledged_at__isnull=False).count() == 0


def test_without_a_link_the_recall_pages_are_neutral(client):
    assert client.get(reverse("report:recall")).status_code == 404
    assert client.post(reverse("report:recall_read")).status_code == 404
