"""Two POSTs of the same staff create form at the same instant make one record (issue 16).

Each create form that carries a one-time token (clinic/core/formtokens.py) is posted twice
with the same token from two threads, each with its own test Client and its own database
connection, on SQLite and on PostgreSQL alike. Three orderings, none of them timed:

- "at the same instant": both threads leave one barrier together; the scheduler decides the
  rest.
- "both past their checks": each waits at the door of the service that creates the record,
  its form validated and nothing committed, until the other is there too; then both go. The
  second one to take the token waits for the first's transaction (PostgreSQL: the unique
  index; SQLite: BEGIN IMMEDIATE) and finds it used.
- "the first lands while the second checks": the second pauses as its form starts being
  validated until the first's answer is back, so everything the page looked up before its
  form (an existing record, a used token) predates the first record, and everything after
  sees it.

Whatever the order: exactly one record, its side effects once (one vial, one aftercare
message, one set of check-ins, one set of appointments), both answers are redirects to the
record's page, and the repeat's page says "This form was already submitted". The API's
`Idempotency-Key` gets the same two orderings that need no service door: one record, both
answers 201 with its id, one of them marked replayed.

On SQLite the tests run on a file copy of the test database (tests/kit/concurrency.py says
why); every test here would fail if `form_token_claim` claimed nothing.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django import forms
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.serializers import BaseSerializer

from clinic.core.models import CheckInPlanStep, FormToken
from patients.models import MessageKind, OutboxMessage
from tests.core.test_formtokens import (
    FORMS,
    NOTE,
    CreateForm,
    World,
    _api_cases,
    post_url,
    token_of,
)
from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    ProductFactory,
    SeriesTemplateFactory,
)
from tests.kit.auth import login_verified
from tests.kit.concurrency import on_a_database_file
from tests.kit.world import default_plan, logged_session, released_lot
from treatments.models import Appointment, AppointmentStatus, CheckIn, TreatmentSession

pytestmark = pytest.mark.django_db(transaction=True)

# A thread that never arrives must fail the test, not hang it: a generous guard, never a
# condition the assertions depend on.
HANG_GUARD_S = 60


@pytest.fixture(autouse=True)
def _database_file(transactional_db: None, tmp_path: Path) -> Iterator[None]:
    # SQLite: two threads writing at once need a file, as in the clinic (tests/kit/concurrency.py).
    with on_a_database_file(tmp_path):
        yield


@pytest.fixture(autouse=True)
def _a_monday_in_january() -> Iterator[None]:
    # The booking form books Monday 2 February 2026 10:00 in Seoul: keep it in the future.
    with time_machine.travel(datetime(2026, 1, 2, 1, 0, tzinfo=ZoneInfo("UTC")), tick=True):
        yield


@pytest.fixture
def world(clinic_a, practitioner_a) -> World:
    default_plan(clinic_a)
    patient = PatientFactory(clinic=clinic_a, first_name="Mina", last_name="Park")
    now = timezone.now()  # a session goes only on its appointment's own day
    AppointmentFactory(
        patient=patient,
        practitioner=practitioner_a,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
    )
    return World(
        clinic=clinic_a,
        practitioner=practitioner_a,
        patient=patient,
        lot=released_lot(clinic_a, quantity=10, lot_number="EXO-2026-01"),
        product=ProductFactory(clinic=clinic_a),
        template=SeriesTemplateFactory(clinic=clinic_a, name="Acne scars", sessions_planned=3),
        session=logged_session(practitioner_a, patient=PatientFactory(clinic=clinic_a)),
        clients={},
    )


def _appointment(w: World) -> Appointment:
    return Appointment.objects.get(patient=w.patient)


def _session_effects(w: World, session: TreatmentSession) -> None:
    """One vial taken, one aftercare message queued, one set of check-ins planned."""
    w.lot.refresh_from_db()
    assert w.lot.quantity_on_hand == 9
    aftercare = OutboxMessage.objects.filter(patient=w.patient, kind=MessageKind.AFTERCARE)
    assert aftercare.count() == 1
    assert CheckIn.objects.filter(session=session).count() == len(CheckInPlanStep.DEFAULT_PLAN)
    assert CheckIn.objects.filter(session__patient=w.patient).count() == len(
        CheckInPlanStep.DEFAULT_PLAN
    )


def _appointment_session_effects(w: World, session: TreatmentSession) -> None:
    _session_effects(w, session)
    appointment = _appointment(w)
    assert session.appointment_id == appointment.pk
    assert appointment.status == AppointmentStatus.COMPLETED


def _series_effects(w: World, series: Any) -> None:
    """One set of appointments (beside the one the world already had)."""
    assert series.appointments.count() == 3
    assert Appointment.objects.filter(patient=w.patient).count() == 1 + 3


def _lot_effects(w: World, lot: Any) -> None:
    assert (lot.quantity_received, lot.quantity_on_hand) == (25, 25)


@dataclass(frozen=True)
class Race:
    """A create form raced against itself: the form, which of the views' names creates its
    record (the service's door), where the first POST lands, and what else happens once."""

    form: CreateForm
    door: str  # the module attribute the view calls to create the record
    first_lands: Callable[[World, Any], str] | None = None  # None: on the form's `home`
    effects: Callable[[World, Any], None] = lambda w, record: None


def _form(name: str) -> CreateForm:
    return next(f for f in FORMS if f.name == name)


def _aftercare(w: World, session: Any) -> str:
    return reverse("clinical:aftercare", kwargs={"uuid": session.uuid})


LOG = _form("log a session")
RACES = [
    Race(LOG, "clinic.views_sessions.session_log", _aftercare, _session_effects),
    Race(
        CreateForm(
            "log a session from an appointment",
            "practitioner",
            lambda w: reverse(
                "clinical:session_new_from_appointment", kwargs={"uuid": _appointment(w).uuid}
            ),
            LOG.data,
            LOG.made,
            LOG.home,
        ),
        "clinic.views_sessions.session_log",
        _aftercare,
        _appointment_session_effects,
    ),
    Race(_form("register a patient"), "patients.services.patient_register"),
    Race(
        _form("book a series"),
        "clinic.workflows.series_book_with_safety_hold",
        None,
        _series_effects,
    ),
    Race(_form("receive a lot"), "treatments.views_lots.lot_receive", None, _lot_effects),
    Race(_form("add an addendum"), "clinic.views_sessions.session_add_addendum"),
]

USERS = {
    "practitioner": "practitioner_a",
    "front desk": "front_desk_a",
    "safety lead": "safety_lead_a",
}


class Ordering:
    """How the two threads meet. `hooks()` patches the meeting point in; `before_post(i)` runs
    in thread i just before its POST; `after_post(i)` runs after it (also on failure)."""

    name = "at the same instant"

    def hooks(self, race: Race | None) -> Any:
        return contextlib.nullcontext()  # nothing to patch

    def before_post(self, i: int) -> None:
        pass

    def after_post(self, i: int) -> None:
        pass


class BothPastTheirChecks(Ordering):
    name = "both past their checks"

    def __init__(self) -> None:
        self.door = threading.Barrier(2, timeout=HANG_GUARD_S)

    def hooks(self, race: Race) -> Any:
        module, _, attribute = race.door.rpartition(".")
        service = getattr(__import__(module, fromlist=[attribute]), attribute)

        def at_the_door(*args: Any, **kwargs: Any) -> Any:
            self.door.wait()  # both forms validated, nothing committed
            return service(*args, **kwargs)

        return mock.patch(race.door, at_the_door)


class FirstLandsWhileSecondChecks(Ordering):
    name = "the first lands while the second checks"

    def __init__(self) -> None:
        self.second_checks = threading.Event()
        self.first_landed = threading.Event()
        self.paused = False

    def hooks(self, race: Race | None) -> Any:
        ordering = self

        def pausing(check: Callable[..., Any]) -> Callable[..., Any]:
            def checking(self: Any, *args: Any, **kwargs: Any) -> Any:
                bound = getattr(self, "is_bound", hasattr(self, "initial_data"))
                if bound and threading.current_thread().name == "post-1" and not ordering.paused:
                    ordering.paused = True
                    ordering.second_checks.set()
                    assert ordering.first_landed.wait(HANG_GUARD_S), "the first never landed"
                return check(self, *args, **kwargs)

            return checking

        # A page checks its input with a form; the API with a serializer.
        stack = contextlib.ExitStack()
        for owner, name in ((forms.BaseForm, "full_clean"), (BaseSerializer, "is_valid")):
            stack.enter_context(mock.patch.object(owner, name, pausing(getattr(owner, name))))
        return stack

    def before_post(self, i: int) -> None:
        if i == 0:
            assert self.second_checks.wait(HANG_GUARD_S), "the second POST never checked its form"

    def after_post(self, i: int) -> None:
        if i == 0:
            self.first_landed.set()


ORDERINGS: list[Callable[[], Ordering]] = [
    Ordering,
    BothPastTheirChecks,
    FirstLandsWhileSecondChecks,
]


def _two_at_once(
    clients: list[Client], send: Callable[[Client], Any], ordering: Ordering, race: Race | None
) -> list[Any]:
    """`send` with each client from its own thread (its own connection), in `ordering`;
    the answers in thread order."""
    start = threading.Barrier(2, timeout=HANG_GUARD_S)
    answers: list[Any] = [None, None]
    errors: list[BaseException] = []

    def post(i: int) -> None:
        try:
            start.wait()
            ordering.before_post(i)
            try:
                answers[i] = send(clients[i])
            finally:
                ordering.after_post(i)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()  # the thread's own connection

    threads = [threading.Thread(target=post, args=(i,), name=f"post-{i}") for i in range(2)]
    with ordering.hooks(race):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(HANG_GUARD_S)
    assert not any(t.is_alive() for t in threads), "a request hung"
    assert errors == [], errors
    return answers


def _clients(request: pytest.FixtureRequest, who: str) -> list[Client]:
    user = request.getfixturevalue(USERS[who])
    clients = [Client(), Client()]
    for client in clients:
        login_verified(client, user)
    return clients


def _why(answer: Any) -> str:
    """What a page that did not redirect said: its error messages."""
    html = answer.content.decode()
    errors = re.findall(r'class="[^"]*(?:error|alert)[^"]*"[^>]*>(.*?)</', html, re.S)
    return f"{answer.status_code}: " + " | ".join(e.strip() for e in errors if e.strip())


@pytest.mark.parametrize("make_ordering", ORDERINGS, ids=lambda o: o.name)
@pytest.mark.parametrize("race", RACES, ids=lambda r: r.form.name)
def test_two_simultaneous_posts_of_a_create_form_make_one_record(
    request: pytest.FixtureRequest, world: World, race: Race, make_ordering: Callable[[], Ordering]
) -> None:
    """GIVEN a create form as its page shows it, with its one-time token
    WHEN two connections POST it at once
    THEN one record exists with its side effects once, both answers redirect to it, and the
    repeat's page says the form was already submitted."""
    clients = _clients(request, race.form.who)
    token = token_of(clients[0].get(race.form.url(world)))
    data = race.form.data(world) | {"form_token": token}
    url = post_url(race.form, world)
    answers = _two_at_once(clients, lambda c: c.post(url, data), make_ordering(), race)

    made = list(race.form.made(world))
    assert len(made) == 1, f"{len(made)} records for one form"
    record = made[0]
    assert FormToken.objects.get(token=token).record_id == record.pk
    race.effects(world, record)

    home = race.form.home(world, record)
    first = race.first_lands(world, record) if race.first_lands else home
    statuses = [answer.status_code for answer in answers]
    assert statuses == [302, 302], [_why(a) for a in answers]
    assert sorted(a["Location"] for a in answers) == sorted([first, home])
    pages = [
        client.get(answer["Location"]).content.decode()
        for client, answer in zip(clients, answers, strict=True)
    ]
    said = zip(answers, pages, strict=True)
    repeats = [answer["Location"] for answer, page in said if NOTE in page]
    assert repeats == [home], "the repeat, and only it, says the form was already submitted"


# --- the API: two requests with one Idempotency-Key ------------------------------------------

API_ORDERINGS = [Ordering, FirstLandsWhileSecondChecks]


@pytest.mark.parametrize("make_ordering", API_ORDERINGS, ids=lambda o: o.name)
@pytest.mark.parametrize("case", range(4), ids=["sessions", "patients", "lots", "series"])
def test_two_simultaneous_api_creates_with_one_idempotency_key_make_one_record(
    request: pytest.FixtureRequest, world: World, case: int, make_ordering: Callable[[], Ordering]
) -> None:
    """GIVEN a create request with an Idempotency-Key, sent from two connections
    WHEN both arrive at the same instant (or the first lands while the second is validated)
    THEN one record exists, both answers are 201 with its id, and one says it is replayed."""
    who, url, body, made = _api_cases(world)[case]

    def send(client: Client) -> Any:
        return client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")

    answers = _two_at_once(_clients(request, who), send, make_ordering(), None)

    assert [a.status_code for a in answers] == [201, 201], [a.json() for a in answers]
    assert made().count() == 1
    assert answers[0].json()["id"] == answers[1].json()["id"]
    replayed = [a.get("Idempotent-Replayed") for a in answers]
    assert sorted(replayed, key=str) == sorted([None, "true"], key=str)
