"""CSV cells that a spreadsheet cannot run as formulas ("CSV injection", OWASP).

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula (`=cmd|' /C calc'!A0`, `+SUM(A1)`,
`@HYPERLINK(...)`), so text a member typed could run on the treasurer's or the fund's
machine. `safe_cell` puts an apostrophe in front of such a cell, which spreadsheets show as
text and do not display. A plain number (`-12.50`) is left alone: it is not a formula, and a
negative amount must stay a number. Every CSV the service writes passes its text cells
through here: the web's report downloads (`app/web/csvfile.py`) and the fund adapter's batch
file (`app/funds/adapters/csv_file.py`).
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def safe_cell(value: Any) -> str:
    """The cell's text, with a leading apostrophe if a spreadsheet would run it."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
