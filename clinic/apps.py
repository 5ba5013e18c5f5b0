from django.apps import AppConfig


class ClinicConfig(AppConfig):
    """The top floor: dashboard pages, cross-app workflows, the API router."""

    name = "clinic"
    label = "clinic"
    verbose_name = "Clinic tracker"

    def ready(self) -> None:
        # Pages of the top floor that lower floors link, by purpose (clinic/core/links.py):
        # a lower app never names a higher floor's page (tests/test_floors.py).
        from clinic.core import links

        links.provide("book-series", "treatments:book")
        links.provide("appointment-status", "treatments:appointment_status")
        links.provide("patient-chart", "clinical:chart")
        links.provide("session", "clinical:session")
        links.provide("session-from-appointment", "clinical:session_new_from_appointment")
        links.provide("triage-report", "triage:report")
        links.provide("safety-lot", "safety:lot")
        links.provide("api-tokens", "api-tokens")
