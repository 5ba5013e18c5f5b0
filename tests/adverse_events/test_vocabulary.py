"""The reaction vocabulary ships as data (migration 0003): every term, the red flags, the
Korean words patients read."""

from __future__ import annotations

import pytest

from adverse_events.models import ReactionTerm
from adverse_events.vocabulary import TERMS, load_terms

pytestmark = pytest.mark.django_db

SHIPPED_CODES = {row[0] for row in TERMS}


def test_every_shipped_term_exists_after_migrate() -> None:
    assert set(ReactionTerm.objects.values_list("code", flat=True)) >= SHIPPED_CODES
    assert len(SHIPPED_CODES) == len(TERMS), "a code is listed twice"


def test_the_red_flags_are_exactly_the_three_urgent_ones() -> None:
    red_flags = set(ReactionTerm.objects.filter(red_flag=True).values_list("code", flat=True))
    assert red_flags == {"spreading_hot_redness", "face_throat_swelling", "breathing_difficulty"}


def test_every_red_flag_is_also_a_sentinel() -> None:
    assert not ReactionTerm.objects.filter(red_flag=True, sentinel=False).exists()


@pytest.mark.parametrize("code", sorted(SHIPPED_CODES))
def test_each_term_has_plain_words_in_english_and_korean(code: str) -> None:
    term = ReactionTerm.objects.get(code=code)
    assert term.patient_label.strip()
    assert term.patient_label_ko.strip()
    assert term.label_for("ko") == term.patient_label_ko
    assert term.label_for("en") == term.patient_label
    term.full_clean()


def test_only_the_other_term_asks_for_words() -> None:
    assert list(ReactionTerm.objects.filter(is_other=True).values_list("code", flat=True)) == [
        "other"
    ]


def test_loading_the_vocabulary_again_changes_nothing() -> None:
    before = list(ReactionTerm.objects.order_by("code").values())
    assert load_terms(ReactionTerm) == len(TERMS)
    after = list(ReactionTerm.objects.order_by("code").values())
    strip = [{k: v for k, v in row.items() if k != "updated_at"} for row in before]
    assert [{k: v for k, v in row.items() if k != "updated_at"} for row in after] == strip
