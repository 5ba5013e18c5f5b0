"""The recall page: every patient who received a recalled lot, with contact details, whether
the notice reached them and whether they acknowledged it; "message all" (safety lead) and the
streamed CSV. Practitioners read; the front desk gets 403, another clinic's recall 404.

Listing or exporting the patients is recorded as an access to each patient's record."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from clinic.core.access import staff_required, visible, visible_or_404
from clinic.core.csvcells import csv_safe
from clinic.core.models import CLINICAL_ROLES, SAFETY_LEAD_ONLY, Clinic
from patients.models import PatientAccess

from .models import Recall, RecallNotice
from .recalls import call_state, reach_status, recall_message_all, recall_notices


def _recall(request: HttpRequest, uuid: Any, roles: frozenset[str]) -> Recall:
    recalls = Recall.objects.select_related("lot__product__clinic", "recalled_by")
    return visible_or_404(recalls, request, uuid, roles=roles)


def _record_access(request: HttpRequest, notices: list[RecallNotice], action: str) -> None:
    PatientAccess.objects.bulk_create(
        [PatientAccess(patient_id=n.patient_id, user=request.user, action=action) for n in notices]
    )


def _recall_page(request: HttpRequest, recall: Recall) -> HttpResponse:
    notices = list(recall_notices(recall))
    _record_access(request, notices, "recall_list")
    rows = [{"notice": n, "status": reach_status(n), "call": call_state(n)} for n in notices]
    counts = {}
    for code in ("reached", "acknowledged", "queued", "failed", "call", "not_sent", "withdrawn"):
        counts[code] = sum(1 for r in rows if r["status"][0] == code)
    # A withdrawn notice stays listed (what happened to it is answerable) but its patient did
    # not receive the lot after all: each of their sessions was entered in error.
    counts["patients"] = len(rows) - counts["withdrawn"]
    counts["reached"] += counts["acknowledged"]  # an acknowledged notice reached them too
    can_manage = (
        visible(Clinic, request, roles=SAFETY_LEAD_ONLY)
        .filter(pk=recall.lot.product.clinic_id)
        .exists()
    )
    context = {"recall": recall, "lot": recall.lot, "rows": rows, "counts": counts}
    return render(request, "treatments/recall.html", context | {"can_manage": can_manage})


@staff_required(roles=CLINICAL_ROLES)
def recall_detail(request: HttpRequest, uuid: Any) -> HttpResponse:
    return _recall_page(request, _recall(request, uuid, CLINICAL_ROLES))


@require_POST
@staff_required(roles=SAFETY_LEAD_ONLY)
def recall_message(request: HttpRequest, uuid: Any) -> HttpResponse:
    """Answers with the recall page itself (no redirect): sending is idempotent, so a reload
    that posts again sends nothing more, and the page shows where every notice stands."""
    recall = _recall(request, uuid, SAFETY_LEAD_ONLY)
    result = recall_message_all(recall=recall, user=request.user)
    if result.queued or result.calls:
        messages.success(
            request,
            f"{result.queued} recall notice(s) queued; {result.calls} patient(s) given to the "
            "front desk to call.",
        )
    else:
        messages.info(request, "Everyone on this recall has been messaged already: nothing sent.")
    recall.refresh_from_db()
    return _recall_page(request, recall)


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_HEADER = [
    "last name",
    "first name",
    "date of birth",
    "phone",
    "email",
    "preferred channel",
    "consent to contact",
    "sessions with the lot ({zone})",
    "status",
    "message state",
    "reached at ({zone})",
    "acknowledged at ({zone})",
    "call",
]


def _csv_rows(notices: list[RecallNotice], clinic: Clinic) -> Iterator[str]:
    writer = csv.writer(_Echo())

    def when(value: Any) -> str:
        return clinic.local(value).strftime("%Y-%m-%d %H:%M") if value else ""

    # Dates and times are the clinic's wall clock; the header says which zone that is.
    yield writer.writerow([name.format(zone=clinic.time_zone) for name in CSV_HEADER])
    for n in notices:
        p = n.patient
        yield writer.writerow(
            [
                csv_safe(p.last_name),
                csv_safe(p.first_name),
                p.date_of_birth.isoformat(),
                csv_safe(p.phone),
                csv_safe(p.email),
                p.get_preferred_channel_display(),
                "yes" if p.consent_to_contact else "no",
                " ".join(clinic.local(s.performed_at).date().isoformat() for s in n.sessions.all()),
                reach_status(n)[1],
                n.message.get_state_display() if n.message else "",
                when(n.reached_at),
                when(n.acknowledged_at),
                call_state(n),
            ]
        )


@staff_required(roles=CLINICAL_ROLES)
def recall_csv(request: HttpRequest, uuid: Any) -> HttpResponse:
    recall = _recall(request, uuid, CLINICAL_ROLES)
    notices = list(recall_notices(recall))
    _record_access(request, notices, "recall_export")
    response = StreamingHttpResponse(
        _csv_rows(notices, recall.lot.product.clinic), content_type="text/csv; charset=utf-8"
    )
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in recall.lot.lot_number)
    response["Content-Disposition"] = f'attachment; filename="recall-{name}.csv"'
    response["Cache-Control"] = "no-store, private"
    return response
