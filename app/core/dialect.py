"""What differs between the two databases: which one a session talks to, and statements sent
straight to the driver for the hot paths on PostgreSQL.

`is_postgres` is the one test of the database in use (no query: it reads the bind's
dialect); `insert_on_conflict` is the dialect's INSERT with `ON CONFLICT` (upserts).

`run` sends a statement straight to the driver, for the hot paths on PostgreSQL.

A receipt's statements are plain SQL over arrays (`INSERT ... SELECT FROM unnest(...)`): one
statement whatever the number of rows, no SQL to compile per call, and psycopg prepares each
text on the server after a few uses, so PostgreSQL parses and plans it once per connection.
Array parameters are sent in binary (`%(name)b`): psycopg's text form quotes every element.
SQLite keeps the SQLAlchemy paths. Errors come out as SQLAlchemy's (an `IntegrityError` is
an `IntegrityError` whichever path raised it).

Each connection keeps one cursor per statement text: psycopg keeps a cursor's adapters
(which dumper each array parameter needs) only while the same query is executed on it again.
A caller reads a result before it runs the same statement again on the same session, which
every caller here does at once.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_CURSORS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_DRIVER = "core.dialect.driver"


def is_postgres(target: Session | Connection | Engine) -> bool:
    """True on PostgreSQL, False on SQLite: the dialect of a session's bind, a connection's or
    an engine's (no statement is sent)."""
    bind = target.get_bind() if isinstance(target, Session) else target
    return bind.dialect.name == "postgresql"


def insert_on_conflict(target: Session | Connection | Engine) -> Any:
    """The dialect's `insert()`, which has `on_conflict_do_nothing` / `on_conflict_do_update`."""
    return pg_insert if is_postgres(target) else sqlite_insert


def _driver(session: Session) -> tuple[Any, Any]:
    """The session's driver connection and its DB-API module, remembered per transaction.

    Keyed on the innermost transaction: the ORM emits a savepoint's SAVEPOINT only when the
    nested transaction first asks for its connection, so a statement sent here inside
    `begin_nested()` must go through `session.connection()` once, or a rollback to that
    savepoint would not undo it.
    """
    transaction = session.get_nested_transaction() or session.get_transaction()
    known = session.info.get(_DRIVER)
    if known is not None and transaction is not None and known[0] is transaction:
        return known[1], known[2]
    connection = session.connection()
    found = (
        transaction,
        connection.connection.driver_connection,
        connection.dialect.loaded_dbapi,
    )
    session.info[_DRIVER] = found
    return found[1], found[2]


def run(session: Session, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    """Execute `sql` (psycopg `%(name)s` parameters) in the session's transaction; the cursor."""
    driver, dbapi = _driver(session)
    cursors = _CURSORS.get(driver)
    if cursors is None:
        cursors = _CURSORS[driver] = {}
    cursor = cursors.get(sql)
    if cursor is None or cursor.closed:
        cursor = cursors[sql] = driver.cursor()
    try:
        return cursor.execute(sql, params)
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, dbapi.Error) from exc
