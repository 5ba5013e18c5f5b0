"""The export cell guard (clinic/core/csvcells.py): what a spreadsheet would run as a formula
gets a leading apostrophe; everything else is exported as typed."""

from __future__ import annotations

import pytest

from clinic.core.csvcells import csv_safe


@pytest.mark.parametrize(
    ("typed", "exported"),
    [
        ("=1+1", "'=1+1"),
        ("+82 10", "'+82 10"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Kim", "Kim"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
    ],
)
def test_a_formula_start_gets_an_apostrophe_and_plain_text_stays(typed, exported):
    assert csv_safe(typed) == exported
