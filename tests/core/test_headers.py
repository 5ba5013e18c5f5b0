"""A strict CSP and security headers from the first page, and templates that keep to it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.kit.templates_scan import REPO, inline_violations, template_files

pytestmark = pytest.mark.django_db


def _csp(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def test_the_login_page_sends_a_strict_content_security_policy(client):
    response = client.get(reverse("core:login"))
    assert "Content-Security-Policy" in response
    csp = _csp(response)
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]


def test_a_staff_page_sends_the_same_policy(practitioner_client):
    response = practitioner_client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert _csp(response)["script-src"] == ["'self'"]


def test_pages_send_no_referrer_off_site_and_refuse_framing_and_sniffing(client):
    response = client.get(reverse("core:login"))
    # same-origin, not no-referrer: see settings (no-referrer sends `Origin: null` on posts).
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_session_and_csrf_cookies_are_http_only(client, practitioner_a):
    from tests.kit.auth import login_staff

    response = login_staff(client, practitioner_a)
    assert response.cookies["sessionid"]["httponly"]
    assert response.cookies["sessionid"]["samesite"] == "Lax"
    login_page = client.get(reverse("core:login") + "?x=1")
    if "csrftoken" in login_page.cookies:
        assert login_page.cookies["csrftoken"]["httponly"]


def test_the_login_page_loads_no_inline_script_or_style(client):
    html = client.get(reverse("core:login")).content.decode()
    assert inline_violations(html) == []


# --- every template in the repository -------------------------------------------------------


def test_the_scan_finds_the_templates_of_every_app():
    found = {p.relative_to(REPO).as_posix() for p in template_files()}
    assert "clinic/core/templates/base.html" in found
    assert "clinic/templates/clinic/dashboard.html" in found
    assert "clinic/core/templates/core/login.html" in found
    assert not any(p.startswith(".venv/") for p in found)


def test_no_template_has_inline_script_style_or_event_handlers():
    problems = []
    for path in template_files():
        for line, what in inline_violations(path.read_text(encoding="utf-8")):
            problems.append(f"{path.relative_to(REPO)}:{line}: {what}")
    assert not problems, "A strict CSP would block these:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("snippet", "what"),
    [
        ("<script>alert(1)</script>", "inline <script> without src"),
        ('<script type="module">x()</script>', "inline <script> without src"),
        ("<style>p{}</style>", "<style> block"),
        ('<p style="color:red">', "style= attribute"),
        ("<button onclick='go()'>", "on*= event handler"),
        ('<body onload="x()">', "on*= event handler"),
        ('<div hx-on:click="x()">', "hx-on (needs unsafe-eval)"),
        ('<a href="javascript:void(0)">', "javascript: URL"),
    ],
)
def test_the_scan_flags_what_a_strict_csp_blocks(snippet, what):
    assert [w for _line, w in inline_violations(f"<div>\n{snippet}\n</div>")] == [what]


@pytest.mark.parametrize(
    "snippet",
    [
        '<script src="/static/clinic/js/htmx.min.js" defer></script>',
        '<script id="data" type="application/json">{"a": 1}</script>',
        '<link rel="stylesheet" href="/static/app.css">',
        '<p class="online" data-onset="2d">Styles online</p>',
        '<input name="onset_date">',
    ],
)
def test_the_scan_allows_external_scripts_data_blocks_and_lookalike_words(snippet):
    assert inline_violations(snippet) == []
