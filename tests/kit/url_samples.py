"""Sample URL arguments for URL patterns that take parameters.

The role-matrix test fails for a URL with parameters that has no builder here. A builder gets
the `MatrixWorld` (clinics and personas) and returns the URL kwargs, building its sample
objects in clinic A: staff of clinic A then expect 200/403, the other clinic 404.

    @url_kwargs("patients:detail")
    def _patient(world):
        return {"uuid": PatientFactory(clinic=world.clinic_a).uuid}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clinic.core.models import Clinic, User


@dataclass
class MatrixWorld:
    clinic_a: Clinic
    clinic_b: Clinic
    practitioner_a: User
    front_desk_a: User
    safety_lead_a: User
    practitioner_b: User


Builder = Callable[[MatrixWorld], dict[str, Any]]
URL_KWARGS: dict[str, Builder] = {}


def url_kwargs(name: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        URL_KWARGS[name] = builder
        return builder

    return register


# --- admin samples (checked under the `admin:*` row) ----------------------------------------


@url_kwargs("admin:core_clinic_change")
def _admin_clinic(world: MatrixWorld) -> dict[str, Any]:
    return {"object_id": str(world.clinic_a.pk)}


@url_kwargs("admin:app_list")
def _admin_app(world: MatrixWorld) -> dict[str, Any]:
    return {"app_label": "core"}


# The admin URLs requested for a `admin:*` row, for every persona and for an admin.
PREFIX_SAMPLES: dict[str, list[str]] = {
    "admin:*": [
        "admin:index",
        "admin:app_list",
        "admin:core_clinic_changelist",
        "admin:core_clinic_change",
        "admin:core_user_changelist",
        "admin:core_membership_changelist",
        "admin:otp_totp_totpdevice_changelist",
    ],
}
