"""Idempotency keys: a retried request answers as the first one did, and writes nothing new.

The key is claimed by inserting its row in the same transaction as the work it guards, so
the key and the money commit together or not at all. A concurrent request with the same key
waits on that row's unique index (PostgreSQL) or on SQLite's write lock, then replays the
stored answer. A domain error (4xx) is stored too: a failed request retried fails the same.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.errors import (
    PROBLEM_MEDIA_TYPE,
    Conflict,
    DomainError,
    IdempotencyConflict,
    ValidationFailed,
)
from app.ledger.models import IdempotencyRecord

JSON_MEDIA_TYPE = "application/json"
REPLAY_HEADER = "Idempotency-Replayed"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Any unique string (1-255 printable characters). A retry with the same key "
        "and payload answers as the first request did and writes nothing; another payload is 409.",
    ),
]


def fingerprint(method: str, path: str, payload: Any) -> str:
    """SHA-256 of the request's method, path and canonical JSON payload."""
    body = json.dumps(jsonable_encoder(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def render(body: Any) -> bytes:
    if isinstance(body, BaseModel):
        return body.model_dump_json().encode()
    return json.dumps(jsonable_encoder(body), separators=(",", ":"), ensure_ascii=False).encode()


def _replay(record: IdempotencyRecord, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request; use a new key"
        )
    if record.status_code is None or record.response_body is None:  # pragma: no cover
        raise Conflict("a request with this Idempotency-Key is still in progress; retry shortly")
    return Response(
        record.response_body,
        status_code=record.status_code,
        media_type=record.content_type,
        headers={REPLAY_HEADER: "true"},
    )


def run_idempotent(
    session: Session,
    organisation_id: uuid.UUID,
    key: str | None,
    request_hash: str,
    operation: Callable[[], tuple[int, Any]],
) -> Response:
    """Run `operation` (returning status and body) at most once for this key."""
    if key is None:
        status, body = operation()
        return Response(render(body), status_code=status, media_type=JSON_MEDIA_TYPE)
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ValidationFailed.field("Idempotency-Key", "1-255 printable characters")

    def stored() -> IdempotencyRecord | None:
        return session.scalar(
            select(IdempotencyRecord)
            .where(
                IdempotencyRecord.organisation_id == organisation_id, IdempotencyRecord.key == key
            )
            .execution_options(populate_existing=True)
        )

    existing = stored()
    if existing is not None:
        return _replay(existing, request_hash)
    try:
        with session.begin_nested():
            session.execute(
                insert(IdempotencyRecord).values(
                    organisation_id=organisation_id, key=key, request_hash=request_hash
                )
            )
    except IntegrityError:
        # A concurrent request with this key committed first: answer as it did.
        existing = stored()
        if existing is None:  # pragma: no cover - it committed, so it is there
            raise Conflict("a request with this Idempotency-Key is in progress; retry") from None
        return _replay(existing, request_hash)

    try:
        with session.begin_nested():
            status, body = operation()
        content, media_type = render(body), JSON_MEDIA_TYPE
    except DomainError as exc:
        status, media_type = exc.status, PROBLEM_MEDIA_TYPE
        content = render(exc.to_problem())
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.organisation_id == organisation_id, IdempotencyRecord.key == key)
        .values(status_code=status, response_body=content, content_type=media_type)
    )
    return Response(content, status_code=status, media_type=media_type)
