"""The charts page: reactions per week by type, check-in response by day after the session,
and reaction rate per lot with its 95% interval. Clinical roles only (the front desk gets 403);
only the user's clinics ever appear. Reads the summary tables, never the raw rows."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from adverse_events.summaries import summaries_as_of
from clinic.core.access import staff_required
from clinic.core.models import CLINICAL_ROLES

from .charts import DEFAULT_PERIOD, charts_build, period_of
from .forms_charts import ChartFilterForm


@staff_required(roles=CLINICAL_ROLES)
def charts(request: HttpRequest) -> HttpResponse:
    form = ChartFilterForm(request.GET or None, user=request.user)
    invalid = form.is_bound and not form.is_valid()
    data = form.cleaned_data if form.is_bound and not invalid else {}
    clinics = form.clinics
    chosen = data.get("clinic")
    clinic_ids = [chosen.pk] if chosen else [c.pk for c in clinics]
    period = period_of(data.get("period") or DEFAULT_PERIOD)
    context = {
        "form": form,
        "invalid": invalid,
        "clinics": [chosen] if chosen else clinics,
        "charts": None
        if invalid
        else charts_build(user=request.user, clinic_ids=clinic_ids, period=period),
        "as_of": summaries_as_of(),
    }
    return render(request, "clinic/charts.html", context, status=400 if invalid else 200)
