"""The API's Swagger UI and Redoc render from local assets under the strict CSP."""

from __future__ import annotations

import pytest

from tests.kit.auth import playwright_login
from tests.kit.browser import artifact_path


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_practitioner_reads_the_api_docs_in_swagger_ui(page, live_server, practitioner_a):
    """GIVEN a practitioner logged in with both factors
    WHEN they open /api/docs/
    THEN Swagger UI renders the API's operations, and the CSP blocks no script (Swagger UI's
    own inline style attributes are refused by style-src and it still renders)."""
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: (
            violations.append(msg.text)
            if "Content Security Policy" in msg.text and "script" in msg.text
            else None
        ),
    )
    playwright_login(page, live_server.url, practitioner_a)
    page.goto(f"{live_server.url}/api/docs/")
    page.get_by_text("/api/v1/patients/").first.wait_for()
    page.screenshot(path=artifact_path("api_swagger.png"), full_page=False)
    assert not violations, violations


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_practitioner_reads_the_api_docs_in_redoc(page, live_server, practitioner_a):
    """GIVEN a practitioner logged in with both factors
    WHEN they open /api/redoc/
    THEN Redoc renders styled (its menu lists the operations, its side menu is laid out as a
    column beside the content) and the CSP refuses nothing: its style elements carry the nonce.
    """
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    playwright_login(page, live_server.url, practitioner_a)
    response = page.goto(f"{live_server.url}/api/redoc/")
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy
    assert "'nonce-" in policy
    menu = page.locator(".menu-content")
    menu.get_by_text("patients", exact=True).first.wait_for()
    menu.get_by_text("sessions", exact=True).first.wait_for()
    # Styled: the side menu is a fixed-width column, not a block stacked above the content.
    box = menu.bounding_box()
    assert box is not None and box["width"] < 400, box
    assert page.locator("style[nonce]").count() > 0
    page.screenshot(path=artifact_path("api_redoc.png"), full_page=False)
    assert not violations, violations
