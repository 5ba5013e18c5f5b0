"""The patient list and the header's search box: a phone number however written, a date of
birth in the clinic's usual formats, a name in either order, a reference; archived patients
only when asked for; keyset pages; each row leads to the page the role may read."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import PatientFactory, ReactionReportFactory, TreatmentSessionFactory
from tests.kit.queries import assert_constant_queries

pytestmark = pytest.mark.django_db

LIST = reverse("patients:search")


def _chart(patient) -> str:
    return reverse("clinical:chart", kwargs={"uuid": patient.uuid})


def _desk(patient) -> str:
    return reverse("patients:detail", kwargs={"uuid": patient.uuid})


def _a(url: str) -> str:
    """The link to `url` as the list writes it (a chart's path starts with the desk's)."""
    return f'href="{url}"'


def _find(client, q: str, **params) -> str:
    response = client.get(LIST, {"q": q, **params})
    assert response.status_code == 200, response.content.decode()[:500]
    return response.content.decode()


@pytest.fixture
def minji(clinic_a):
    return PatientFactory(
        clinic=clinic_a,
        first_name="Minji",
        last_name="Kim",
        phone="+821012345678",
        date_of_birth=date(1990, 4, 2),
    )


def test_a_phone_number_written_three_ways_finds_the_one_seoul_patient(
    client_as, practitioner_a, minji, clinic_a
):
    other = PatientFactory(clinic=clinic_a, phone="+821099998888")
    client = client_as(practitioner_a)
    for typed in ("010-1234-5678", "+82 10 1234 5678", "01012345678"):
        body = _find(client, typed)
        assert body.count(_a(_chart(minji))) == 1, typed
        assert _a(_chart(other)) not in body, typed
        assert "matching by phone number" in body


def test_part_of_a_number_finds_the_patient_too(client_as, front_desk_a, minji):
    body = _find(client_as(front_desk_a), "1234-5678")
    assert _a(_desk(minji)) in body


def test_a_date_of_birth_in_the_clinic_s_usual_formats(
    client_as, practitioner_a, practitioner_b, minji, clinic_a, clinic_b
):
    PatientFactory(clinic=clinic_a, date_of_birth=date(1990, 4, 3))
    client = client_as(practitioner_a)
    for typed in ("1990-04-02", "1990.04.02", "1990. 4. 2."):
        body = _find(client, typed)
        assert _a(_chart(minji)) in body and body.count("<tr") == 2, typed  # header + one row
    # The American form is read at an American clinic only.
    ny = PatientFactory(clinic=clinic_b, date_of_birth=date(1990, 4, 2))
    assert _a(_chart(ny)) in _find(client_as(practitioner_b), "04/02/1990")
    assert _a(_chart(minji)) not in _find(client, "04/02/1990")


def test_a_name_in_either_order_with_accents_and_case_ignored(client_as, front_desk_a, clinic_a):
    jose = PatientFactory(clinic=clinic_a, first_name="José", last_name="Álvarez")
    kim = PatientFactory(clinic=clinic_a, first_name="민지", last_name="김")
    PatientFactory(clinic=clinic_a, first_name="Ana", last_name="Alves")
    client = client_as(front_desk_a)
    for typed in ("alvarez jose", "JOSÉ ÁLVAREZ", "Jose"):
        body = _find(client, typed)
        assert _a(_desk(jose)) in body and body.count("<tr") == 2, typed
    for typed in ("김민지", "민지 김"):
        assert _a(_desk(kim)) in _find(client, typed), typed


def test_a_patient_s_reference_finds_them(client_as, front_desk_a, minji):
    client = client_as(front_desk_a)
    assert minji.reference in client.get(_desk(minji)).content.decode()
    for typed in (minji.reference, minji.reference.lower(), f"#{minji.reference}"):
        body = _find(client, typed)
        assert _a(_desk(minji)) in body, typed


def test_another_clinic_s_patients_are_never_found(client_as, practitioner_a, clinic_b):
    theirs = PatientFactory(clinic=clinic_b, first_name="Minji", last_name="Kim")
    assert _a(_chart(theirs)) not in _find(client_as(practitioner_a), "minji")


def test_archived_patients_leave_the_list_unless_included(client_as, front_desk_a, minji, clinic_a):
    minji.archived_at, minji.archived_by, minji.archived_reason = (
        timezone.now(),
        front_desk_a,
        "Moved away",
    )
    minji.save()
    client = client_as(front_desk_a)
    assert _a(_desk(minji)) not in _find(client, "Kim Minji")
    assert _a(_desk(minji)) not in _find(client, "")
    included = _find(client, "Kim Minji", archived="include")
    assert _a(_desk(minji)) in included and "Archived" in included
    assert _a(_desk(minji)) in _find(client, "", archived="only")


def test_each_role_is_led_to_the_page_it_may_read(
    client_as, practitioner_a, front_desk_a, safety_lead_a, minji
):
    for user in (practitioner_a, safety_lead_a):
        body = _find(client_as(user), "minji")
        assert _a(_chart(minji)) in body and _a(_desk(minji)) not in body
    body = _find(client_as(front_desk_a), "minji")
    assert _a(_desk(minji)) in body and _a(_chart(minji)) not in body


def test_the_chart_and_the_front_desk_page_link_each_other(
    client_as, practitioner_a, front_desk_a, minji
):
    assert _a(_desk(minji)) in client_as(practitioner_a).get(_chart(minji)).content.decode()
    assert _a(_chart(minji)) in client_as(practitioner_a).get(_desk(minji)).content.decode()
    assert _a(_chart(minji)) not in client_as(front_desk_a).get(_desk(minji)).content.decode()


def test_pages_go_by_cursor_without_counting_the_table(client_as, front_desk_a, clinic_a):
    patients = [
        PatientFactory(clinic=clinic_a, last_name=f"Lee{i:02d}", first_name="Ara")
        for i in range(30)
    ]
    client = client_as(front_desk_a)
    with CaptureQueriesContext(connection) as ctx:
        first = client.get(LIST, {"q": "lee"})
    assert not any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries)
    body = first.content.decode()
    assert [_a(_desk(p)) in body for p in patients] == [True] * 25 + [False] * 5
    assert 'rel="prev"' not in body and 'rel="next"' in body
    after = first.context["next_query"]
    assert "Lee" not in after and str(patients[24].uuid) in after
    second = client.get(f"{LIST}?{after}").content.decode()
    assert [_a(_desk(p)) in second for p in patients] == [False] * 25 + [True] * 5
    assert 'rel="next"' not in second and 'rel="prev"' in second
    back = client.get(f"{LIST}?{client.get(f'{LIST}?{after}').context['previous_query']}")
    assert [_a(_desk(p)) in back.content.decode() for p in patients] == [True] * 25 + [False] * 5


def test_sort_by_last_visit_puts_the_latest_first(client_as, practitioner_a, clinic_a):
    never = PatientFactory(clinic=clinic_a, last_name="Aaa")
    old = PatientFactory(clinic=clinic_a, last_name="Bbb")
    recent = PatientFactory(clinic=clinic_a, last_name="Ccc")
    TreatmentSessionFactory(patient=old, performed_at=timezone.now() - timedelta(days=40))
    TreatmentSessionFactory(patient=recent, performed_at=timezone.now() - timedelta(days=2))
    body = _find(client_as(practitioner_a), "", sort="last_visit")
    assert (
        body.index(_a(_chart(recent))) < body.index(_a(_chart(old))) < body.index(_a(_chart(never)))
    )
    by_name = _find(client_as(practitioner_a), "")
    assert (
        by_name.index(_a(_chart(never)))
        < by_name.index(_a(_chart(old)))
        < by_name.index(_a(_chart(recent)))
    )


def test_the_open_reactions_filter_is_for_clinical_roles_only(
    client_as, practitioner_a, front_desk_a, clinic_a
):
    quiet = PatientFactory(clinic=clinic_a)
    reacting = PatientFactory(clinic=clinic_a)
    ReactionReportFactory(session=TreatmentSessionFactory(patient=reacting))
    body = _find(client_as(practitioner_a), "", open_reactions="on")
    assert (
        _a(_chart(reacting)) in body and _a(_chart(quiet)) not in body and "Open reaction" in body
    )
    desk = _find(client_as(front_desk_a), "", open_reactions="on")
    assert _a(_desk(quiet)) in desk and "Open reaction" not in desk


def test_bad_filters_get_a_clear_error_not_a_500(client_as, front_desk_a, clinic_b):
    client = client_as(front_desk_a)
    response = client.get(LIST, {"clinic": str(clinic_b.uuid)})
    assert response.status_code == 400
    assert "Choose one of your clinics." in response.content.decode()
    response = client.get(LIST, {"after": "not-a-uuid"})
    assert response.status_code == 400
    assert "This page link is out of date" in response.content.decode()


def test_every_staff_page_has_the_search_box(client_as, front_desk_a):
    body = client_as(front_desk_a).get(reverse("patients:calls")).content.decode()
    assert f'action="{LIST}"' in body and 'name="q"' in body and 'role="search"' in body


def test_the_list_costs_the_same_queries_at_any_size(client_as, practitioner_a, clinic_a):
    def grow(n: int) -> None:
        for _ in range(n):
            patient = PatientFactory(clinic=clinic_a, last_name="Lee")
            ReactionReportFactory(session=TreatmentSessionFactory(patient=patient))

    assert_constant_queries(
        client_as(practitioner_a),
        f"{LIST}?q=lee&sort=last_visit&archived=include",
        grow,
        expected=10,
    )


@pytest.mark.parametrize("sort", ["name", "last_visit"])
def test_walking_the_pages_both_ways_shows_every_patient_once(sort, practitioner_a, clinic_a):
    """Ties (same name, never seen) are broken by the row key, so no row is skipped or shown
    twice, forwards or back."""
    from clinic.patient_list import patient_list_page

    for i in range(17):
        patient = PatientFactory(clinic=clinic_a, last_name="Lee" if i % 2 else "Park")
        if i % 3 == 0:
            TreatmentSessionFactory(
                patient=patient, performed_at=timezone.now() - timedelta(days=i % 6)
            )
    pages, after = [], None
    while True:
        page = patient_list_page(user=practitioner_a, sort=sort, after=after, page_size=5)
        pages.append([p.pk for p in page.rows])
        if page.next_after is None:
            break
        after = page.next_after
    seen = [pk for rows in pages for pk in rows]
    assert len(seen) == len(set(seen)) == 17 and [len(p) for p in pages] == [5, 5, 5, 2]
    before = page.previous_before
    for expected in reversed(pages[:-1]):
        back = patient_list_page(user=practitioner_a, sort=sort, before=before, page_size=5)
        assert [p.pk for p in back.rows] == expected
        before = back.previous_before
    assert before is None


def test_a_name_that_looks_like_a_reference_is_found_as_a_name(client_as, front_desk_a, clinic_a):
    fabecca = PatientFactory(clinic=clinic_a, first_name="Fabeccad", last_name="Ng")
    body = _find(client_as(front_desk_a), "fabeccad")
    assert _a(_desk(fabecca)) in body and "matching by name, reference" in body
