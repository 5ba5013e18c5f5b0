"""The safety lead's lot pages (namespace `safety`): lots ordered by signal strength, one
lot's rates, chart, cases and signals, and the signal review action.

Clinical roles read; only a safety lead of the lot's clinic changes a signal's status. The
front desk gets 403, another clinic's lot or signal 404.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from adverse_events.models import LotSignal, SignalStatus
from adverse_events.signals import signal_review
from clinic.core.access import staff_required, visible_or_404
from clinic.core.exceptions import ClinicError
from clinic.core.models import CLINICAL_ROLES, SAFETY_LEAD_ONLY

from .forms import ClinicalForm, show_error
from .safety import lot_safety, lot_safety_rows, lots_loaded

clinical = staff_required(roles=CLINICAL_ROLES)
safety_lead = staff_required(roles=SAFETY_LEAD_ONLY)


class SignalReviewForm(ClinicalForm):
    status = forms.ChoiceField(
        label="Move to",
        choices=[
            (SignalStatus.UNDER_REVIEW, "Under review"),
            (SignalStatus.DISMISSED, "Dismissed"),
            (SignalStatus.ACTIONED, "Actioned"),
        ],
    )
    reason = forms.CharField(
        label="Reason or action taken",
        required=False,
        max_length=2000,
        help_text="Required to dismiss.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


@clinical
def lots(request: HttpRequest) -> HttpResponse:
    return render(request, "clinic/safety_lots.html", {"rows": lot_safety_rows(user=request.user)})


def _lot_page(
    request: HttpRequest, lot: Any, *, form_for: Any = None, form: Any = None, status: int = 200
) -> HttpResponse:
    context = lot_safety(lot=lot, user=request.user)
    return render(
        request,
        "clinic/safety_lot.html",
        {"ctx": context, "lot": lot, "form_for": form_for, "bad_form": form},
        status=status,
    )


@clinical
def lot(request: HttpRequest, uuid: Any) -> HttpResponse:
    return _lot_page(request, visible_or_404(lots_loaded(), request, uuid, roles=CLINICAL_ROLES))


@require_POST
@safety_lead
def review(request: HttpRequest, uuid: Any) -> HttpResponse:
    signals = LotSignal.objects.select_related("lot__product")
    signal = visible_or_404(signals, request, uuid, roles=SAFETY_LEAD_ONLY)
    form = SignalReviewForm(request.POST)
    if form.is_valid():
        try:
            signal_review(signal=signal, user=request.user, **form.cleaned_data)
        except ClinicError as error:
            show_error(form, error)
        else:
            messages.success(request, f"Signal marked {signal_status_label(form)}.")
            return redirect("safety:lot", uuid=signal.lot.uuid)
    return _lot_page(request, signal.lot, form_for=signal.pk, form=form, status=400)


def signal_status_label(form: SignalReviewForm) -> str:
    return dict(form.fields["status"].choices)[form.cleaned_data["status"]].lower()
