"""The safety lead's product and lot pages: products, lots per product, receiving a lot and
correcting it with every change kept in history. Practitioners may read them (they pick lots);
the front desk may not (403). On the lot page the safety lead quarantines, releases or recalls
the lot, each with a reason (treatments.services); a recall opens its recall page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from clinic.core.access import staff_required, visible, visible_or_404
from clinic.core.exceptions import ClinicError
from clinic.core.forms import confirm_page, confirmed
from clinic.core.formtokens import form_token_record, posted_token
from clinic.core.models import CLINICAL_ROLES, SAFETY_LEAD_ONLY, Clinic

from .forms_lots import LotCorrectForm, LotReceiveForm, LotStatusForm, ProductCreateForm
from .models import LotStatus, Product, ProductLot, Recall, SessionStatus, TreatmentSession
from .services import (
    LOT_CORRECTABLE_FIELDS,
    lot_correct,
    lot_quarantine,
    lot_recall,
    lot_receive,
    lot_release,
    product_create,
)


def _show(form: Any, error: ClinicError | ValidationError) -> None:
    if isinstance(error, ClinicError):
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return
    for name, errors in getattr(error, "error_dict", {None: error.error_list}).items():
        for e in errors:
            form.add_error(name if name in form.fields else None, e.messages)


def _product(request: HttpRequest, uuid: Any, roles: frozenset[str]) -> Product:
    return visible_or_404(Product.objects.select_related("clinic"), request, uuid, roles=roles)


def _lot(request: HttpRequest, uuid: Any, roles: frozenset[str]) -> ProductLot:
    lots = ProductLot.objects.select_related("product__clinic")
    return visible_or_404(lots, request, uuid, roles=roles)


@staff_required(roles=CLINICAL_ROLES)
def product_list(request: HttpRequest) -> HttpResponse:
    released = Q(lots__status=LotStatus.RELEASED)
    products = (
        visible(Product, request, roles=CLINICAL_ROLES)
        .select_related("clinic")
        .annotate(
            lot_count=Count("lots"),
            released_stock=Sum("lots__quantity_on_hand", filter=released),
        )
        .order_by("clinic__name", "name")
    )
    can_manage = visible(Clinic, request, roles=SAFETY_LEAD_ONLY).exists()
    return render(
        request,
        "treatments/product_list.html",
        {"products": products, "can_manage": can_manage},
    )


@staff_required(roles=SAFETY_LEAD_ONLY)
def product_new(request: HttpRequest) -> HttpResponse:
    clinics = visible(Clinic, request, roles=SAFETY_LEAD_ONLY).order_by("name")
    data = request.POST if request.method == "POST" else None
    form = ProductCreateForm(data, clinics=clinics)
    if data is not None and form.is_valid():
        try:
            product = product_create(**form.cleaned_data)
        except (ClinicError, ValidationError) as error:
            _show(form, error)
        else:
            messages.success(request, f"{product} added. Receive its first lot.")
            return redirect("treatments:lot_list", uuid=product.uuid)
    return render(request, "treatments/product_form.html", {"form": form})


@staff_required(roles=CLINICAL_ROLES)
def lot_list(request: HttpRequest, uuid: Any) -> HttpResponse:
    product = _product(request, uuid, CLINICAL_ROLES)
    lots = list(product.lots.order_by("expiry_date", "lot_number"))
    today = product.clinic.today()
    for lot in lots:
        lot.expired = lot.expiry_date < today
    can_manage = (
        visible(Clinic, request, roles=SAFETY_LEAD_ONLY).filter(pk=product.clinic_id).exists()
    )
    return render(
        request,
        "treatments/lot_list.html",
        {"product": product, "lots": lots, "today": today, "can_manage": can_manage},
    )


@staff_required(roles=SAFETY_LEAD_ONLY)
def lot_new(request: HttpRequest, uuid: Any) -> HttpResponse:
    product = _product(request, uuid, SAFETY_LEAD_ONLY)
    data = request.POST if request.method == "POST" else None
    form = LotReceiveForm(data, product=product, initial={"received_on": product.clinic.today()})
    if data is not None and not form.is_valid():
        # A repeat of this form is refused by the form itself (its lot number is taken by the
        # lot the first one made): land on that lot. Looked up after the form is checked, so a
        # first POST that committed while this one was being checked is found too.
        earlier = form_token_record(
            token=posted_token(data), model=ProductLot, clinic=product.clinic
        )
        if earlier and earlier.product_id == product.pk:
            return _lot_already_received(request, earlier)
    elif data is not None:
        try:
            lot = lot_receive(product=product, **form.cleaned_data)
        except (ClinicError, ValidationError) as error:
            _show(form, error)
        else:
            if lot.already_submitted:
                return _lot_already_received(request, lot)
            messages.success(request, f"Lot {lot.lot_number} received and released for use.")
            return redirect("treatments:lot", uuid=lot.uuid)
    return render(request, "treatments/lot_receive.html", {"product": product, "form": form})


def _lot_already_received(request: HttpRequest, lot: ProductLot) -> HttpResponse:
    messages.info(request, _("This form was already submitted; here is the lot it received."))
    return redirect("treatments:lot", uuid=lot.uuid)


def _history(lot: ProductLot) -> list[dict[str, Any]]:
    """The lot's history, newest first, each entry with what changed from the one before."""
    records = list(lot.history.select_related("history_user").order_by("history_date", "pk"))
    labels = {f.name: f.verbose_name for f in ProductLot._meta.fields}
    entries = []
    previous = None
    for record in records:
        changes = []
        if previous is not None:
            delta = record.diff_against(previous)
            changes = [
                {"field": labels.get(c.field, c.field), "old": c.old, "new": c.new}
                for c in delta.changes
                if c.field not in {"updated_at", "low_stock_alerted_at", "status_changed_at"}
            ]
        entries.append({"record": record, "changes": changes})
        previous = record
    return list(reversed(entries))


