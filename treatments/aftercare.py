"""Aftercare: the instructions given at every session (PRODUCT.md), the printable sheet's
content and the aftercare message, both carrying the session's personal report link."""

from __future__ import annotations

from patients import outbox
from patients.links import link_token, link_url
from patients.models import MessageKind, OutboxMessage

from .models import TreatmentSession

INSTRUCTIONS = [
    "Do not touch the treated skin for 24 hours, and keep it clean.",
    "No makeup for 24 hours.",
    "Avoid sun; use SPF 30 or higher every day.",
    "No sauna, steam room or strenuous exercise for 24 to 72 hours.",
    "No retinoids, acids or exfoliants for 5 days.",
    "A cold compress helps with swelling.",
    "Redness and mild swelling for a day or two are expected.",
    "Report anything unusual through your personal link, at any time.",
]
URGENT = (
    "Difficulty breathing, swelling of the face, lips or throat, or spreading hot redness "
    "with pus or fever: call emergency services or go to urgent care now."
)


def session_link_url(session: TreatmentSession) -> str | None:
    """The session's 120-day report link, as printed on the sheet and sent in the message."""
    token = link_token(session.report_link) if session.report_link else None
    return link_url(token) if token else None


class AftercareRenderer:
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
        patient, clinic = session.patient, session.clinic
        lines = "\n".join(f"- {line}" for line in INSTRUCTIONS)
        text = (
            f"Hi {patient.first_name}, thank you for visiting {clinic.name}.\n\n"
            f"Aftercare:\n{lines}\n\n{URGENT}\n\n"
            "Tell us how your skin is doing, any time in the next 4 months: [url]\n"
            f"Clinic phone: {clinic.phone}"
        )
        return outbox.Rendered(
            subject=f"{clinic.name}: your aftercare instructions",
            body=text.replace("[url]", url),
            stored_body=text.replace("[url]", "[personal link]"),
        )

    def on_sent(self, message: OutboxMessage) -> None:
        pass

    def on_failed(self, message: OutboxMessage) -> None:
        pass


def register_renderers() -> None:
    outbox.register_renderer(MessageKind.AFTERCARE, AftercareRenderer())
