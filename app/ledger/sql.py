"""Statements sent straight to the driver, for the hot paths on PostgreSQL.

A receipt's statements are plain SQL over arrays (`INSERT ... SELECT FROM unnest(...)`): one
statement whatever the number of rows, no SQL to compile per call, and psycopg prepares each
text on the server after a few uses, so PostgreSQL parses and plans it once per connection.
SQLite keeps the SQLAlchemy paths. Errors come out as SQLAlchemy's (an `IntegrityError` is
an `IntegrityError` whichever path raised it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def run(session: Session, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    """Execute `sql` (psycopg `%(name)s` parameters) in the session's transaction; the cursor."""
    connection = session.connection()
    driver: Any = connection.connection.driver_connection
    try:
        return driver.execute(sql, params)
    except connection.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, connection.dialect.loaded_dbapi.Error) from exc