# Which actions the lot page offers in each status (the services enforce the same moves).
LOT_ACTIONS = {
    LotStatus.RELEASED: ("quarantine", "recall"),
    LotStatus.QUARANTINED: ("release", "recall"),
    LotStatus.RECALLED: (),
}


def _lot_page(
    request: HttpRequest, lot: ProductLot, *, bound: LotStatusForm | None = None, status=200
) -> HttpResponse:
    can_manage = (
        visible(Clinic, request, roles=SAFETY_LEAD_ONLY).filter(pk=lot.product.clinic_id).exists()
    )
    actions = []
    if can_manage:
        for action in LOT_ACTIONS[lot.status]:
            form = bound if bound is not None and bound.action == action else None
            actions.append(form or LotStatusForm(action=action))
    return render(
        request,
        "treatments/lot_detail.html",
        {
            "lot": lot,
            "expired": lot.expiry_date < lot.product.clinic.today(),
            "history": _history(lot),
            "can_manage": can_manage,
            "actions": actions,
            "recall": Recall.objects.filter(lot=lot).first(),
        },
        status=status,
    )


@staff_required(roles=CLINICAL_ROLES)
def lot_detail(request: HttpRequest, uuid: Any) -> HttpResponse:
    return _lot_page(request, _lot(request, uuid, CLINICAL_ROLES))


def _lot_action(request: HttpRequest, uuid: Any, action: str) -> HttpResponse:
    lot = _lot(request, uuid, SAFETY_LEAD_ONLY)
    form = LotStatusForm(request.POST, action=action)
    if not form.is_valid():
        return _lot_page(request, lot, bound=form, status=400)
    if action in ("quarantine", "recall") and not confirmed(request):
        return _confirm_lot_action(request, lot, form)
    reason = form.cleaned_data["reason"]
    try:
        if action == "quarantine":
            lot_quarantine(lot=lot, user=request.user, reason=reason)
            messages.success(
                request, f"Lot {lot.lot_number} quarantined: no session can record it now."
            )
        elif action == "release":
            lot_release(lot=lot, user=request.user, reason=reason)
            messages.success(request, f"Lot {lot.lot_number} released for use again.")
        else:
            recall = lot_recall(lot=lot, user=request.user, reason=reason)
            messages.success(
                request,
                f"Lot {lot.lot_number} recalled. These are the patients who received it.",
            )
            return redirect("treatments:recall", uuid=recall.uuid)
    except ClinicError as error:
        if error.field == "reason":
            form.add_error("reason", error.message)
            return _lot_page(request, lot, bound=form, status=400)
        # The lot moved on meanwhile (another click, another tab): show it as it is now.
        messages.warning(request, error.message)
        lot.refresh_from_db()
        return _lot_page(request, lot, status=error.status_code)
    return redirect("treatments:lot", uuid=lot.uuid)


