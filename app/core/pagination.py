"""Opaque cursors for keyset pagination: `?limit=` (1-500, default 50) and `?cursor=`."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Query

from app.core.errors import ValidationFailed
from app.core.messages import N_, Template

Limit = Annotated[int, Query(ge=1, le=500, description="page size (default 50, max 500)")]
CursorParam = Annotated[str | None, Query(max_length=512, description="from the previous page")]

NOT_A_CURSOR = Template("cursor.unknown", N_("not a cursor this list returned"))
"""A `cursor` this list did not give: every list that reads its own cursors says this."""


def _enc(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _dec(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        if tag == "u":
            return uuid.UUID(text)
        if tag == "t":
            return datetime.fromisoformat(text)
        if tag == "d":
            return date.fromisoformat(text)
    return value


def encode_cursor(values: tuple[Any, ...] | list[Any]) -> str:
    raw = json.dumps([_enc(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> tuple[Any, ...] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError
        return tuple(_dec(v) for v in values)
    except (ValueError, TypeError, UnicodeDecodeError, AttributeError):
        raise ValidationFailed.field("cursor", NOT_A_CURSOR()) from None
