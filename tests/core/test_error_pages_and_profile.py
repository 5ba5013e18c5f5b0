"""Error pages in the site's layout with a way back; the profile page; signing out says so.

GIVEN a verified staff member
WHEN  they open a page that does not exist, one their role does not open, or send a stale form
THEN  the answer is in the site's layout (navigation, a plain explanation, a way back), and the
      500 page is static: it renders without touching the database.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.views.defaults import server_error

from clinic.core.models import User

pytestmark = pytest.mark.django_db


def test_404_renders_in_the_layout_with_a_way_back(practitioner_client: Client) -> None:
    response = practitioner_client.get("/no-such-page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert 'class="topnav"' in html  # the navigation is there
    assert "This page does not exist, or is not yours to see" in html
    assert f'href="{reverse("home")}"' in html
    assert "Back to the dashboard" in html


def test_404_for_a_visitor_offers_the_login(client: Client) -> None:
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert f'href="{reverse("core:login")}"' in response.content.decode()


def test_403_says_the_role_does_not_open_the_page(
    front_desk_client: Client, practitioner_a: Any, clinic_a: Any
) -> None:
    response = front_desk_client.get(reverse("charts"))

    assert response.status_code == 403
    html = response.content.decode()
    assert "Your role does not open this page" in html
    assert 'class="topnav"' in html
    assert "Back to the dashboard" in html


def test_a_refused_form_explains_and_offers_a_way_back(practitioner_a: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(practitioner_a)

    response = client.post(reverse("core:profile"), {"first_name": "X"})

    assert response.status_code == 403
    html = response.content.decode()
    assert "That form was not accepted" in html
    assert "Nothing was saved" in html


def test_the_500_page_is_static(rf: Any, django_assert_num_queries: Any) -> None:
    request = rf.get("/")
    with override_settings(DEBUG=False), django_assert_num_queries(0):
        response = server_error(request)

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert 'href="/"' in html


def test_the_name_in_the_header_opens_the_profile(
    practitioner_client: Client, practitioner_a: User
) -> None:
    user = practitioner_a
    user.first_name, user.last_name = "Min-ji", "Kim"
    user.save()

    html = practitioner_client.get(reverse("dashboard")).content.decode()

    assert f'<a class="whoami" href="{reverse("core:profile")}"' in html
    assert "Min-ji Kim</a>" in html


def test_the_profile_changes_the_name_and_the_language(
    practitioner_client: Client, practitioner_a: User
) -> None:
    url = reverse("core:profile")
    page = practitioner_client.get(url)
    assert page.status_code == 200
    assert reverse("api-tokens") in page.content.decode()
    assert "Seoul" in page.content.decode()  # the clinic where the role is held

    response = practitioner_client.post(
        url, {"first_name": " Min-ji ", "last_name": "Kim", "language": "ko"}
    )

    assert response.status_code == 302
    user = User.objects.get(pk=practitioner_a.pk)
    assert (user.first_name, user.last_name, user.language) == ("Min-ji", "Kim", "ko")
    assert user.display_name == "Min-ji Kim"
    # The chosen language now drives the staff pages, whatever the browser asks.
    after = practitioner_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert after["Content-Language"] == "ko"


def test_the_profile_refuses_an_empty_name_naming_the_field(
    practitioner_client: Client,
) -> None:
    response = practitioner_client.post(
        reverse("core:profile"), {"first_name": "  ", "last_name": "", "language": ""}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Enter your name" in html
    assert 'aria-invalid="true"' in html


def test_the_profile_refuses_an_unknown_language(practitioner_client: Client) -> None:
    response = practitioner_client.post(
        reverse("core:profile"), {"first_name": "A", "last_name": "B", "language": "xx"}
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_signing_out_says_so_on_the_login_page(practitioner_client: Client) -> None:
    response = practitioner_client.post(reverse("core:logout"), follow=True)

    assert response.status_code == 200
    assert "You are signed out." in response.content.decode()


def test_series_templates_are_in_the_safety_leads_navigation(
    safety_lead_a: User, client_as: Any, practitioner_client: Client
) -> None:
    url = reverse("treatments:template_list")
    assert url in client_as(safety_lead_a).get(reverse("dashboard")).content.decode()
    assert url not in practitioner_client.get(reverse("dashboard")).content.decode()


def test_a_manager_alone_is_not_offered_api_tokens_on_the_profile(
    client_as: Any, manager_a: User
) -> None:
    """The tokens page answers 403 to a manager without a patient role: no link leads there."""
    client = client_as(manager_a)
    html = client.get(reverse("core:profile")).content.decode()

    assert "Your profile" in html
    assert reverse("api-tokens") not in html
    assert client.get(reverse("api-tokens")).status_code == 403
