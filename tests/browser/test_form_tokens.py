"""In Chromium without JavaScript (nothing disables the Save button): a double-clicked and
then re-posted "Log session" form makes one session. Screenshot: test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse

from patients.models import MessageKind, OutboxMessage
from tests.factories import PatientFactory
from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path
from tests.kit.world import default_plan, released_lot
from treatments.models import ProductLot, TreatmentSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page_without_js(_chromium: Any, live_server: Any) -> Iterator[Any]:
    context = _chromium.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()


def test_a_double_submitted_session_form_without_javascript_makes_one_session(
    page_without_js, clinic_a, practitioner_a
):
    """GIVEN the log-session form in a browser without JavaScript
    WHEN the practitioner double-clicks Save, and the same form is posted once more (the
    back button's resubmit) THEN there is one session and one vial taken, and the repeat
    lands on the session page saying the form was already submitted."""
    page = page_without_js
    default_plan(clinic_a)
    patient = PatientFactory(clinic=clinic_a, first_name="Mina", last_name="Park")
    lot = released_lot(clinic_a, quantity=10, lot_number="EXO-2026-01")
    playwright_login(page, page.base_url, practitioner_a)

    page.goto(page.base_url + reverse("clinical:session_new", kwargs={"uuid": patient.uuid}))
    page.get_by_label("Delivery method").select_option("microneedling")
    page.get_by_label("Needle depth (mm)").fill("0.75")
    page.get_by_label("Cheeks").check()
    page.get_by_label("Product lot number").fill("EXO-2026-01")
    page.get_by_label("Amount used (units)").fill("1")
    posts: list[Any] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r))
    page.get_by_role("button", name="Save session").dblclick()
    page.wait_for_url(lambda url: "/sessions/new/" not in url)
    assert posts, "the form was not posted"

    # The same form once more, as the browser's "resubmit" sends it: the first POST's body.
    first = posts[0]

    def resubmit(route: Any) -> None:
        headers = route.request.headers | {"content-type": first.headers["content-type"]}
        route.continue_(method="POST", post_data=first.post_data_buffer, headers=headers)

    page.route(first.url, resubmit)
    page.goto(first.url)
    page.unroute(first.url)

    session = TreatmentSession.objects.get(patient=patient)
    assert page.url.endswith(reverse("clinical:session", kwargs={"uuid": session.uuid}))
    note = page.get_by_role("status")
    assert "This form was already submitted; here is the session it created." in note.inner_text()
    page.screenshot(path=str(artifact_path("session-form-double-submit.png")), full_page=True)
    assert TreatmentSession.objects.filter(patient=patient).count() == 1
    assert ProductLot.objects.get(pk=lot.pk).quantity_on_hand == 9
    aftercare = OutboxMessage.objects.filter(patient=patient, kind=MessageKind.AFTERCARE)
    assert aftercare.count() == 1
