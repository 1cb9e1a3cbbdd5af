"""The `csv` fund adapter: a file with a header record, one record per line, a trailer.

Layout (docs/remittances.md), with the fund's delimiter (`,` by default, or `;`):

    HEADER,<reference>,<organisation>,<fund>,<currency>,<through>,<created_at>
    record,end_to_end_id,member_number,affiliation_number,full_name,national_id,period_start,period_end,amount
    LINE,RB000001-000001,M-0001,AFF-1,Ana Pérez,001-1234567-8,2026-11-01,2026-11-30,150.00
    TRAILER,<line_count>,<control_sum>

An affiliation batch has the columns
`record,line_number,member_id,member_number,full_name,national_id,phone,joined_on` and a
trailer `TRAILER,<line_count>`.

Text cells (names, numbers members or funds chose, national ids, phones, codes) go through
`app.core.csvsafe.safe_cell`: one a spreadsheet would run as a formula (`=cmd|' /C calc'!A0`,
`+SUM(A1)`) gets a leading apostrophe. Amounts, dates and counts are written as they are: a
negative amount stays a number and the trailer's control sum is the sum of the lines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from app.core.csvsafe import safe_cell
from app.funds.adapters import _config, _text
from app.funds.registry import AffiliationRequest, BatchDocument, ContributionLine, Delivery

MEDIA_TYPE = "text/csv; charset=utf-8"

REMITTANCE_COLUMNS = [
    "record",
    "end_to_end_id",
    "member_number",
    "affiliation_number",
    "full_name",
    "national_id",
    "period_start",
    "period_end",
    "amount",
]
AFFILIATION_COLUMNS = [
    "record",
    "line_number",
    "member_id",
    "member_number",
    "full_name",
    "national_id",
    "phone",
    "joined_on",
]


def render(document: BatchDocument, config: dict[str, Any] | None = None) -> Iterator[bytes]:
    """The batch as CSV, in chunks of bytes."""
    delimiter = (config or {}).get("delimiter", ",")
    head = document.header
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")

    def take() -> bytes:
        data = buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        return data

    writer.writerow(
        [
            "HEADER",
            safe_cell(head.reference),
            safe_cell(head.organisation_code),
            safe_cell(head.fund_code),
            safe_cell(head.currency),
            head.through.isoformat() if head.through else "",
            head.created_at.isoformat(),
        ]
    )
    affiliation = head.kind == "affiliation"
    writer.writerow(AFFILIATION_COLUMNS if affiliation else REMITTANCE_COLUMNS)
    for n, line in enumerate(document.lines(), start=1):
        if isinstance(line, ContributionLine):
            writer.writerow(
                [
                    "LINE",
                    safe_cell(line.end_to_end_id),
                    safe_cell(line.member_number),
                    safe_cell(line.affiliation_number),
                    safe_cell(_text.clean(line.full_name, 200)),
                    safe_cell(line.national_id),
                    line.period_start.isoformat(),
                    line.period_end.isoformat(),
                    _text.amount(line.amount, head.currency),
                ]
            )
        elif isinstance(line, AffiliationRequest):
            writer.writerow(
                [
                    "LINE",
                    line.line_number,
                    str(line.member_id),
                    safe_cell(line.member_number),
                    safe_cell(_text.clean(line.full_name, 200)),
                    safe_cell(line.national_id),
                    safe_cell(line.phone),
                    line.joined_on.isoformat(),
                ]
            )
        if n % _text.CHUNK_LINES == 0:
            yield take()
    if affiliation:
        writer.writerow(["TRAILER", head.line_count])
    else:
        writer.writerow(["TRAILER", head.line_count, _text.amount(head.control_sum, head.currency)])
    yield take()


class CsvAdapter:
    """Exports a batch in the documented CSV layout; the fund office downloads the file."""

    name = "csv"

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = config or {}
        _config.reject_unknown(config, ("delimiter",))
        out = _config.common(config)
        out["delimiter"] = _config.choice(config, "delimiter", ",", (",", ";"))
        return out

    def deliver(self, document: BatchDocument, config: dict[str, Any]) -> Delivery:
        return Delivery("awaiting_download")
