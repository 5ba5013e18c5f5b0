"""Every date a person can type, on a page, in the API or in a query string, fuzzed with far-off
and broken values: never a 500, and a refusal always names the field.

The inputs are found automatically (every form, serializer and filter set of the project with a
date or date-time field); `test_every_date_input_is_fuzzed` fails when a new one appears that
the table below does not exercise, so a new date field cannot skip the fuzzing.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import django_filters
import pytest
import time_machine
from django import forms
from django.test import Client
from django.urls import reverse
from rest_framework import serializers

from clinic.core.api.fields import AwareDateTimeField, AwareIsoDateTimeFilter
from tests.adverse_events.patient_form_world import clear_rate_limits, session_with_link
from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    ProductFactory,
    ProductLotFactory,
    SeriesTemplateFactory,
)
from tests.kit.world import released_lot

pytestmark = pytest.mark.django_db

APPS = ("clinic", "patients", "treatments", "adverse_events")

# A Monday noon in both clinics' working week: Seoul 21:00, New York 07:00.
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

DATES = ["0001-01-01", "9999-12-31", "1899-12-31", "2026-02-30", "", "abc"]
# What a datetime-local input sends: the clinic's wall clock without an offset.
LOCAL_DATETIMES = [
    "0001-01-01T00:00",
    "9999-12-31T23:59",
    "1899-12-31T10:00",
    "2026-02-30T10:00",
    "",
    "abc",
]
# The API wants offsets; -05:00 at the end of 9999 cannot even be turned into UTC.
API_DATETIMES = [
    "0001-01-01T00:00:00+09:00",
    "9999-12-31T23:59:59-05:00",
    "1899-12-31T10:00:00+09:00",
    "2026-02-30T10:00:00+09:00",
    "",
    "abc",
]


# --- discovery -------------------------------------------------------------------------------


def _import_project() -> None:
    for app in APPS:
        package = importlib.import_module(app)
        for info in pkgutil.walk_packages(package.__path__, f"{app}."):
            if ".migrations" not in info.name and ".management" not in info.name:
                importlib.import_module(info.name)


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _ours(cls: type) -> bool:
    return cls.__module__.split(".")[0] in APPS


def _owner(cls: type, name: str, attribute: str) -> str:
    """The class that declares the field `cls` has (an inherited field is fuzzed once, at its
    owner; a subclass that redeclares it owns its own)."""
    field = (getattr(cls, attribute, None) or {}).get(name)
    owner = cls
    for klass in cls.__mro__[1:]:
        if field is not None and (getattr(klass, attribute, None) or {}).get(name) is field:
            owner = klass
    return f"{owner.__module__}.{owner.__qualname__}.{name}"


def discovered_form_fields() -> set[str]:
    found = set()
    for cls in {c for c in _subclasses(forms.BaseForm) if _ours(c)}:
        for name, field in cls.base_fields.items():
            if isinstance(field, (forms.DateField, forms.DateTimeField)):
                found.add(_owner(cls, name, "declared_fields"))
    return found


def _serializer_inputs() -> Iterator[tuple[type, str, serializers.Field]]:
    for cls in {c for c in _subclasses(serializers.Serializer) if _ours(c)}:
        for name, field in cls().fields.items():
            if field.read_only:
                continue
            inner = field.child if isinstance(field, serializers.ListField) else field
            if isinstance(inner, (serializers.DateField, serializers.DateTimeField)):
                yield cls, name, inner


def discovered_serializer_fields() -> set[str]:
    return {_owner(cls, name, "_declared_fields") for cls, name, _ in _serializer_inputs()}


def _filter_inputs() -> Iterator[tuple[type, str, django_filters.Filter]]:
    for cls in {c for c in _subclasses(django_filters.FilterSet) if _ours(c)}:
        for name, flt in cls.base_filters.items():
            if issubclass(flt.field_class, (forms.DateField, forms.DateTimeField)):
                yield cls, name, flt


def discovered_filters() -> set[str]:
    return {_owner(cls, name, "declared_filters") for cls, name, _ in _filter_inputs()}


# --- the places a date is typed --------------------------------------------------------------


class World:
    """Clinic A's rows the inputs need, made on first use."""

    def __init__(self, clinic_a: Any, practitioner_a: Any, client_as: Callable) -> None:
        self.clinic = clinic_a
        self.practitioner = practitioner_a
        self.client_as = client_as

    @cached_property
    def patient(self) -> Any:
        return PatientFactory(clinic=self.clinic)

    @cached_property
    def template(self) -> Any:
        return SeriesTemplateFactory(clinic=self.clinic, sessions_planned=1)

    @cached_property
    def appointment(self) -> Any:
        start = datetime(2026, 12, 14, 1, 0, tzinfo=UTC)  # 10:00 in Seoul
        return AppointmentFactory(
            patient=self.patient,
            practitioner=self.practitioner,
            starts_at=start,
            ends_at=start + timedelta(hours=1),
        )

    @cached_property
    def product(self) -> Any:
        return ProductFactory(clinic=self.clinic)

    @cached_property
    def lot(self) -> Any:
        return ProductLotFactory(product=self.product)

    @cached_property
    def usable_lot(self) -> Any:
        return released_lot(self.clinic)

    @cached_property
    def report_client(self) -> Client:
        """A patient's browser that opened its session link and chose "redness"."""
        reached = session_with_link(self.practitioner)
        client = Client()
        client.get(reverse("report:entry", kwargs={"token": reached.token}))
        return client


