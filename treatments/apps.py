from django.apps import AppConfig


class TreatmentsConfig(AppConfig):
    name = "treatments"
    verbose_name = "Treatments"

    def ready(self) -> None:
        # The outbox (a floor below) renders this app's patient messages through these.
        from clinic.core import links

        from . import aftercare, archive, booking, checkins, entered_in_error, recalls

        checkins.register_renderers()
        aftercare.register_renderers()
        recalls.register_renderers()
        booking.register_renderers()
        # ... and refuses, at delivery, messages of a session entered in error.
        entered_in_error.register_guards()
        # ... and the cancellation notice of an archived patient, and withdraws their
        # check-ins and reminders.
        archive.register()
        # Pages of this app that a lower floor's page links (clinic/core/links.py).
        links.provide("patient-appointments", "treatments:patient_appointments")
        links.provide("patient-archive", "treatments:patient_archive")
        links.provide("patient-unarchive", "treatments:patient_unarchive")
