"""The admin of patients, treatments and adverse events: every model's list and change page
opens for a verified superuser, lists cost a bounded number of queries, and clinical records
cannot be deleted."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from adverse_events.models import Submission, SubmissionPhoto
from clinic.core.models import User
from tests.kit.auth import login_verified

APPS = {"patients", "treatments", "adverse_events"}
MODELS = sorted(
    (m for m in admin.site._registry if m._meta.app_label in APPS), key=lambda m: m._meta.label
)
# Session, user, OTP device, counts, the page, and one query per related-field filter.
MAX_CHANGELIST_QUERIES = 16


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


class AdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        # ~20 patients: every list has a page's worth of rows.
        call_command("seed_demo", "--force", scale=0.1, stdout=StringIO())
        SubmissionPhoto.objects.create(
            submission=Submission.objects.first(),
            image="photos/00/demo.jpg",
            content_type="image/jpeg",
            width=800,
            height=600,
            size_bytes=120_000,
        )
        cls.admin_user = User.objects.get(username="admin")

    def setUp(self) -> None:
        login_verified(self.client, self.admin_user)

    def test_every_model_of_the_domain_apps_is_registered(self) -> None:
        from django.apps import apps

        for app in APPS:
            for model in apps.get_app_config(app).get_models():
                if model.__name__.startswith("Historical"):
                    continue
                assert model in admin.site._registry, model

    def test_changelists_open_with_a_bounded_number_of_queries(self) -> None:
        for model in MODELS:
            with self.subTest(model=model._meta.label):
                assert model.objects.exists(), f"the seed left {model._meta.label} empty"
                self.client.get(url(model, "changelist"))  # warm-up
                with CaptureQueriesContext(connection) as ctx:
                    response = self.client.get(url(model, "changelist"))
                assert response.status_code == 200
                assert len(ctx.captured_queries) <= MAX_CHANGELIST_QUERIES, "\n".join(
                    q["sql"][:160] for q in ctx.captured_queries
                )

    def test_changelist_searches_work(self) -> None:
        for model in MODELS:
            with self.subTest(model=model._meta.label):
                response = self.client.get(url(model, "changelist"), {"q": "kim"})
                assert response.status_code == 200

    def test_change_pages_open(self) -> None:
        for model in MODELS:
            with self.subTest(model=model._meta.label):
                obj = model.objects.order_by("pk").last()
                response = self.client.get(url(model, "change", obj.pk))
                assert response.status_code == 200

    def test_history_pages_open_for_audited_models(self) -> None:
        for model in MODELS:
            if not hasattr(model, "history"):
                continue
            with self.subTest(model=model._meta.label):
                obj = model.objects.order_by("pk").first()
                response = self.client.get(url(model, "history", obj.pk))
                assert response.status_code == 200

    def test_clinical_records_cannot_be_deleted(self) -> None:
        for model in MODELS:
            if not getattr(model, "never_delete", False):
                continue
            with self.subTest(model=model._meta.label):
                obj = model.objects.first()
                response = self.client.get(url(model, "delete", obj.pk))
                assert response.status_code == 403


@pytest.mark.django_db
def test_the_admin_needs_the_second_factor(client) -> None:
    from clinic.core.services import staff_create

    user = staff_create(
        username="root", password="Amber-Lantern-Quiet-Harbor-41", clinic_roles=[],
        is_superuser=True,
    )  # fmt: skip
    client.force_login(user)  # password only, no verified device in the session
    response = client.get(reverse("admin:patients_patient_changelist"))
    assert response.status_code == 302
