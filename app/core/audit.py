"""The audit trail: who did what, to which object, when and from where; tamper-evident.

Each organisation's events form a hash chain: event n stores `seq = n`, the hash of event
n-1 (`prev_hash`) and its own `hash = SHA-256(prev_hash, canonical JSON of its fields)`.
`audit_chain_head` holds each organisation's last `seq` and `hash`. `coopledger verify`
recomputes the chain, so an edited row (its hash no longer matches), a deleted row (a gap
in `seq`, or a head past the last event) or an inserted row (a broken link) is reported.
The database also refuses UPDATE and DELETE of an event (triggers, migration 0005).

Cheap and safe under concurrency: `record()` only queues the event in the session; the
queue is chained and inserted just before the transaction commits, in one multi-row
INSERT, after locking the organisation's head row (one UPDATE ... RETURNING). The lock is
held only from then until COMMIT, so concurrent receipts queue on it for microseconds,
never for a whole request. Events recorded inside a savepoint that rolls back are
dropped with it; a transaction that rolls back records nothing.

What the chain cannot show by itself: someone with write access to the database who
rewrites every hash from the edited row to the end, and the head. Against that, auditors
note the head (`GET /api/v1/audit-events/head`) in their minutes; a later head whose
chain does not pass through the noted `(seq, hash)` shows the rewrite.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from app.core import dialect, metrics
from app.core.database import Base, OrgScoped, bound_organisation, utcnow
from app.core.ids import uuid7

GENESIS_HASH = "0" * 64
"""The `prev_hash` of an organisation's first event."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: `user:ana`, `key:union app`, `cli`; and from where."""

    name: str
    remote_addr: str | None = None
    request_id: str | None = None


CLI_ACTOR = Actor("cli")


class AuditEvent(OrgScoped, Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_org_occurred", "organisation_id", "occurred_at"),
        UniqueConstraint("organisation_id", "seq"),
    )

    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(120), comment="user:<name>, key:<name> or cli")
    action: Mapped[str] = mapped_column(String(64), comment="e.g. journal.post, user.create")
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    seq: Mapped[int] = mapped_column(comment="position in the organisation's hash chain, from 1")
    prev_hash: Mapped[str] = mapped_column(
        String(64),
        comment="hash of the previous event of the organisation (64 zeros for the first)",
    )
    hash: Mapped[str] = mapped_column(
        String(64), comment="SHA-256 of prev_hash and this event's fields (see app/core/audit.py)"
    )


class AuditChainHead(Base):
    """The last link of each organisation's audit chain; its row lock orders appends."""

    __tablename__ = "audit_chain_head"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(comment="seq of the organisation's last event (0: none)")
    hash: Mapped[str] = mapped_column(String(64), comment="hash of that event")


# -- hashing ------------------------------------------------------------------------------------

HASHED_FIELDS = (
    "organisation_id",
    "id",
    "seq",
    "occurred_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "remote_addr",
    "request_id",
    "details",
)


def _canonical(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the previous hash and the canonical JSON of an event's fields."""
    payload = json.dumps(
        {name: _canonical(fields.get(name)) for name in HASHED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()


# -- recording ----------------------------------------------------------------------------------

_QUEUE = "audit.queued"


@dataclass(slots=True)
class _Queued:
    values: dict[str, Any]
    transaction: SessionTransaction | None  # the savepoint it was recorded in, if any


def _clip(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction (it commits with the change it records).

    The event is chained and written when the transaction commits; the returned object
    carries its fields (not its `seq` or `hash`, which are set at commit).
    """
    org = bound_organisation(session)
    if org is None:
        raise RuntimeError("audit events need a session bound to an organisation")
    values: dict[str, Any] = {
        "organisation_id": org,
        "id": uuid7(),
        "occurred_at": utcnow(),
        "actor": _clip(actor.name, 120),
        "action": _clip(action, 64),
        "object_type": _clip(object_type, 64),
        "object_id": None if object_id is None else _clip(str(object_id), 64),
        "remote_addr": _clip(actor.remote_addr, 64),
        "request_id": _clip(actor.request_id, 64),
        # what is hashed is what the database gives back: plain JSON values
        "details": None if details is None else json.loads(json.dumps(details, default=str)),
    }
    session.info.setdefault(_QUEUE, []).append(_Queued(values, session.get_nested_transaction()))
    return AuditEvent(**values)


def _lock_head(session: Session, org: uuid.UUID) -> tuple[int, str]:
    """The organisation's chain head, locked until commit (created on first use)."""
    stmt = dialect.insert_on_conflict(session)(AuditChainHead).values(
        organisation_id=org, seq=0, hash=GENESIS_HASH
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["organisation_id"], set_={"seq": AuditChainHead.seq}
    ).returning(AuditChainHead.seq, AuditChainHead.hash)
    seq, last = session.execute(stmt).one()
    return int(seq), str(last)


def append_queued(session: Session) -> None:
    """Chain and insert the events this transaction recorded (called just before commit)."""
    queued: list[_Queued] = session.info.pop(_QUEUE, None) or []
    if not queued:
        return
    by_org: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for item in queued:
        by_org[item.values["organisation_id"]].append(item.values)
    for org in sorted(by_org):  # one global order: two organisations never deadlock
        seq, last = _lock_head(session, org)
        rows = []
        for values in by_org[org]:
            seq += 1
            row = {**values, "seq": seq, "prev_hash": last}
            row["hash"] = last = event_hash(last, row)
            rows.append(row)
        session.execute(insert(AuditEvent), rows)
        metrics.count_after_commit(session, "audit_events", len(rows))
        session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.organisation_id == org)
            .values(seq=seq, hash=last)
        )


@event.listens_for(Session, "before_commit")
def _append_before_commit(session: Session) -> None:
    # also fired when a savepoint is released: the chain is written once, at the real commit
    if not session.in_nested_transaction():
        append_queued(session)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    queued: list[_Queued] | None = session.info.get(_QUEUE)
    if not queued:
        return
    if not previous.nested:
        session.info.pop(_QUEUE, None)
        return

    def inside(tx: SessionTransaction | None) -> bool:
        while tx is not None:
            if tx is previous:
                return True
            tx = tx.parent
        return False

    session.info[_QUEUE] = [q for q in queued if not inside(q.transaction)]


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    # a session closed without commit or rollback must not carry events into its next one
    if transaction.parent is None:
        session.info.pop(_QUEUE, None)


def head(session: Session, organisation_id: uuid.UUID) -> tuple[int, str]:
    """The organisation's chain head as committed: `(seq, hash)`, `(0, GENESIS_HASH)` if none."""
    row = session.execute(
        select(AuditChainHead.seq, AuditChainHead.hash).where(
            AuditChainHead.organisation_id == organisation_id
        )
    ).first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)
