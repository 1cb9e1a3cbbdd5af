"""For the members' auditors: the audit trail, its chain head, and the books' invariants.

`GET /audit-events` (auditor, admin): who did what, when, to which object, from where;
newest first, cursor-paginated, filtered by actor, action, object and date.
`GET /audit-events/head`: the chain's last `(seq, hash)`, to note in the committee's minutes.
`GET /verify` (auditor, admin): runs every invariant of `coopledger verify` over the
caller's organisation and returns the breaches (an empty list: the books hold).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field
from sqlalchemy import select

from app.core import audit, clock
from app.core import verify as invariants
from app.core.audit import AuditEvent
from app.core.deps import Caller, DbSession, Principal
from app.core.errors import ValidationFailed
from app.core.pagination import NOT_A_CURSOR, CursorParam, Limit, decode_cursor, encode_cursor
from app.core.roles import Role
from app.core.schemas import BusinessDate, Page, Schema

router = APIRouter(tags=["audit"])

Auditor = Annotated[Principal, Depends(Caller(Role.auditor, Role.admin))]


class AuditEventRead(Schema):
    id: str
    seq: int = Field(description="position in the organisation's hash chain, from 1")
    occurred_at: datetime
    actor: str = Field(description="user:<name>, key:<name> or cli")
    action: str = Field(description="e.g. receipt.post, journal.reverse, user.create")
    object_type: str
    object_id: str | None
    remote_addr: str | None = Field(description="the caller's address, if over HTTP")
    request_id: str | None = Field(description="the X-Request-Id of the request, to find its logs")
    details: dict[str, Any] | None
    prev_hash: str = Field(description="hash of the previous event (64 zeros for the first)")
    hash: str = Field(description="SHA-256 of prev_hash and this event's fields")


class ChainHeadRead(Schema):
    seq: int = Field(description="the number of events in the organisation's trail")
    hash: str = Field(description="the last event's hash: note it to detect a later rewrite")


class InvariantRead(Schema):
    name: str
    ok: bool
    breaches: list[str]


class VerifyRead(Schema):
    ok: bool = Field(description="true when every invariant holds")
    checked_at: datetime
    invariants: list[InvariantRead]


@router.get("/audit-events", response_model=Page[AuditEventRead])
def list_audit_events(
    session: DbSession,
    who: Auditor,
    actor: Annotated[str | None, Query(max_length=120, description="e.g. user:ana")] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. journal.post")] = None,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[
        BusinessDate | None,
        Query(
            alias="from", description="first day (the organisation's, in its time zone), inclusive"
        ),
    ] = None,
    to: Annotated[
        BusinessDate | None,
        Query(description="last day (the organisation's, in its time zone), inclusive"),
    ] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[AuditEventRead]:
    """The organisation's audit trail, newest first."""
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit + 1)
    if actor is not None:
        stmt = stmt.where(AuditEvent.actor == actor)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    if object_type is not None:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if from_ is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= clock.day_start(from_, who.time_zone))
    if to is not None:
        end = clock.day_start(to + timedelta(days=1), who.time_zone)
        stmt = stmt.where(AuditEvent.occurred_at < end)
    after = decode_cursor(cursor, 1)
    if after:
        seq = after[0]
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq < 2**63:
            raise ValidationFailed.field("cursor", NOT_A_CURSOR())
        stmt = stmt.where(AuditEvent.seq < seq)
    rows = list(session.scalars(stmt))
    page = rows[:limit]
    items = [
        AuditEventRead.model_validate(
            {c: getattr(e, c) for c in AuditEventRead.model_fields} | {"id": str(e.id)}
        )
        for e in page
    ]
    nxt = encode_cursor([page[-1].seq]) if len(rows) > limit else None
    return Page(items=items, next_cursor=nxt)


@router.get("/audit-events/head", response_model=ChainHeadRead)
def audit_chain_head(session: DbSession, who: Auditor) -> ChainHeadRead:
    """The last link of the trail. Auditors note it; `coopledger verify` checks the chain."""
    seq, last = audit.head(session, who.organisation_id)
    return ChainHeadRead(seq=seq, hash=last)


@router.get("/verify", response_model=VerifyRead)
def verify_books(session: DbSession, who: Auditor) -> VerifyRead:
    """Run every invariant of `coopledger verify` over this organisation's books and trail."""
    names = invariants.invariant_names()
    breaches = invariants.run(session, who.organisation_id)
    results = [
        InvariantRead(
            name=name,
            ok=not (found := [b.detail for b in breaches if b.invariant == name]),
            breaches=found,
        )
        for name in names
    ]
    return VerifyRead(ok=not breaches, checked_at=datetime.now(UTC), invariants=results)
