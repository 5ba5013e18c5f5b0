"""Factories for every model, one section per app (core first, then the domain apps).

Build rows with `XFactory()`; staff with a role and a second factor through `StaffFactory` or
the persona fixtures in tests/conftest.py. Passwords are `tests.kit.auth.PASSWORD`.
"""

from __future__ import annotations

from datetime import date, timedelta

import factory
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.core.models import (
    CheckInPlanStep,
    Clinic,
    ClinicClosure,
    Heartbeat,
    Membership,
    Role,
    User,
)
from tests.kit.auth import PASSWORD

# --- clinic.core ---------------------------------------------------------------------------


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Clinic {n}")
    time_zone = "Asia/Seoul"
    phone = factory.Sequence(lambda n: f"+82-2-555-{n:04d}")
    on_call_email = factory.Sequence(lambda n: f"oncall{n}@clinic.example")
    address = "1 Example Street"


class UserFactory(factory.django.DjangoModelFactory):
    """A user with the kit's password and no role, no device (see StaffFactory)."""

    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@clinic.example")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save(update_fields=["password"])


class TOTPDeviceFactory(factory.django.DjangoModelFactory):
    """A confirmed authenticator-app device (random secret)."""

    class Meta:
        model = TOTPDevice

    user = factory.SubFactory(UserFactory)
    name = "Authenticator app"
    confirmed = True


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    role = Role.PRACTITIONER
    active = True


class StaffFactory(UserFactory):
    """A user with a role at a clinic and a confirmed TOTP device.

    `StaffFactory(membership__clinic=clinic, membership__role=Role.FRONT_DESK)`.
    """

    membership = factory.RelatedFactory(MembershipFactory, factory_related_name="user")
    device = factory.RelatedFactory(TOTPDeviceFactory, factory_related_name="user")


class ClinicClosureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicClosure

    clinic = factory.SubFactory(ClinicFactory)
    starts_on = factory.LazyFunction(lambda: date.today() + timedelta(days=30))
    ends_on = factory.LazyAttribute(lambda c: c.starts_on + timedelta(days=2))
    reason = "Public holiday"


class CheckInPlanStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CheckInPlanStep
        django_get_or_create = ("clinic", "code")

    clinic = factory.SubFactory(ClinicFactory)
    code = factory.Sequence(lambda n: f"s{n}")
    label = factory.LazyAttribute(lambda s: f"Step {s.code}")
    offset = timedelta(days=1)


class HeartbeatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Heartbeat
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"task-{n}")


# --- patients ------------------------------------------------------------------------------

# --- treatments ----------------------------------------------------------------------------

# --- adverse_events ------------------------------------------------------------------------