@dataclass(frozen=True)
class DateInput:
    """One date input: who types it, where, and the field name a refusal must carry."""

    covers: tuple[str, ...]  # discovered fields it exercises (module.Class.field)
    role: str
    field: str  # as named in the error (a page form's field, or the API error's key)
    values: tuple[str, ...]
    send: Callable[[World, Client, str], Any]
    api: bool = False
    required: bool = True


def _json(client: Client, method: str, url: str, data: dict) -> Any:
    return getattr(client, method)(url, data, content_type="application/json")


def _register(w: World, c: Client, v: str) -> Any:
    data = {
        "clinic": w.clinic.pk,
        "first_name": "Min-ji",
        "last_name": "Kim",
        "date_of_birth": v,
        "email": "minji@example.com",
        "phone": "",
        "preferred_channel": "email",
        "language": "ko",
        "fitzpatrick_type": "",
    }
    return c.post(reverse("patients:register"), data)


def _edit_patient(w: World, c: Client, v: str) -> Any:
    data = {
        "first_name": "Min-ji",
        "last_name": "Kim",
        "date_of_birth": v,
        "email": "minji@example.com",
        "phone": "",
        "preferred_channel": "email",
        "language": "ko",
        "save_anyway": "on",
    }
    return c.post(reverse("patients:edit", kwargs={"uuid": w.patient.uuid}), data)


def _book_step_one(w: World, first_date: str) -> dict:
    return {
        "template": w.template.pk,
        "practitioner": w.practitioner.pk,
        "first_date": first_date,
        "first_time": "10:00",
    }


def _book_propose(w: World, c: Client, v: str) -> Any:
    url = reverse("treatments:book", kwargs={"patient": w.patient.uuid})
    return c.post(url, _book_step_one(w, v) | {"action": "propose"})


def _book_times(w: World, c: Client, v: str) -> Any:
    url = reverse("treatments:book", kwargs={"patient": w.patient.uuid})
    data = _book_step_one(w, "2026-12-14") | {
        "proposed_for": f"{w.template.pk}|{w.practitioner.pk}|2026-12-14|10:00",
        "start_1": v,
        "action": "book",
    }
    return c.post(url, data)


def _reaction_details(w: World, c: Client, v: str) -> Any:
    client = w.report_client
    url = reverse("report:report")
    page = client.get(url).content.decode()
    sid = page.split('name="submission_id" value="', 1)[1].split('"', 1)[0]
    client.post(url, {"step": "choose", "submission_id": sid, "terms": ["redness"]})
    data = {
        "step": "details",
        "submission_id": sid,
        "terms": ["redness"],
        "redness-onset_date": "2026-12-06",
        "redness-status": "ended",
        "redness-ended_on": "2026-12-07",
        "redness-patient_severity": "1",
        "redness-stopped_activities": "no",
        "redness-sought_care": "no",
        "free_text": "",
    }
    return client.post(url, data | {f"redness-{c._fuzzed}": v})  # type: ignore[attr-defined]


def _api_series(w: World, c: Client, v: str) -> Any:
    data = {
        "patient": str(w.patient.uuid),
        "practitioner": str(w.practitioner.uuid),
        "template": str(w.template.uuid),
        "starts": [v],
    }
    return _json(c, "post", "/api/v1/series/", data)


def _api_reschedule(w: World, c: Client, v: str) -> Any:
    url = f"/api/v1/appointments/{w.appointment.uuid}/reschedule/"
    return _json(c, "post", url, {"starts_at": v})


