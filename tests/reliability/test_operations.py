"""Operations: /readyz follows the migrations, /metrics carries business metrics, and a backup
taken with `coopledger db backup` restores into a new database that `coopledger verify` passes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.core import metrics
from app.core.database import unit_of_work
from app.core.migrations import alembic_config, head_revisions
from tests.ledger.test_journal_api import entry, open_accounts

CLI = [sys.executable, "-m", "app.cli"]


def run_cli(
    database_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "COOPLEDGER_ENV": "test"}
    return subprocess.run(
        [*CLI, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_readyz_is_false_while_migrations_are_behind(client, db_url) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["revision"] == sorted(head_revisions())
    command.stamp(alembic_config(db_url), "0004")  # as if a new release's migration had not run
    try:
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert behind.json() == {
            "status": "migrations pending",
            "current": ["0004"],
            "head": sorted(head_revisions()),
        }
    finally:
        command.stamp(alembic_config(db_url), "head")
    assert client.get("/readyz").status_code == 200


def test_metrics_carry_business_counters_and_gauges(client, org) -> None:  # type: ignore[no-untyped-def]
    def sample(text: str, name: str) -> float:
        lines = [ln for ln in text.splitlines() if ln.startswith(name + " ")]
        return float(lines[0].split()[-1]) if lines else 0.0

    before = client.get("/metrics").text
    bank, fees = open_accounts(client, org, ("BANK", "asset"), ("FEES", "income"))
    r = client.post("/api/v1/journal", json=entry("x", bank, fees, "10.00"), headers=org.headers())
    assert r.status_code == 201
    refused = client.post(
        "/api/v1/journal", json=entry("x", bank, fees, "0.00"), headers=org.headers()
    )
    assert refused.status_code == 422
    after = client.get("/metrics").text
    # two accounts opened and one entry posted: three events; the refused post audits nothing
    assert (
        sample(after, "coopledger_audit_events_total")
        - sample(before, "coopledger_audit_events_total")
        == 3
    )
    assert "# TYPE coopledger_remittance_batches gauge" in after
    assert (
        'coopledger_http_requests_total{method="POST",route="/api/v1/journal",status="201"}'
        in after
    )
    assert 'route="/api/v1/journal",status="422"' in after


def test_counts_apply_only_when_the_transaction_commits(org, session_factory) -> None:  # type: ignore[no-untyped-def]
    start = metrics.value("receipts_posted", channel="cash")
    with unit_of_work(session_factory, org.id) as session:
        metrics.count_after_commit(session, "receipts_posted", 2, channel="cash")
        try:
            with session.begin_nested():
                metrics.count_after_commit(session, "receipts_posted", 100, channel="cash")
                raise ValueError("item refused")
        except ValueError:
            pass
        assert metrics.value("receipts_posted", channel="cash") == start  # not before commit
    assert metrics.value("receipts_posted", channel="cash") == start + 2
    with pytest.raises(RuntimeError), unit_of_work(session_factory, org.id) as session:
        metrics.count_after_commit(session, "receipts_posted", 5, channel="cash")
        raise RuntimeError("crash")
    assert metrics.value("receipts_posted", channel="cash") == start + 2
    with pytest.raises(KeyError):
        metrics.inc("no_such_counter")
    with pytest.raises(ValueError, match="labels"):
        metrics.inc("receipts_posted")


def _fresh_database(db_url: str, tmp_path: Path) -> tuple[str, object]:
    """A new, empty database on the same server (or a new SQLite file), and how to drop it."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored.db'}", lambda: None
    name = f"coopledger_restore_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(db_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(db_url).set(database=name).render_as_string(hide_password=False), drop


def _snapshot(url: str) -> dict[str, object]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {
                "entries": conn.execute(sa.text("SELECT count(*) FROM journal_entry")).scalar_one(),
                "postings": tuple(
                    conn.execute(
                        sa.text("SELECT count(*), sum(amount), sum(abs(amount)) FROM posting")
                    ).one()
                ),
                "events": tuple(
                    conn.execute(sa.text("SELECT count(*), max(seq) FROM audit_event")).one()
                ),
                "keys": conn.execute(sa.text("SELECT count(*) FROM api_key")).scalar_one(),
            }
    finally:
        engine.dispose()


def test_backup_then_restore_into_a_new_database_verifies(client, org, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if (
        not db_url.startswith("sqlite")
        and subprocess.run(["which", "pg_dump"], capture_output=True).returncode
    ):
        pytest.fail("pg_dump is not installed: the PostgreSQL backup cannot be tested")
    bank, fees = open_accounts(client, org, ("BANK", "asset"), ("FEES", "income"))
    h = org.headers()
    for amount in ("150.00", "75.25", "0.75"):
        assert (
            client.post(
                "/api/v1/journal", json=entry("dues", bank, fees, amount), headers=h
            ).status_code
            == 201
        )
    backup_file = tmp_path / "coopledger.backup"
    made = run_cli(db_url, "db", "backup", str(backup_file))
    assert made.returncode == 0, made.stderr
    assert backup_file.stat().st_size > 0
    at_backup = _snapshot(db_url)
    # written after the backup: must not come back
    assert (
        client.post(
            "/api/v1/journal", json=entry("late", bank, fees, "9.00"), headers=h
        ).status_code
        == 201
    )
    assert run_cli(db_url, "db", "backup", str(backup_file)).returncode == 2  # never overwrites

    target, drop = _fresh_database(db_url, tmp_path)
    try:
        restored = run_cli(target, "db", "restore", str(backup_file), "--yes")
        assert restored.returncode == 0, restored.stderr
        assert _snapshot(target) == at_backup
        assert at_backup["entries"] == 3
        checked = run_cli(target, "verify")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "the audit trail is an unbroken hash chain" in checked.stdout
        assert run_cli(target, "db", "upgrade").returncode == 0  # already at head: a no-op
    finally:
        drop()  # type: ignore[operator]


def test_restore_refuses_what_is_not_a_backup(db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if not db_url.startswith("sqlite"):
        pytest.skip("pg_restore's own refusal is covered by PostgreSQL; this checks ours")
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"=cmd|' /C calc'!A0\n" * 100)
    before = Path(make_url(db_url).database).read_bytes()  # type: ignore[arg-type]
    done = run_cli(db_url, "db", "restore", str(junk), "--yes")
    assert done.returncode == 2 and "not a readable SQLite database" in done.stderr
    assert Path(make_url(db_url).database).read_bytes() == before  # type: ignore[arg-type]
    assert run_cli(db_url, "db", "restore", str(tmp_path / "missing"), "--yes").returncode == 2
