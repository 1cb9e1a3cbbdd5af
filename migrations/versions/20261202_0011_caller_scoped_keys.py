"""Idempotency keys scoped to the caller; one fund affiliation number, one member.

1. `idempotency_record` gains `caller` (`user:<id>` or `key:<id>`) and its primary key becomes
   (organisation_id, caller, key): the same key from two callers is two requests. The records
   already stored are KEPT, under the caller '' ("before per-caller keys", unknown): the
   application still answers a retry of such a key from any caller of the organisation, as it
   did before, so a request sent before the upgrade and retried after it (a collector's
   offline queue retries for days) is answered from its record and never posted twice.
   Dropping them instead would have let exactly that retry post a second time.

2. `member_affiliation` gets a unique constraint on (organisation_id, fund_id,
   affiliation_number): one number at a fund belongs to one member. Existing books may hold a
   number twice (nothing refused it before); which member really holds it is not something a
   migration can know, and money reaches the fund under that number. So the upgrade looks
   first and, if any number is held twice, stops before changing anything, listing each
   fund, number and the members holding it; the treasurer corrects them (PATCH
   /members/{id} with the right number, or null to remove one) and runs the upgrade again.

Downgrade: the per-caller records of a key used by several callers are thinned to one per
key (the old primary key allows no more); the unique constraint goes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AFFILIATION_UNIQUE = "uq_member_affiliation_fund_number"  # the conventional name is too long

_DUPLICATES = sa.text(
    """
    SELECT o.code, f.code, a.affiliation_number, m.member_number
    FROM member_affiliation a
    JOIN member m ON m.organisation_id = a.organisation_id AND m.id = a.member_id
    JOIN fund f ON f.organisation_id = a.organisation_id AND f.id = a.fund_id
    JOIN organisation o ON o.id = a.organisation_id
    WHERE EXISTS (
        SELECT 1 FROM member_affiliation b
        WHERE b.organisation_id = a.organisation_id AND b.fund_id = a.fund_id
          AND b.affiliation_number = a.affiliation_number AND b.id <> a.id)
    ORDER BY o.code, f.code, a.affiliation_number, m.member_number
    """
)


def _refuse_duplicate_numbers() -> None:
    rows = op.get_bind().execute(_DUPLICATES).all()
    if not rows:
        return
    held: dict[tuple[str, str, str], list[str]] = {}
    for org, fund, number, member in rows:
        held.setdefault((org, fund, number), []).append(member)
    listed = [
        f"  {org} {fund} {number!r}: members {', '.join(members)}"
        for (org, fund, number), members in list(held.items())[:50]
    ]
    more = f"\n  ... and {len(held) - 50} more" if len(held) > 50 else ""
    raise RuntimeError(
        "migration 0011 stopped, nothing changed: these fund affiliation numbers are held by "
        "more than one member, and one number must belong to one member. Correct them (PATCH "
        "/api/v1/members/{id} with the right number, or null to remove it), then upgrade "
        "again:\n" + "\n".join(listed) + more
    )


def upgrade() -> None:
    _refuse_duplicate_numbers()  # before any change: the upgrade is all or nothing

    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "caller",
                sa.String(length=64),
                nullable=False,
                server_default="",
                comment="who sent the key: user:<id> or key:<id>; '' for a key from before "
                "migration 0011 (any caller of the organisation)",
            )
        )
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.drop_constraint("pk_idempotency_record", type_="primary")
        batch_op.create_primary_key("pk_idempotency_record", ["organisation_id", "caller", "key"])
        batch_op.alter_column("caller", server_default=None, existing_type=sa.String(length=64))

    with op.batch_alter_table("member_affiliation", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            _AFFILIATION_UNIQUE, ["organisation_id", "fund_id", "affiliation_number"]
        )


def downgrade() -> None:
    with op.batch_alter_table("member_affiliation", schema=None) as batch_op:
        batch_op.drop_constraint(_AFFILIATION_UNIQUE, type_="unique")

    # One record per (organisation, key) fits the old primary key: keep the first caller's.
    op.execute(
        "DELETE FROM idempotency_record WHERE EXISTS ("
        "SELECT 1 FROM idempotency_record o "
        "WHERE o.organisation_id = idempotency_record.organisation_id "
        "AND o.key = idempotency_record.key AND o.caller < idempotency_record.caller)"
    )
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.drop_constraint("pk_idempotency_record", type_="primary")
        batch_op.create_primary_key("pk_idempotency_record", ["organisation_id", "key"])
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.drop_column("caller")
