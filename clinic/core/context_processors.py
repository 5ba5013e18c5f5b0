from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .access import active_clinic, held_clinics, held_roles
from .models import CLINICAL_ROLES, PATIENT_ROLES, Role


def site(request: HttpRequest) -> dict[str, object]:
    def nav() -> dict[str, bool]:
        roles = held_roles(request)
        return {
            "clinical": bool(roles & CLINICAL_ROLES),
            "safety_lead": Role.SAFETY_LEAD in roles,
            "front_desk": Role.FRONT_DESK in roles,
            # Patients, calendar and calls: staff who work with patients (not a manager alone).
            "patients": bool(roles & PATIENT_ROLES),
            "manager": Role.MANAGER in roles,
        }

    def clinic_choice() -> dict[str, object]:
        clinics = held_clinics(request)
        return {
            "clinics": clinics,
            "active": active_clinic(request),
            "several": len(clinics) > 1,
        }

    # Lazy: evaluated only where the navigation is drawn, and free after the page guard ran.
    return {
        "DEMO_MODE": settings.DEMO_MODE,
        "nav": SimpleLazyObject(nav),
        "clinic_choice": SimpleLazyObject(clinic_choice),
    }
