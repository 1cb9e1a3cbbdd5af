"""Idempotency keys: a retried request answers as the first one did, and writes nothing new.

A key belongs to the caller who sent it (a user or an API key), as in Stripe's API and the
IETF idempotency-key draft: the record is keyed on (organisation, caller, key), so the same
key from another caller of the organisation is another request, never a replay of someone
else's answer. Keys stored before migration 0011 have no known caller (`LEGACY_CALLER`):
they still answer a retry from any caller of their organisation, so a request sent before
the upgrade and retried after it is never posted twice.

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
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import ForeignKey, LargeBinary, String, exists, literal, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core import dialect
from app.core.database import Base, utcnow
from app.core.errors import (
    PROBLEM_MEDIA_TYPE,
    Conflict,
    DomainError,
    IdempotencyConflict,
    ValidationFailed,
)
from app.core.messages import N_, Template

JSON_MEDIA_TYPE = "application/json"
REPLAY_HEADER = "Idempotency-Replayed"


class IdempotencyRecord(Base):
    """The first answer to a request made with an Idempotency-Key, kept to answer retries.

    A key belongs to the caller who sent it (a user or an API key), as in Stripe's API and
    the IETF idempotency-key draft: the same key from another caller is another request.
    """

    __tablename__ = "idempotency_record"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id"), primary_key=True
    )
    caller: Mapped[str] = mapped_column(
        String(64),
        primary_key=True,
        comment="who sent the key: user:<id> or key:<id>; '' for a key from before "
        "migration 0011 (any caller of the organisation)",
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), comment="SHA-256 of method, path, body")
    status_code: Mapped[int | None] = mapped_column(comment="null while the first request runs")
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_type: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Any unique string (1-255 printable characters), unique per caller: a key "
        "belongs to the user or API key that sent it. A retry by the same caller with the same "
        "key and payload answers as the first request did, byte for byte, and writes nothing; "
        "the same key with another payload is 409. The same key sent by another caller is a "
        "different request (it never answers with another caller's result).",
    ),
]

LEGACY_CALLER = ""
"""The caller of a key stored before keys were per caller (migration 0011): unknown, so such
a key answers any caller of its organisation (a retry across the upgrade never posts twice)."""


class IdempotencyCaller(Protocol):
    """Who sends a key: `app.core.deps.Principal` is one (a user or an API key)."""

    @property
    def organisation_id(self) -> uuid.UUID: ...

    @property
    def subject_kind(self) -> str: ...

    @property
    def subject_id(self) -> uuid.UUID: ...


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """A caller for code that runs without a request (the CLI, jobs, tests)."""

    organisation_id: uuid.UUID
    subject_kind: str
    subject_id: uuid.UUID


KEY_REUSED = Template(
    "idempotency.key_reused",
    N_("this Idempotency-Key was already used with a different request; use a new key"),
)
STILL_IN_PROGRESS = Template(
    "idempotency.still_in_progress",
    N_("a request with this Idempotency-Key is still in progress; retry shortly"),
)
IN_PROGRESS = Template(
    "idempotency.in_progress", N_("a request with this Idempotency-Key is in progress; retry")
)
BAD_KEY = Template("idempotency.bad_key", N_("1-255 printable characters"))


def caller_of(who: IdempotencyCaller) -> str:
    """The caller as stored with its keys: `user:<id>` or `key:<id>`."""
    if not who.subject_kind:  # never file a key under the legacy, organisation-wide caller
        raise ValueError("an idempotency key needs a known caller")
    return f"{who.subject_kind}:{who.subject_id}"


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
        raise IdempotencyConflict(KEY_REUSED())
    if record.status_code is None or record.response_body is None:  # pragma: no cover
        raise Conflict(STILL_IN_PROGRESS())
    return Response(
        record.response_body,
        status_code=record.status_code,
        media_type=record.content_type,
        headers={REPLAY_HEADER: "true"},
    )


def run_idempotent(
    session: Session,
    who: IdempotencyCaller,
    key: str | None,
    request_hash: str,
    operation: Callable[[], tuple[int, Any]],
    *,
    savepoint: bool = True,
) -> Response:
    """Run `operation` (returning status and body) at most once for this caller's key.

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
        raise ValidationFailed.field("Idempotency-Key", BAD_KEY())
    scope = _Scope(who.organisation_id, caller_of(who), key)

    if not _claim(session, scope, request_hash):
        # A request with this key committed first (or we waited for it to): answer as it did.
        return _replay(_stored(session, scope), request_hash)

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
            if not _claim(session, scope, request_hash):
                return _replay(_stored(session, scope), request_hash)
    _store(session, scope, status, content, media_type)
    return Response(content, status_code=status, media_type=media_type)


