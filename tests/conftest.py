"""The test kit every test stands on.

Clinics: `clinic_a` (Seoul, Asia/Seoul) and `clinic_b` (New York, America/New_York).
Personas (STYLE.md), each with a confirmed TOTP device and password `tests.kit.auth.PASSWORD`:
`practitioner_a`, `front_desk_a`, `safety_lead_a`, `manager_a` (clinic A; the manager holds no
other role, so sees no patients), `practitioner_b` (clinic B, the outsider), and `anonymous`
(None). `personas` maps the role-matrix column names to them.

Clients: `client_as(user)` returns a fresh test client logged in with both factors (fast
path); `practitioner_client` etc. are ready-made. Real login: `tests.kit.auth.login_staff`.
Browser: `page` (Playwright on Debian's chromium, with `live_server`), mark tests `browser`
and `django_db(transaction=True)`; log in with `tests.kit.auth.playwright_login`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from clinic.core.models import Clinic, Role, User
from clinic.core.services import staff_create
from tests.factories import ClinicFactory
from tests.kit.auth import PASSWORD, login_verified
from tests.kit.browser import CHROMIUM_FLAGS, require_chromium

# --- speed ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    # The default PBKDF2 costs ~0.3 s a login; tests do hundreds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- clinics and personas ------------------------------------------------------------------


@pytest.fixture
def clinic_a(db: None) -> Clinic:
    return ClinicFactory(
        name="Seoul",
        time_zone="Asia/Seoul",
        phone="+82-2-555-0100",
        country="KR",
        emergency_number="119",
        staff_language="ko",
        on_call_email="oncall@seoul.clinic.example",
    )


@pytest.fixture
def clinic_b(db: None) -> Clinic:
    return ClinicFactory(
        name="New York",
        time_zone="America/New_York",
        phone="+1-212-555-0100",
        country="US",
        emergency_number="911",
        staff_language="en",
        on_call_email="oncall@newyork.clinic.example",
    )


def _staff(username: str, clinic: Clinic, role: str) -> User:
    return staff_create(
        username=username,
        password=PASSWORD,
        clinic_roles=[(clinic, role)],
        email=f"{username}@clinic.example",
    )


@pytest.fixture
def practitioner_a(clinic_a: Clinic) -> User:
    return _staff("practitioner_a", clinic_a, Role.PRACTITIONER)


@pytest.fixture
def front_desk_a(clinic_a: Clinic) -> User:
    return _staff("front_desk_a", clinic_a, Role.FRONT_DESK)


@pytest.fixture
def safety_lead_a(clinic_a: Clinic) -> User:
    return _staff("safety_lead_a", clinic_a, Role.SAFETY_LEAD)


@pytest.fixture
def manager_a(clinic_a: Clinic) -> User:
    return _staff("manager_a", clinic_a, Role.MANAGER)


@pytest.fixture
def practitioner_b(clinic_b: Clinic) -> User:
    return _staff("practitioner_b", clinic_b, Role.PRACTITIONER)


@pytest.fixture
def anonymous() -> None:
    return None


# The role matrix's column names (docs/security.md), in its order.
PERSONA_COLUMNS = [
    "practitioner",
    "front desk",
    "safety lead",
    "manager",
    "other clinic",
    "anonymous",
]


@pytest.fixture
def personas(
    practitioner_a: User,
    front_desk_a: User,
    safety_lead_a: User,
    manager_a: User,
    practitioner_b: User,
    anonymous: None,
) -> dict[str, User | None]:
    return {
        "practitioner": practitioner_a,
        "front desk": front_desk_a,
        "safety lead": safety_lead_a,
        "manager": manager_a,
        "other clinic": practitioner_b,
        "anonymous": anonymous,
    }


@pytest.fixture
def superuser_a(clinic_a: Clinic) -> User:
    """A safety lead of clinic A who is also an admin superuser (with a TOTP device)."""
    return staff_create(
        username="admin_a",
        password=PASSWORD,
        clinic_roles=[(clinic_a, Role.SAFETY_LEAD)],
        is_superuser=True,
    )


# --- clients -------------------------------------------------------------------------------


@pytest.fixture
def client_as(db: None) -> Callable[[User | None], Client]:
    """`client_as(user)`: a new client logged in with both factors; `client_as(None)`: anonymous."""

    def make(user: User | None) -> Client:
        client = Client()
        if user is not None:
            login_verified(client, user)
        return client

    return make


@pytest.fixture
def practitioner_client(client_as: Callable[[User | None], Client], practitioner_a: User) -> Client:
    return client_as(practitioner_a)


@pytest.fixture
def front_desk_client(client_as: Callable[[User | None], Client], front_desk_a: User) -> Client:
    return client_as(front_desk_a)


@pytest.fixture
def safety_lead_client(client_as: Callable[[User | None], Client], safety_lead_a: User) -> Client:
    return client_as(safety_lead_a)


@pytest.fixture
def outsider_client(client_as: Callable[[User | None], Client], practitioner_b: User) -> Client:
    return client_as(practitioner_b)


# --- browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _chromium() -> Iterator[Any]:
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_FLAGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(_chromium: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser page; `page.base_url` is the live server's address.

    Console errors (a CSP violation included) and HTTP errors of any resource are collected in
    `page.console_errors`.
    """
    context = _chromium.new_context(viewport={"width": 1280, "height": 900})
    browser_page = context.new_page()
    browser_page.base_url = live_server.url
    browser_page.console_errors = []
    browser_page.on(
        "console",
        lambda msg: msg.type == "error" and browser_page.console_errors.append(msg.text),
    )
    browser_page.on(
        "response",
        lambda r: (
            r.status >= 400 and browser_page.console_errors.append(f"HTTP {r.status} for {r.url}")
        ),
    )
    yield browser_page
    context.close()
