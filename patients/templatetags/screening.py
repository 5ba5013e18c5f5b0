"""`{% screening_facts patient as facts %}`: a patient's screening facts with who confirmed
each and when (patients/selectors.py `screening_fact_statuses`), for the chart and the
screening step, which both include `clinic/chart_screening_facts.html`."""

from __future__ import annotations

from django import template

from patients.models import Patient
from patients.selectors import FactStatus, screening_fact_statuses

register = template.Library()


@register.simple_tag
def screening_facts(patient: Patient) -> list[FactStatus]:
    return screening_fact_statuses(patient=patient)