@dataclass(frozen=True, slots=True)
class _Scope:
    organisation_id: uuid.UUID
    caller: str
    key: str

    def params(self) -> dict[str, Any]:
        return {"org": self.organisation_id, "caller": self.caller, "key": self.key}


def _claim(session: Session, scope: _Scope, request_hash: str) -> bool:
    """Insert the key's row (in this transaction); False if a request holds the key already:
    this caller's, or one from before keys were per caller (`LEGACY_CALLER`)."""
    now = utcnow()
    if dialect.is_postgres(session):
        values = {**scope.params(), "hash": request_hash, "now": now, "legacy": LEGACY_CALLER}
        return dialect.run(session, _CLAIM_PG, values).fetchone() is not None
    record = IdempotencyRecord
    legacy = exists().where(
        record.organisation_id == scope.organisation_id,
        record.caller == LEGACY_CALLER,
        record.key == scope.key,
    )
    row = select(
        literal(scope.organisation_id, record.organisation_id.type),
        literal(scope.caller, record.caller.type),
        literal(scope.key, record.key.type),
        literal(request_hash, record.request_hash.type),
        literal(now, record.created_at.type),
    ).where(~legacy)
    stmt = (
        sqlite_insert(record)
        .from_select(["organisation_id", "caller", "key", "request_hash", "created_at"], row)
        .on_conflict_do_nothing()
        .returning(record.key)
    )
    return session.execute(stmt).first() is not None


_CLAIM_PG = (
    "INSERT INTO idempotency_record (organisation_id, caller, key, request_hash, created_at) "
    "SELECT %(org)s::uuid, %(caller)s::varchar, %(key)s::varchar, %(hash)s::varchar, "
    "%(now)s::timestamptz WHERE NOT EXISTS ("
    "SELECT 1 FROM idempotency_record WHERE organisation_id = %(org)s::uuid "
    "AND caller = %(legacy)s::varchar AND key = %(key)s::varchar) "
    "ON CONFLICT DO NOTHING RETURNING key"
)
_STORE_PG = (
    "UPDATE idempotency_record SET status_code = %(status)s, response_body = %(body)s, "
    "content_type = %(type)s "
    "WHERE organisation_id = %(org)s AND caller = %(caller)s AND key = %(key)s"
)


def _stored(session: Session, scope: _Scope) -> IdempotencyRecord:
    """The caller's record of this key, or else one from before keys were per caller."""
    found = session.scalar(
        select(IdempotencyRecord)
        .where(
            IdempotencyRecord.organisation_id == scope.organisation_id,
            IdempotencyRecord.caller.in_([scope.caller, LEGACY_CALLER]),
            IdempotencyRecord.key == scope.key,
        )
        .order_by(IdempotencyRecord.caller.desc())  # the caller's own first ('' sorts last)
        .limit(1)
        .execution_options(populate_existing=True)
    )
    if found is None:  # pragma: no cover - the unique index said it exists
        raise Conflict(IN_PROGRESS())
    return found


def _store(session: Session, scope: _Scope, status: int, content: bytes, media_type: str) -> None:
    if dialect.is_postgres(session):
        dialect.run(
            session,
            _STORE_PG,
            {**scope.params(), "status": status, "body": content, "type": media_type},
        )
        return
    session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.organisation_id == scope.organisation_id,
            IdempotencyRecord.caller == scope.caller,
            IdempotencyRecord.key == scope.key,
        )
        .values(status_code=status, response_body=content, content_type=media_type)
    )