def _confirm_lot_action(request: HttpRequest, lot: ProductLot, form: LotStatusForm) -> HttpResponse:
    """Quarantine and recall ask first, saying what will happen; the reason comes along, still
    editable."""
    number = lot.lot_number
    if form.action == "quarantine":
        heading = _("Quarantine lot %(number)s?") % {"number": number}
        effects = [
            _("From now on no session can record lot %(number)s until it is released.")
            % {"number": number},
        ]
        label = _("Yes, quarantine the lot")
        url = reverse("treatments:lot_quarantine", kwargs={"uuid": lot.uuid})
    else:
        patients = (
            TreatmentSession.objects.filter(lot=lot)
            .exclude(status=SessionStatus.ENTERED_IN_ERROR)
            .values("patient_id")
            .distinct()
            .count()
        )
        heading = _("Recall lot %(number)s?") % {"number": number}
        effects = [
            _("Lot %(number)s can never be used again.") % {"number": number},
            ngettext(
                "%(count)d patient received it and will be listed for a recall notice.",
                "%(count)d patients received it and will be listed for a recall notice.",
                patients,
            )
            % {"count": patients},
        ]
        label = _("Yes, recall the lot")
        url = reverse("treatments:lot_recall", kwargs={"uuid": lot.uuid})
    return confirm_page(
        request,
        heading=heading,
        effects=effects,
        action_url=url,
        form=form,
        confirm_label=label,
        back_url=reverse("treatments:lot", kwargs={"uuid": lot.uuid}),
        back_label=_("Keep the lot as it is"),
    )


@require_POST
@staff_required(roles=SAFETY_LEAD_ONLY)
def lot_quarantine_view(request: HttpRequest, uuid: Any) -> HttpResponse:
    return _lot_action(request, uuid, "quarantine")


@require_POST
@staff_required(roles=SAFETY_LEAD_ONLY)
def lot_release_view(request: HttpRequest, uuid: Any) -> HttpResponse:
    return _lot_action(request, uuid, "release")


@require_POST
@staff_required(roles=SAFETY_LEAD_ONLY)
def lot_recall_view(request: HttpRequest, uuid: Any) -> HttpResponse:
    return _lot_action(request, uuid, "recall")


@staff_required(roles=SAFETY_LEAD_ONLY)
def lot_edit(request: HttpRequest, uuid: Any) -> HttpResponse:
    lot = _lot(request, uuid, SAFETY_LEAD_ONLY)
    data = request.POST if request.method == "POST" else None
    initial = {name: getattr(lot, name) for name in LOT_CORRECTABLE_FIELDS}
    form = LotCorrectForm(data, product=lot.product, lot=lot, initial=initial)
    if data is not None and form.is_valid():
        changes = {
            name: form.cleaned_data[name]
            for name in LOT_CORRECTABLE_FIELDS
            if name != "quantity_on_hand" or name in form.changed_data
        }
        try:
            lot_correct(lot=lot, reason=form.cleaned_data["reason"], **changes)
        except (ClinicError, ValidationError) as error:
            _show(form, error)
        else:
            messages.success(
                request, f"Lot {lot.lot_number} corrected; the change is in its history."
            )
            return redirect("treatments:lot", uuid=lot.uuid)
    return render(request, "treatments/lot_correct.html", {"lot": lot, "form": form})