def _api_session(w: World, c: Client, v: str) -> Any:
    data = {
        "patient": str(w.patient.uuid),
        "lot": str(w.usable_lot.uuid),
        "delivery_method": "microneedling",
        "treated_areas": ["cheeks"],
        "needle_depth_mm": "0.5",
        "warnings_acknowledged": True,
        "performed_at": v,
    }
    return _json(c, "post", "/api/v1/sessions/", data)


def _api_lot(field: str) -> Callable[[World, Client, str], Any]:
    def send(w: World, c: Client, v: str) -> Any:
        data = {
            "product": str(w.product.uuid),
            "lot_number": "FZ-1",
            "expiry_date": "2027-12-01",
            "received_on": "2026-12-01",
            "quantity": 5,
        }
        return _json(c, "post", "/api/v1/lots/", data | {field: v})

    return send


def _api_lot_correct(field: str) -> Callable[[World, Client, str], Any]:
    def send(w: World, c: Client, v: str) -> Any:
        url = f"/api/v1/lots/{w.lot.uuid}/correct/"
        return _json(c, "post", url, {field: v, "reason": "Typo"})

    return send


def _page_lot(field: str, correct: bool) -> Callable[[World, Client, str], Any]:
    def send(w: World, c: Client, v: str) -> Any:
        data = {
            "lot_number": "FZ-2",
            "expiry_date": "2027-12-01",
            "received_on": "2026-12-01",
            "quantity": "5",
            "supplier": "",
            "certificate_ref": "",
        }
        if correct:
            lot = w.lot
            data |= {
                "lot_number": lot.lot_number,
                "quantity_received": str(lot.quantity_received),
                "quantity_on_hand": str(lot.quantity_on_hand),
                "initial-quantity_on_hand": str(lot.quantity_on_hand),
                "reason": "Typo",
            }
            url = reverse("treatments:lot_correct", kwargs={"uuid": lot.uuid})
        else:
            url = reverse("treatments:lot_receive", kwargs={"uuid": w.product.uuid})
        return c.post(url, data | {field: v})

    return send


def _get(url: str, param: str) -> Callable[[World, Client, str], Any]:
    return lambda w, c, v: c.get(url, {param: v})


