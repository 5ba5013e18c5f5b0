"""Aftercare: the instructions given at every session (PRODUCT.md), the printable sheet's
content and the aftercare message, both carrying the session's personal report link."""

from __future__ import annotations

from django.utils.translation import gettext_noop, pgettext_lazy

from patients import outbox
from patients.links import link_token, link_url
from patients.messages import render_with_link
from patients.models import Channel, MessageKind, OutboxMessage

from .models import DeliveryMethod, TreatmentSession

# Marked for translation: the aftercare message (`templates/messages/aftercare.txt`) and the
# printed sheet (`clinic/session_aftercare_sheet.html`) translate them into the patient's
# language with the same msgids, so each line has one translation.
INSTRUCTIONS = [
    gettext_noop("Do not touch the treated skin for 24 hours, and keep it clean."),
    gettext_noop("No makeup for 24 hours."),
    gettext_noop("Avoid sun; use SPF 30 or higher every day."),
    gettext_noop("No sauna, steam room or strenuous exercise for 24 to 72 hours."),
    gettext_noop("No retinoids, acids or exfoliants for 5 days."),
    gettext_noop("A cold compress helps with swelling."),
    gettext_noop("Redness and mild swelling for a day or two are expected."),
    gettext_noop("Report anything unusual through your personal link, at any time."),
]
# How the printed sheet names the procedure to the patient, in the patient's language.
PROCEDURE_WORDS = {
    DeliveryMethod.MICRONEEDLING: pgettext_lazy("aftercare sheet", "microneedling"),
    DeliveryMethod.LASER: pgettext_lazy("aftercare sheet", "laser or light treatment"),
    DeliveryMethod.MICRO_INJECTION: pgettext_lazy("aftercare sheet", "micro-injection"),
    DeliveryMethod.TOPICAL: pgettext_lazy("aftercare sheet", "applied to the skin"),
}


def session_link_url(session: TreatmentSession) -> str | None:
    """The session's 120-day report link, as printed on the sheet and sent in the message."""
    token = link_token(session.report_link) if session.report_link else None
    return link_url(token) if token else None


class AftercareRenderer(outbox.QuietRenderer):
    """Renders the aftercare message at delivery, in the patient's language, with the
    session's report link. Only the first name and the clinic go in."""

    def render(self, message: OutboxMessage) -> outbox.Rendered:
        session = (
            TreatmentSession.objects.select_related("patient", "clinic", "report_link")
            .filter(pk=message.context.get("session"))
            .first()
        )
        if session is None:
            raise outbox.PermanentDeliveryError("session no longer exists")
        url = session_link_url(session)
        if url is None:
            raise outbox.PermanentDeliveryError("the session's report link is no longer live")
        return render_with_link(
            MessageKind.AFTERCARE,
            {"first_name": session.patient.first_name, "instructions": INSTRUCTIONS},
            session.patient.language,
            clinic=session.clinic,
            url=url,
            sms=message.channel == Channel.SMS,
        )


def register_renderers() -> None:
    outbox.register_renderer(MessageKind.AFTERCARE, AftercareRenderer())
