from django.apps import AppConfig


class TreatmentsConfig(AppConfig):
    name = "treatments"
    verbose_name = "Treatments"

    def ready(self) -> None:
        # The outbox (a floor below) renders check-in messages through these.
        from .checkins import register_renderers

        register_renderers()
