"""The JSON form of a batch: the `json` download and the body `http_json` pushes.

    {"batch": {"id", "reference", "kind", "organisation", "fund_code", "currency", "through",
               "created_at", "line_count", "control_sum"},
     "lines": [{"end_to_end_id", "member_id", "member_number", "affiliation_number",
                "full_name", "national_id", "period_start", "period_end", "amount"}, ...]}

Affiliation lines are `{"line_number", "member_id", "member_number", "full_name",
"national_id", "phone", "joined_on"}`. Amounts are decimal strings in the batch currency.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from app.funds.adapters import _text
from app.funds.registry import AffiliationRequest, BatchDocument, ContributionLine

MEDIA_TYPE = "application/json"


def header_object(document: BatchDocument) -> dict[str, Any]:
    head = document.header
    out: dict[str, Any] = {
        "id": str(head.batch_id),
        "reference": head.reference,
        "kind": head.kind,
        "organisation": head.organisation_code,
        "fund_code": head.fund_code,
        "currency": head.currency,
        "through": head.through.isoformat() if head.through else None,
        "created_at": head.created_at.isoformat(),
        "line_count": head.line_count,
    }
    if head.kind == "remittance":
        out["control_sum"] = _text.amount(head.control_sum, head.currency)
    return out


def line_object(line: Any, currency: str) -> dict[str, Any]:
    if isinstance(line, ContributionLine):
        return {
            "end_to_end_id": line.end_to_end_id,
            "member_id": str(line.member_id),
            "member_number": line.member_number,
            "affiliation_number": line.affiliation_number,
            "full_name": line.full_name,
            "national_id": line.national_id,
            "period_start": line.period_start.isoformat(),
            "period_end": line.period_end.isoformat(),
            "amount": _text.amount(line.amount, currency),
        }
    if isinstance(line, AffiliationRequest):
        return {
            "line_number": line.line_number,
            "member_id": str(line.member_id),
            "member_number": line.member_number,
            "full_name": line.full_name,
            "national_id": line.national_id,
            "phone": line.phone,
            "joined_on": line.joined_on.isoformat(),
        }
    raise TypeError(f"not a batch line: {type(line).__name__}")


def render(document: BatchDocument, config: dict[str, Any] | None = None) -> Iterator[bytes]:
    """The batch as one JSON object, streamed in chunks."""
    currency = document.header.currency
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    yield ('{"batch":' + dumps(header_object(document)) + ',"lines":[').encode()
    parts: list[str] = []
    first = True
    for line in document.lines():
        parts.append(("" if first else ",") + dumps(line_object(line, currency)))
        first = False
        if len(parts) >= _text.CHUNK_LINES:
            yield "".join(parts).encode()
            parts = []
    parts.append("]}")
    yield "".join(parts).encode()
