"""The patient list and search (`patients:search`, `/patients/`): the header's search box
sends its `q` here. On the top floor because it reads sessions (last visit) and reactions
(open reactions) besides patients; clinic/urls.py puts it in the `patients` namespace.

Each row leads to the page the role may read at the patient's clinic: the chart for clinical
roles, the front-desk page for the front desk.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from clinic.core.access import held_roles, staff_required, visible
from clinic.core.forms import AccessibleErrorsMixin
from clinic.core.models import CLINICAL_ROLES, Clinic

from .patient_list import Archived, Sort, patient_list_page


class PatientListForm(AccessibleErrorsMixin, forms.Form):
    q = forms.CharField(
        label="Name, phone, birth date or reference",
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    clinic = forms.ModelChoiceField(
        queryset=Clinic.objects.none(),
        to_field_name="uuid",
        required=False,
        empty_label="All my clinics",
        error_messages={"invalid_choice": "Choose one of your clinics."},
    )
    open_reactions = forms.BooleanField(label="Open reactions only", required=False)
    archived = forms.ChoiceField(label="Archived", choices=Archived.CHOICES, required=False)
    sort = forms.ChoiceField(label="Sort by", choices=Sort.CHOICES, required=False)
    after = forms.UUIDField(required=False, widget=forms.HiddenInput())
    before = forms.UUIDField(required=False, widget=forms.HiddenInput())

    def __init__(self, *args: Any, clinics: Any, clinical: bool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics
        if not clinical:
            # Reactions are clinical: the front desk neither filters nor sees them.
            del self.fields["open_reactions"]


def _query_string(data: dict[str, Any], **changes: Any) -> str:
    """The list's own query string for another page: the same search and filters, a new
    boundary (`after` or `before`, a patient's uuid)."""
    kept = {k: v for k, v in data.items() if k not in ("after", "before") and v}
    kept.update({k: str(v) for k, v in changes.items() if v is not None})
    return urlencode(kept)


@staff_required
def patient_list(request: HttpRequest) -> HttpResponse:
    clinics = visible(Clinic, request).order_by("name")
    clinic_list = list(clinics)
    clinical = bool(held_roles(request) & CLINICAL_ROLES)
    form = PatientListForm(request.GET, clinics=clinics, clinical=clinical)
    page = None
    if form.is_valid():
        data = form.cleaned_data
        page = patient_list_page(
            user=request.user,
            q=data["q"],
            clinic=data["clinic"],
            open_reactions=data.get("open_reactions") or False,
            archived=data["archived"] or Archived.EXCLUDE,
            sort=data["sort"] or Sort.NAME,
            after=data["after"],
            before=data["before"],
            countries={c.country for c in clinic_list},
        )
    raw = {k: request.GET.get(k, "") for k in form.fields}
    context = {
        "form": form,
        "page": page,
        "clinical": clinical,
        "several_clinics": len(clinic_list) > 1,
        "filtered": any(raw.values()),
    }
    if page is not None:
        if page.next_after:
            context["next_query"] = _query_string(raw, after=page.next_after)
        if page.previous_before:
            context["previous_query"] = _query_string(raw, before=page.previous_before)
    return render(
        request, "clinic/patient_list.html", context, status=200 if form.is_valid() else 400
    )


urlpatterns = [
    path("", patient_list, name="search"),
]
