"""Tamper-evident audit trail: each organisation's events chained by SHA-256; append-only.

Adds `seq`, `prev_hash` and `hash` to `audit_event`, the `audit_chain_head` table, chains
the events already there (per organisation, in the order they occurred), and makes the
database refuse UPDATE and DELETE of an event.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 11:20:00.000000
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64
# Frozen copy of app.core.audit.event_hash as of this revision (a migration must not change
# meaning when the application does); tests check both agree.
_FIELDS = (
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


def _event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    payload = json.dumps(
        {name: _canonical(fields.get(name)) for name in _FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()


_events = sa.table(
    "audit_event",
    sa.column("organisation_id", sa.Uuid()),
    sa.column("id", sa.Uuid()),
    sa.column("occurred_at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("object_type", sa.String()),
    sa.column("object_id", sa.String()),
    sa.column("remote_addr", sa.String()),
    sa.column("request_id", sa.String()),
    sa.column("details", sa.JSON()),
    sa.column("seq", sa.BigInteger()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
_heads = sa.table(
    "audit_chain_head",
    sa.column("organisation_id", sa.Uuid()),
    sa.column("seq", sa.BigInteger()),
    sa.column("hash", sa.String()),
)

_PG_GUARDS = [
    """
    CREATE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
            USING ERRCODE = 'integrity_constraint_violation';
    END $$
    """,
    """
    CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change()
    """,
]
_SQLITE_GUARDS = [
    """
    CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE refused'); END
    """,
]


def _chain_existing_events() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_events).order_by(_events.c.organisation_id, _events.c.occurred_at, _events.c.id)
    ).mappings()
    last: dict[uuid.UUID, tuple[int, str]] = {}
    updates: list[dict[str, Any]] = []
    for row in rows:
        org = row["organisation_id"]
        seq, prev = last.get(org, (0, GENESIS_HASH))
        fields = dict(row) | {"seq": seq + 1}
        digest = _event_hash(prev, fields)
        last[org] = (seq + 1, digest)
        updates.append({"o": org, "i": row["id"], "s": seq + 1, "p": prev, "h": digest})
    if updates:
        bind.execute(
            sa.update(_events)
            .where(
                _events.c.organisation_id == sa.bindparam("o"), _events.c.id == sa.bindparam("i")
            )
            .values(seq=sa.bindparam("s"), prev_hash=sa.bindparam("p"), hash=sa.bindparam("h")),
            updates,
        )
    if last:
        bind.execute(
            sa.insert(_heads),
            [{"organisation_id": o, "seq": s, "hash": h} for o, (s, h) in last.items()],
        )


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger(),
            nullable=False,
            comment="seq of the organisation's last event (0: none)",
        ),
        sa.Column("hash", sa.String(length=64), nullable=False, comment="hash of that event"),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_audit_chain_head_organisation_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_audit_chain_head")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "seq",
                sa.BigInteger(),
                nullable=True,
                comment="position in the organisation's hash chain, from 1",
            )
        )
        batch_op.add_column(
            sa.Column(
                "prev_hash",
                sa.String(length=64),
                nullable=True,
                comment="hash of the previous event of the organisation (64 zeros for the first)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "hash",
                sa.String(length=64),
                nullable=True,
                comment="SHA-256 of prev_hash and this event's fields (see app/core/audit.py)",
            )
        )

    _chain_existing_events()

    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column(
            "seq",
            existing_type=sa.BigInteger(),
            nullable=False,
            existing_comment="position in the organisation's hash chain, from 1",
        )
        batch_op.alter_column(
            "prev_hash",
            existing_type=sa.String(length=64),
            nullable=False,
            existing_comment="hash of the previous event of the organisation (64 zeros for the first)",
        )
        batch_op.alter_column(
            "hash",
            existing_type=sa.String(length=64),
            nullable=False,
            existing_comment="SHA-256 of prev_hash and this event's fields (see app/core/audit.py)",
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_audit_event_organisation_id_seq"), ["organisation_id", "seq"]
        )

    for statement in _PG_GUARDS if op.get_bind().dialect.name == "postgresql" else _SQLITE_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_refuse_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_event_organisation_id_seq"), type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
    op.drop_table("audit_chain_head")
