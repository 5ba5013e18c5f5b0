"""Cells of the CSV exports (triage reactions, recall lists), safe to open in a spreadsheet."""

from __future__ import annotations

from typing import Any

# A cell starting with one of these is read as a formula (or, for tab and carriage return,
# lets the next character start one) by Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> str:
    """`value` as text, with a leading apostrophe when it could run as a formula (CSV/formula
    injection, OWASP). Every free-text cell of an export goes through this."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
