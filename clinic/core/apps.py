from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "clinic.core"
    label = "core"
    verbose_name = "Clinics and staff"

    def ready(self) -> None:
        # Connects the login receiver that starts the staff session clocks.
        from . import middleware  # noqa: F401
