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
from sqlalchemy import select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.core.database import utcnow
from app.core.errors import (
    PROBLEM_MEDIA_TYPE,
    Conflict,
    DomainError,
    IdempotencyConflict,
    ValidationFailed,
)
from app.ledger import sql
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
    try:  # a payload already in JSON form (model_dump(mode="json")) needs no encoder pass
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    except TypeError:
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
    *,
    savepoint: bool = True,
) -> Response:
    """Run `operation` (returning status and body) at most once for this key.

    The key is claimed with one `INSERT ... ON CONFLICT DO NOTHING`: a concurrent request
    with the same key waits on the unique index until the first commits, then finds its
    row and replays the answer. A domain error (4xx) is stored as the answer: by default the
    operation runs in a savepoint that the error rolls back. With `savepoint=False` (for an
    operation that writes nothing before it calls this and may leave writes behind when it
    fails) the whole transaction is rolled back instead and the error stored in a new one,
    which saves the savepoint's two round trips on every request that succeeds.
    """
    if key is None:
        status, body = operation()
        return Response(render(body), status_code=status, media_type=JSON_MEDIA_TYPE)
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ValidationFailed.field("Idempotency-Key", "1-255 printable characters")

    if not _claim(session, organisation_id, key, request_hash):
        # A request with this key committed first (or we waited for it to): answer as it did.
        return _replay(_stored(session, organisation_id, key), request_hash)

    try:
        if savepoint:
            with session.begin_nested():
                status, body = operation()
        else:
            status, body = operation()
        content, media_type = render(body), JSON_MEDIA_TYPE
    except DomainError as exc:
        status, media_type = exc.status, PROBLEM_MEDIA_TYPE
        content = render(exc.to_problem())
        if not savepoint:
            session.rollback()  # everything the operation wrote, and the claim
            if not _claim(session, organisation_id, key, request_hash):
                return _replay(_stored(session, organisation_id, key), request_hash)
    _store(session, organisation_id, key, status, content, media_type)
    return Response(content, status_code=status, media_type=media_type)


def _claim(session: Session, organisation_id: uuid.UUID, key: str, request_hash: str) -> bool:
    """Insert the key's row (in this transaction); False if another request holds the key."""
    values = {"org": organisation_id, "key": key, "hash": request_hash, "now": utcnow()}
    if sql.is_postgres(session):
        return sql.run(session, _CLAIM_PG, values).fetchone() is not None
    stmt = (
        sqlite_insert(IdempotencyRecord)
        .values(
            organisation_id=organisation_id,
            key=key,
            request_hash=request_hash,
            created_at=values["now"],
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    return session.execute(stmt).first() is not None


_CLAIM_PG = (
    "INSERT INTO idempotency_record (organisation_id, key, request_hash, created_at) "
    "VALUES (%(org)s, %(key)s, %(hash)s, %(now)s) ON CONFLICT DO NOTHING RETURNING key"
)
_STORE_PG = (
    "UPDATE idempotency_record SET status_code = %(status)s, response_body = %(body)s, "
    "content_type = %(type)s WHERE organisation_id = %(org)s AND key = %(key)s"
)


def _stored(session: Session, organisation_id: uuid.UUID, key: str) -> IdempotencyRecord:
    found = session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.organisation_id == organisation_id, IdempotencyRecord.key == key)
        .execution_options(populate_existing=True)
    )
    if found is None:  # pragma: no cover - the unique index said it exists
        raise Conflict("a request with this Idempotency-Key is in progress; retry")
    return found


def _store(
    session: Session,
    organisation_id: uuid.UUID,
    key: str,
    status: int,
    content: bytes,
    media_type: str,
) -> None:
    if sql.is_postgres(session):
        sql.run(
            session,
            _STORE_PG,
            {
                "status": status,
                "body": content,
                "type": media_type,
                "org": organisation_id,
                "key": key,
            },
        )
        return
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.organisation_id == organisation_id, IdempotencyRecord.key == key)
        .values(status_code=status, response_body=content, content_type=media_type)
    )
