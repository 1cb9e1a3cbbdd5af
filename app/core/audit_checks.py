"""`coopledger verify`: the audit trail is an unbroken hash chain, for every organisation.

Recomputes every event's hash from its stored fields and its predecessor's hash, streaming
the events in `seq` order (memory stays flat however long the trail). Reports:
- an edited event (its stored hash is not the hash of its fields),
- a deleted or inserted event (a gap or a repeat in `seq`, or a `prev_hash` that is not
  the previous event's hash),
- a truncated trail (the chain head names a later event than the last one stored),
- an organisation whose events have no chain head.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.audit import (
    GENESIS_HASH,
    HASHED_FIELDS,
    AuditChainHead,
    AuditEvent,
    event_hash,
)
from app.core.verify import invariant

LIMIT = 20  # breaches listed; one is already a failure
_COLUMNS = [getattr(AuditEvent, name) for name in HASHED_FIELDS]


def _heads(session: Session, org: uuid.UUID | None) -> dict[uuid.UUID, tuple[int, str]]:
    stmt = select(AuditChainHead.organisation_id, AuditChainHead.seq, AuditChainHead.hash)
    if org is not None:
        stmt = stmt.where(AuditChainHead.organisation_id == org)
    return {o: (int(s), str(h)) for o, s, h in session.execute(stmt)}


@invariant("the audit trail is an unbroken hash chain")
def audit_chain_unbroken(session: Session, org: uuid.UUID | None) -> list[str]:
    heads = _heads(session, org)
    stmt = select(*_COLUMNS, AuditEvent.prev_hash, AuditEvent.hash).order_by(
        AuditEvent.organisation_id, AuditEvent.seq, AuditEvent.id
    )
    if org is not None:
        stmt = stmt.where(AuditEvent.organisation_id == org)
    out: list[str] = []
    current: uuid.UUID | None = None
    expected_seq, last_hash = 1, GENESIS_HASH
    seen: set[uuid.UUID] = set()

    def close_chain(o: uuid.UUID, last_seq: int, last: str) -> None:
        head = heads.get(o)
        if head is None:
            out.append(f"organisation {o}: audit events but no chain head")
        elif head != (last_seq, last):
            out.append(
                f"organisation {o}: chain head is event {head[0]}, the last event stored is "
                f"{last_seq} (events deleted from the end, or the head was changed)"
            )

    rows: Any = session.execute(stmt.execution_options(yield_per=5000))
    for row in rows:
        fields = dict(zip(HASHED_FIELDS, row[: len(HASHED_FIELDS)], strict=True))
        prev_hash, stored_hash = row[-2], row[-1]
        o = fields["organisation_id"]
        if o != current:
            if current is not None:
                close_chain(current, expected_seq - 1, last_hash)
            current, expected_seq, last_hash = o, 1, GENESIS_HASH
            seen.add(o)
        seq = fields["seq"]
        where = f"organisation {o}, event {seq} ({fields['id']})"
        if seq != expected_seq:
            what = "missing (deleted)" if seq > expected_seq else "repeated (inserted)"
            out.append(f"{where}: expected event {expected_seq}; event(s) {what}")
        if prev_hash != last_hash:
            out.append(f"{where}: does not link to the previous event (inserted or reordered)")
        if event_hash(prev_hash, fields) != stored_hash:
            out.append(f"{where}: its fields do not match its hash (edited)")
        expected_seq, last_hash = seq + 1, stored_hash
        if len(out) >= LIMIT:
            return out[:LIMIT]
    if current is not None:
        close_chain(current, expected_seq - 1, last_hash)
    for o, (seq, _h) in sorted(heads.items()):
        if o not in seen and seq != 0:
            out.append(f"organisation {o}: chain head is event {seq} but no event is stored")
    return out[:LIMIT]
