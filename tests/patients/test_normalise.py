"""The normalised forms behind phone storage and duplicate detection (patients/normalise.py)."""

from __future__ import annotations

import pytest

from patients.normalise import (
    InvalidPhone,
    name_key,
    phone_e164,
    phone_e164_or_none,
    phone_search_keys,
)


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("010-1234-5678", "KR", "+821012345678"),  # national form at a Korean clinic
        ("01012345678", "KR", "+821012345678"),
        ("+82 10 1234 5678", "KR", "+821012345678"),
        ("+82-10-1234-5678", "US", "+821012345678"),  # a country code wins over the region
        ("0082 10 1234 5678", "KR", "+821012345678"),  # "00" international prefix
        ("0082 10 1234 5678", "US", "+821012345678"),
        ("011 82 10 1234 5678", "US", "+821012345678"),  # the US international prefix
        ("０１０－１２３４－５６７８", "KR", "+821012345678"),  # full-width digits
        ("(212) 555-0123", "US", "+12125550123"),
        ("212.555.0123", "US", "+12125550123"),
        ("+1 212 555 0123", "KR", "+12125550123"),
        ("  ", "KR", ""),
        ("", "US", ""),
    ],
)
def test_a_valid_number_is_stored_in_e164(typed, region, e164):
    assert phone_e164(typed, region=region) == e164


@pytest.mark.parametrize(
    ("typed", "region"),
    [
        ("abc", "KR"),
        ("1", "KR"),
        ("12", "US"),
        ("010-1234", "KR"),  # too short
        ("010-1234-5678-9999", "KR"),  # too long
        ("+1 555 0000", "US"),  # not a number of the US plan
        ("1-800-FLOWERS", "US"),  # letters are not guessed into digits
        ("010-1234-5678 ext. 12", "KR"),  # an extension cannot take an SMS
        ("010 1234 5678", "US"),  # a Korean national number read at a US clinic
    ],
)
def test_an_invalid_number_is_refused_with_an_example_of_the_clinics_country(typed, region):
    with pytest.raises(InvalidPhone) as refused:
        phone_e164(typed, region=region)
    example = {"KR": "010-2000-0000", "US": "(201) 555-0123"}[region]
    assert "not a valid phone number" in str(refused.value)
    assert example in str(refused.value)
    assert phone_e164_or_none(typed, region=region) is None


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("Min-ji", "Kim"), (" MIN JI ", "kim")),  # case, spacing, hyphen
        (("Minji", "Kim"), ("Kim", "Minji")),  # first and last swapped
        (("José", "Núñez"), ("Nunez", "jose")),  # accents, and swapped
        (("Zoë", "O'Brien"), ("zoe", "OBRIEN")),
        (("민지", "김"), ("김", "민지")),  # Hangul, family name first or last
        (("민지", "김"), ("김민지", "")),  # the whole Hangul name in one field
        (("", "김 민지"), ("민지", "김")),
        (("ＭＩＮＪＩ", "ＫＩＭ"), ("minji", "kim")),  # full-width letters
        (("Straße", "Ahn"), ("STRASSE", "ahn")),  # case folding, not just lowering
    ],
)
def test_the_same_name_written_differently_has_one_key(one, other):
    assert name_key(*one) == name_key(*other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("Minji", "Kim"), ("Minjee", "Kim")),
        (("민지", "김"), ("지민", "김")),  # 김민지 is not 김지민
        (("Ana", "Lee"), ("Anna", "Lee")),
        (("Min", "Kim"), ("Kim", "Kim")),
    ],
)
def test_a_different_name_has_another_key(one, other):
    assert name_key(*one) != name_key(*other)


def test_the_name_key_fits_its_column_however_long_the_name():
    assert len(name_key("ﷺ" * 100, "x" * 100)) == 200


def test_a_search_by_a_national_number_also_looks_for_its_international_digits():
    assert phone_search_keys("010-1234-5678", regions={"KR"}) == {
        "01012345678",
        "821012345678",
    }
    # Part of a national number: the trunk 0 becomes the country code.
    assert "82101234" in phone_search_keys("010-1234", regions={"KR", "US"})
    assert phone_search_keys("5678", regions={"KR"}) == {"5678"}
    assert phone_search_keys("", regions={"KR"}) == set()