FORMS = "treatments.forms_lots.LotFieldsForm"
INPUTS: dict[str, DateInput] = {
    # pages
    "register: date of birth": DateInput(
        ("patients.forms.PatientRegistrationForm.date_of_birth",),
        "front_desk",
        "date_of_birth",
        tuple(DATES),
        _register,
    ),
    "edit patient: date of birth": DateInput(
        ("patients.forms.PatientEditForm.date_of_birth",),
        "front_desk",
        "date_of_birth",
        tuple(DATES),
        _edit_patient,
    ),
    "book: first date": DateInput(
        ("treatments.forms_booking.BookingForm.first_date",),
        "front_desk",
        "first_date",
        tuple(DATES),
        _book_propose,
    ),
    "book: session times": DateInput(
        (),  # SessionTimesForm makes start_1..n per template, so discovery cannot see them
        "front_desk",
        "start_1",
        tuple(LOCAL_DATETIMES),
        _book_times,
    ),
    "reschedule page": DateInput(
        ("treatments.forms_booking.RescheduleForm.starts_at",),
        "front_desk",
        "starts_at",
        tuple(LOCAL_DATETIMES),
        lambda w, c, v: c.post(
            reverse("treatments:appointment_reschedule", kwargs={"uuid": w.appointment.uuid}),
            {"starts_at": v},
        ),
    ),
    "calendar": DateInput(
        ("treatments.views_booking.CalendarForm.date",),
        "front_desk",
        "date",
        tuple(DATES),
        lambda w, c, v: c.get(reverse("treatments:calendar"), {"date": v, "view": "week"}),
        required=False,
    ),
    "clinic settings: closure from": DateInput(
        ("clinic.core.forms_settings.ClosureForm.starts_on",),
        "manager",
        "closure-starts_on",
        tuple(DATES),
        lambda w, c, v: c.post(
            reverse("settings:hours", kwargs={"uuid": w.clinic.uuid}),
            {"form": "closure", "closure-starts_on": v, "closure-ends_on": "2026-12-31"},
        ),
    ),
    "clinic settings: closure until": DateInput(
        ("clinic.core.forms_settings.ClosureForm.ends_on",),
        "manager",
        "closure-ends_on",
        tuple(DATES),
        lambda w, c, v: c.post(
            reverse("settings:hours", kwargs={"uuid": w.clinic.uuid}),
            {"form": "closure", "closure-starts_on": "2026-12-01", "closure-ends_on": v},
        ),
    ),
    "lot receive page: expiry": DateInput(
        (f"{FORMS}.expiry_date",),
        "safety_lead",
        "expiry_date",
        tuple(DATES),
        _page_lot("expiry_date", False),
    ),
    "lot receive page: received": DateInput(
        (f"{FORMS}.received_on",),
        "safety_lead",
        "received_on",
        tuple(DATES),
        _page_lot("received_on", False),
    ),
    "lot correct page: expiry": DateInput(
        (f"{FORMS}.expiry_date",),
        "safety_lead",
        "expiry_date",
        tuple(DATES),
        _page_lot("expiry_date", True),
    ),
    "reactions list: onset from": DateInput(
        ("clinic.forms_triage.ReactionFilterForm.onset_from",),
        "practitioner",
        "onset_from",
        tuple(DATES),
        _get("/reactions/", "onset_from"),
        required=False,
    ),
    "reactions CSV: onset to": DateInput(
        ("clinic.forms_triage.ReactionFilterForm.onset_to",),
        "practitioner",
        "onset_to",
        tuple(DATES),
        _get("/reactions/export.csv", "onset_to"),
        required=False,
    ),
    "patient form: onset": DateInput(
        ("adverse_events.forms.ReactionDetailForm.onset_date",),
        "patient",
        "redness-onset_date",
        tuple(DATES),
        _reaction_details,
    ),
    "patient form: ended": DateInput(
        ("adverse_events.forms.ReactionDetailForm.ended_on",),
        "patient",
        "redness-ended_on",
        tuple(DATES),
        _reaction_details,
    ),
    # API bodies
    "API register: date of birth": DateInput(
        ("patients.api.serializers.PatientRegisterSerializer.date_of_birth",),
        "front_desk",
        "date_of_birth",
        tuple(DATES),
        lambda w, c, v: _json(
            c,
            "post",
            "/api/v1/patients/",
            {
                "first_name": "Min-ji",
                "last_name": "Kim",
                "date_of_birth": v,
                "preferred_channel": "email",
                "email": "minji@example.com",
                "consent_to_contact": True,
            },
        ),
        api=True,
    ),
    "API patient update: date of birth": DateInput(
        ("patients.api.serializers.PatientUpdateSerializer.date_of_birth",),
        "front_desk",
        "date_of_birth",
        tuple(DATES),
        lambda w, c, v: _json(
            c, "patch", f"/api/v1/patients/{w.patient.uuid}/", {"date_of_birth": v}
        ),
        api=True,
    ),
    "API series: starts": DateInput(
        ("treatments.api.serializers.SeriesBookSerializer.starts",),
        "front_desk",
        "starts",
        tuple(API_DATETIMES),
        _api_series,
        api=True,
    ),
    "API reschedule": DateInput(
        ("treatments.api.serializers.RescheduleSerializer.starts_at",),
        "front_desk",
        "starts_at",
        tuple(API_DATETIMES),
        _api_reschedule,
        api=True,
    ),
    "API session: performed at": DateInput(
        ("treatments.api.serializers.SessionLogSerializer.performed_at",),
        "practitioner",
        "performed_at",
        tuple(API_DATETIMES),
        _api_session,
        api=True,
        required=False,
    ),
    "API lot receive: expiry": DateInput(
        ("treatments.api.serializers._LotFields.expiry_date",),
        "safety_lead",
        "expiry_date",
        tuple(DATES),
        _api_lot("expiry_date"),
        api=True,
    ),
    "API lot receive: received": DateInput(
        ("treatments.api.serializers._LotFields.received_on",),
        "safety_lead",
        "received_on",
        tuple(DATES),
        _api_lot("received_on"),
        api=True,
    ),
    "API lot correct: expiry": DateInput(
        ("treatments.api.serializers.LotCorrectSerializer.expiry_date",),
        "safety_lead",
        "expiry_date",
        tuple(DATES),
        _api_lot_correct("expiry_date"),
        api=True,
    ),
    "API lot correct: received": DateInput(
        ("treatments.api.serializers.LotCorrectSerializer.received_on",),
        "safety_lead",
        "received_on",
        tuple(DATES),
        _api_lot_correct("received_on"),
        api=True,
    ),
}

