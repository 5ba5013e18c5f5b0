"""Normalised forms of what staff type about a patient: the phone number in E.164, and the
keys that spot a likely duplicate however a name or number was written.

Pure functions (no models), so the data migration that normalises existing rows uses the very
same rules as every new entry.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import phonenumbers
from django.utils.translation import gettext

# What a phone number may be written with: digits, a leading + and the usual separators.
# Anything else ("abc", "ext. 12", vanity letters) is refused rather than guessed at.
_PHONE_CHARS = re.compile(r"[\d\s+()\-./]*")
_NAME_NOISE = re.compile(r"[\s\-'.·‧・,]")
NAME_KEY_LENGTH = 200


class InvalidPhone(ValueError):
    """The text is not a valid phone number; the message says what to enter instead."""


def _example(region: str) -> str:
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if number is None:
        return "+82 10 1234 5678"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if number.extension or not phonenumbers.is_valid_number(number):
        return None
    return number


def phone_e164(raw: str, *, region: str) -> str:
    """`raw` as E.164 ("+821012345678"), or "" when blank; raises InvalidPhone.

    A number without a country code is read in `region` (the clinic's country): at a Korean
    clinic "010-1234-5678" is +821012345678. "+82 …" and the international "0082 …" are
    read as written. Only numbers valid in their country's numbering plan are accepted.
    """
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text:
        return ""
    region = (region or "").upper() or None
    number = None
    if _PHONE_CHARS.fullmatch(text) and sum(c.isdigit() for c in text) >= 3:
        number = _parse(text, region)
        digits = re.sub(r"\D", "", text)
        if number is None and not text.startswith("+") and digits.startswith("00"):
            # "00" is the international prefix in most of the world (but not in every
            # region's metadata: Korea lists carrier codes 001, 002, ...).
            number = _parse("+" + digits[2:], None)
    if number is None:
        example = _example(region) if region else "+82 10 1234 5678"
        raise InvalidPhone(
            gettext(
                "This is not a valid phone number. Enter a mobile number such as %(example)s, "
                "or start with + and the country code."
            )
            % {"example": example}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_e164_or_none(raw: str, *, region: str) -> str | None:
    """`raw` as E.164 when it is a valid number, else None (for matching, never for storing)."""
    try:
        return phone_e164(raw, region=region) or None
    except InvalidPhone:
        return None


def phone_key(phone: str) -> str:
    """The digits of a stored phone number: its E.164 form without the +, an indexed column
    for matching (duplicates, an SMS STOP reply from the provider's +E.164 sender)."""
    return re.sub(r"\D", "", phone or "")


def phone_search_keys(raw: str, *, regions: Iterable[str]) -> set[str]:
    """Digit strings to look for inside stored phone keys when staff search by (part of) a
    number: the digits as typed and, for a number written in national form ("010-1234…"),
    the same digits behind each region's country code ("82101234…")."""
    digits = phone_key(raw)
    if not digits:
        return set()
    keys = {digits}
    for region in regions:
        if not region:
            continue
        full = phone_e164_or_none(raw, region=region)
        if full:
            keys.add(phone_key(full))
            continue
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
        prefix = metadata.national_prefix if metadata else None
        if prefix and digits.startswith(prefix) and len(digits) > len(prefix):
            code = phonenumbers.country_code_for_region(region.upper())
            keys.add(f"{code}{digits[len(prefix) :]}")
    return keys


def name_part(text: str) -> str:
    """One name field folded for comparison: accents dropped (NFKD, no combining marks), case
    folded, spaces and joining punctuation removed ("Min-ji" = "MIN JI" = "minji")."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    # NFC puts Hangul syllables back together (NFKD splits 김 into its jamo).
    return _NAME_NOISE.sub("", unicodedata.normalize("NFC", bare).casefold())


def name_key(first_name: str, last_name: str) -> str:
    """A key equal for the same name however it was written into the two fields.

    Each field is folded (`name_part`); the two are joined shorter first (then in text order),
    so swapped fields give the same key: "Minji"/"Kim" = "Kim"/"Minji" = "kimminji". For a
    Korean name that puts the one-syllable family name first, as Koreans write it, so
    "민지"/"김", "김"/"민지" and the whole "김민지" typed in one field all give "김민지".
    """
    parts = sorted((name_part(first_name), name_part(last_name)), key=lambda p: (len(p), p))
    return "".join(parts)[:NAME_KEY_LENGTH]
