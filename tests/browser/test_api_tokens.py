"""A practitioner makes an API token on the tokens page and revokes it, in a real browser."""

from __future__ import annotations

import pytest
from knox.models import AuthToken

from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_practitioner_creates_and_revokes_an_api_token(page, live_server, practitioner_a):
    """GIVEN a practitioner logged in with both factors
    WHEN they press "Create a token" on /api/tokens/
    THEN the token is shown once and listed by its first characters; revoking removes it."""
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    playwright_login(page, live_server.url, practitioner_a)
    page.goto(f"{live_server.url}/api/tokens/")
    page.get_by_text("You have no API tokens.").wait_for()
    page.get_by_role("button", name="Create a token").click()
    shown = page.get_by_test_id("new-token").inner_text()
    stored = AuthToken.objects.get(user=practitioner_a)
    assert shown.startswith(stored.token_key) and len(shown) > 20
    page.screenshot(path=artifact_path("api_tokens.png"), full_page=True)

    page.get_by_role("button", name=f"Revoke {stored.token_key}…").click()
    page.get_by_text("stops working at once").wait_for()
    page.get_by_role("button", name="Yes, revoke the token").click()
    page.get_by_text("revoked: it no longer works").wait_for()
    page.get_by_text("You have no API tokens.").wait_for()
    assert not AuthToken.objects.filter(user=practitioner_a).exists()
    assert not violations, violations
