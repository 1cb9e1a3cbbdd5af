"""Bulk writes and reads for sets of receipts, at the database's own speed.

On PostgreSQL rows go in with `COPY` (no SQL text to build or parse per row) and a set of
dues is updated in one statement over arrays; SQLite, which runs in process, gets plain
executemany. Only collections' own tables go through here: journal entries and postings are
always written by `app.ledger.service`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Table, Uuid, bindparam, insert, text, update
from sqlalchemy.orm import Session

from app.core.dialect import is_postgres

COPY_FROM = 50  # fewer rows go in as INSERTs: COPY costs an extra round trip to start


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) into `table`, in this transaction."""
    if not rows:
        return
    if len(rows) < COPY_FROM or not is_postgres(session):
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0].keys())
    driver = session.connection().connection.driver_connection
    assert driver is not None
    names = ", ".join(f'"{c}"' for c in columns)
    with driver.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def add_to_paid(
    session: Session, table: Table, org: uuid.UUID, deltas: Mapping[uuid.UUID, int]
) -> None:
    """Add each delta (negative to undo) to its due's `paid`, in one statement on PostgreSQL."""
    changes = [(due_id, delta) for due_id, delta in deltas.items() if delta]
    if not changes:
        return
    if is_postgres(session):
        stmt = text(
            f"UPDATE {table.name} SET paid = {table.name}.paid + v.delta "
            "FROM unnest(:ids, :deltas) AS v(id, delta) "
            f"WHERE {table.name}.organisation_id = :org AND {table.name}.id = v.id"
        ).bindparams(
            bindparam("ids", type_=ARRAY(Uuid())),
            bindparam("deltas", type_=ARRAY(BigInteger())),
            bindparam("org", type_=Uuid()),
        )
        session.execute(
            stmt, {"ids": [c[0] for c in changes], "deltas": [c[1] for c in changes], "org": org}
        )
        return
    stmt_many = (
        update(table)
        .where(table.c.organisation_id == bindparam("org"), table.c.id == bindparam("due"))
        .values(paid=table.c.paid + bindparam("delta"))
    )
    session.execute(stmt_many, [{"org": org, "due": d, "delta": v} for d, v in changes])
