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

from app.core.messages import N_, Message, Template

NO_SQLITE_FILE = Template("backup.no_sqlite_file", N_("DATABASE_URL names no SQLite file"))
NO_TOOL = Template(
    "backup.tool_missing",
    N_("%(tool)s is not installed (Debian: apt-get install postgresql-client)"),
)
TOOL_FAILED = Template("backup.tool_failed", N_("%(tool)s failed: %(error)s"))
NOT_INTACT = Template("backup.integrity", N_("%(path)s fails SQLite's integrity check: %(result)s"))
NOT_OURS = Template(
    "backup.not_coopledger", N_("%(path)s is not a coopledger database (no alembic_version)")
)
UNREADABLE = Template(
    "backup.unreadable", N_("%(path)s is not a readable SQLite database: %(error)s")
)
EXISTS = Template("backup.exists", N_("%(path)s exists; choose a new file"))
NO_DATABASE = Template("backup.no_database", N_("no database at %(path)s"))
NO_BACKUP = Template("backup.not_found", N_("no backup at %(path)s"))


class BackupError(Exception):
    """A backup or restore that could not be done; `message` says why (str() in English)."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.english())
        self.message = message


def _sqlite_path(database_url: str) -> Path:
    path = make_url(database_url).database
    if not path or path == ":memory:":
        raise BackupError(NO_SQLITE_FILE())
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
        raise BackupError(NO_TOOL(tool=name))
    return found


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(TOOL_FAILED(tool=Path(args[0]).name, error=done.stderr.strip()[-2000:]))


def _check_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()
        if not result or result[0] != "ok":
            raise BackupError(NOT_INTACT(path=path, result=str(result)))
        has_schema = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
        if not has_schema:
            raise BackupError(NOT_OURS(path=path))
    except sqlite3.DatabaseError as exc:
        raise BackupError(UNREADABLE(path=path, error=exc)) from None
    finally:
        conn.close()


def backup(database_url: str, destination: Path) -> None:
    """Write a consistent backup of the database to `destination` (refuses to overwrite)."""
    if destination.exists():
        raise BackupError(EXISTS(path=destination))
    destination.parent.mkdir(parents=True, exist_ok=True)
    if database_url.startswith("sqlite"):
        source_path = _sqlite_path(database_url)
        if not source_path.exists():
            raise BackupError(NO_DATABASE(path=source_path))
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
        raise BackupError(NO_BACKUP(path=source))
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
