"""Backup and restore of the whole database: `coopledger db backup PATH` / `db restore PATH`.

- SQLite: the online backup API (`sqlite3.Connection.backup`), a consistent copy taken page
  by page while the service keeps running; the copy is integrity-checked. Restore copies the
  backup's pages over the live file the same way, in one step.
- PostgreSQL: `pg_dump --format=custom` and `pg_restore --clean --if-exists
  --single-transaction --no-owner` (the client tools must be at least the server's version).
  A password in DATABASE_URL goes to the tools through PGPASSWORD, never their arguments.

After a restore, run `coopledger db upgrade` (a backup from an older release) and
`coopledger verify`: the invariants and the audit chain say whether the books came back whole.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why."""


def _sqlite_path(database_url: str) -> Path:
    path = make_url(database_url).database
    if not path or path == ":memory:":
        raise BackupError("DATABASE_URL names no SQLite file")
    return Path(path)


def _pg_target(database_url: str) -> tuple[str, dict[str, str]]:
    url = make_url(database_url).set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
        url = url.set(password=None)
    return url.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-2000:]}")


def _check_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()
        if not result or result[0] != "ok":
            raise BackupError(f"{path} fails SQLite's integrity check: {result}")
        has_schema = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
        if not has_schema:
            raise BackupError(f"{path} is not a coopledger database (no alembic_version)")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable SQLite database: {exc}") from None
    finally:
        conn.close()


def backup(database_url: str, destination: Path) -> None:
    """Write a consistent backup of the database to `destination` (refuses to overwrite)."""
    if destination.exists():
        raise BackupError(f"{destination} exists; choose a new file")
    destination.parent.mkdir(parents=True, exist_ok=True)
    if database_url.startswith("sqlite"):
        source_path = _sqlite_path(database_url)
        if not source_path.exists():
            raise BackupError(f"no database at {source_path}")
        partial = destination.with_name(destination.name + ".partial")
        source = sqlite3.connect(source_path, timeout=30)
        target = sqlite3.connect(partial)
        try:
            source.backup(target, pages=1024)
        finally:
            target.close()
            source.close()
        _check_sqlite(partial)
        partial.replace(destination)  # a half-written backup never carries the final name
        return
    target_url, env = _pg_target(database_url)
    partial = destination.with_name(destination.name + ".partial")
    _run([_tool("pg_dump"), "--format=custom", f"--file={partial}", target_url], env)
    partial.replace(destination)


def restore(database_url: str, source: Path) -> None:
    """Replace the database's contents with the backup at `source`."""
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    if database_url.startswith("sqlite"):
        _check_sqlite(source)
        target_path = _sqlite_path(database_url)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        backup_conn = sqlite3.connect(source)
        live = sqlite3.connect(target_path, timeout=30)
        try:
            backup_conn.backup(live)
        finally:
            live.close()
            backup_conn.close()
        return
    target_url, env = _pg_target(database_url)
    _run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--no-owner",
            f"--dbname={target_url}",
            str(source),
        ],
        env,
    )