# API query strings: every date filter of every filter set.
_FILTER_URLS = {
    "AppointmentFilter": "/api/v1/appointments/",
    "SessionFilter": "/api/v1/sessions/",
    "LotFilter": "/api/v1/lots/",
    "CheckInFilter": "/api/v1/checkins/",
    "PatientFilter": "/api/v1/patients/",
}
for _module, _cls, _param, _datetime in [
    ("treatments.api.filters", "AppointmentFilter", "starts_after", True),
    ("treatments.api.filters", "AppointmentFilter", "starts_before", True),
    ("treatments.api.filters", "SessionFilter", "performed_after", True),
    ("treatments.api.filters", "SessionFilter", "performed_before", True),
    ("treatments.api.filters", "LotFilter", "expires_before", False),
    ("treatments.api.filters", "CheckInFilter", "due_after", True),
    ("treatments.api.filters", "CheckInFilter", "due_before", True),
    ("patients.api.filters", "PatientFilter", "created_after", True),
    ("patients.api.filters", "PatientFilter", "created_before", True),
]:
    INPUTS[f"API query: {_param}"] = DateInput(
        (f"{_module}.{_cls}.{_param}",),
        "safety_lead",
        _param,
        tuple(API_DATETIMES if _datetime else DATES),
        _get(_FILTER_URLS[_cls], _param),
        api=True,
        required=False,
    )


# --- the tests -------------------------------------------------------------------------------


def test_every_date_input_is_fuzzed() -> None:
    _import_project()
    covered = {name for case in INPUTS.values() for name in case.covers}
    found = discovered_form_fields() | discovered_serializer_fields() | discovered_filters()
    assert found - covered == set(), "date inputs the fuzz table below does not exercise"
    assert covered - found == set(), "fuzz table entries for inputs that no longer exist"


def test_every_api_date_time_input_demands_an_offset() -> None:
    """One plain DRF DateTimeField or django-filter IsoDateTimeFilter would read a time
    without an offset as UTC again."""
    _import_project()
    plain = [
        f"{cls.__qualname__}.{name}"
        for cls, name, field in _serializer_inputs()
        if isinstance(field, serializers.DateTimeField)
        and not isinstance(field, AwareDateTimeField)
    ]
    plain += [
        f"{cls.__qualname__}.{name}"
        for cls, name, flt in _filter_inputs()
        if issubclass(flt.field_class, forms.DateTimeField)
        and not isinstance(flt, AwareIsoDateTimeFilter)
    ]
    assert plain == []


def _page_errors(response: Any) -> dict[str, Any]:
    """Errors of every bound form the page rendered, by the field's (prefixed) name."""
    found: dict[str, Any] = {}
    contexts = response.context if isinstance(response.context, list) else [response.context]
    for context in contexts:
        if context is None:
            continue
        for value in context.flatten().values():
            candidates = value if isinstance(value, (list, tuple)) else [value]
            for form in candidates:
                if isinstance(form, forms.BaseForm) and form.is_bound:
                    for name, errors in form.errors.items():
                        found[form.add_prefix(name)] = errors
    return found


def _refused_field(case: DateInput, response: Any) -> bool:
    if case.api:
        return case.field in response.json().get("error", {}).get("fields", {})
    return case.field in _page_errors(response)


@pytest.fixture
def world(clinic_a: Any, clinic_b: Any, practitioner_a: Any, client_as: Callable) -> World:
    return World(clinic_a, practitioner_a, client_as)


@pytest.mark.parametrize("name", list(INPUTS))
def test_far_off_and_broken_dates_are_the_fields_error_never_a_500(
    name: str,
    world: World,
    front_desk_a: Any,
    safety_lead_a: Any,
    practitioner_a: Any,
    manager_a: Any,
) -> None:
    case = INPUTS[name]
    clear_rate_limits()
    problems = []
    with time_machine.travel(NOW, tick=False):
        for value in case.values:
            if case.role == "patient":
                client = world.report_client
                client._fuzzed = case.field.split("-", 1)[1]  # type: ignore[attr-defined]
            else:
                user = {
                    "front_desk": front_desk_a,
                    "safety_lead": safety_lead_a,
                    "practitioner": practitioner_a,
                    "manager": manager_a,
                }[case.role]
                client = world.client_as(user)
            response = case.send(world, client, value)
            if response.status_code >= 500:
                problems.append(f"{value!r}: {response.status_code}")
                continue
            optional_blank = value == "" and not case.required
            if optional_blank:
                continue  # an empty optional field may simply be left out
            if response.status_code in (200, 201, 302) and not _refused_field(case, response):
                problems.append(f"{value!r}: accepted ({response.status_code})")
            elif not _refused_field(case, response):
                problems.append(f"{value!r}: {response.status_code} without naming {case.field}")
    assert problems == []
