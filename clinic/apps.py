from django.apps import AppConfig


class ClinicConfig(AppConfig):
    """The top floor: dashboard pages, cross-app workflows, the API router."""

    name = "clinic"
    label = "clinic"
    verbose_name = "Clinic tracker"
