"""`coopledger verify`: clean books pass; a tampered stored balance is named and exits 1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from app.cli import cli
from app.core import verify
from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from app.core.settings import get_settings
from app.identity.service import create_organisation
from app.ledger import service
from app.ledger.models import AccountType

STORED_BALANCES = "stored balances equal the sum of postings"


@pytest.fixture
def run_cli(db_url, monkeypatch, tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    """Invoke `coopledger ...` in-process against the test database."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)  # no stray .env, no files written into the tree
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, list(args))

    yield run
    get_settings.cache_clear()


def books(session_factory, code: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:  # type: ignore[no-untyped-def]
    """An organisation with a cash and an owed account and three receipts on them."""
    with unit_of_work(session_factory) as session:
        org = create_organisation(session, code=code, name=code, currency="DOP")
        cash, owed = (
            service.open_account(session, CLI_ACTOR, code=c, name=c, type=t, currency="DOP").id
            for c, t in [("CASH", AccountType.asset), ("OWED", AccountType.liability)]
        )
    for amount in (15000, 2550, 100):
        with unit_of_work(session_factory, org.id) as session:
            service.post(
                session,
                CLI_ACTOR,
                description="receipt",
                effective_on=date(2026, 11, 20),
                lines=[service.Line.debit(cash, amount), service.Line.credit(owed, amount)],
            )
    return org.id, cash, owed


def tamper(engine: sa.Engine, org: uuid.UUID, account: uuid.UUID, delta: int) -> None:
    """Add `delta` to one stored-balance row of an account (that table may be updated)."""
    ids = [sa.bindparam("org", org, type_=sa.Uuid()), sa.bindparam("acc", account, type_=sa.Uuid())]
    where = "WHERE organisation_id = :org AND account_id = :acc"
    with engine.begin() as conn:
        shard = conn.execute(
            sa.text(f"SELECT min(shard) FROM account_balance {where}").bindparams(*ids)
        ).scalar_one()
        assert shard is not None
        updated = conn.execute(
            sa.text(
                f"UPDATE account_balance SET balance = balance + :delta {where} AND shard = :shard"
            ).bindparams(*ids),
            {"delta": delta, "shard": shard},
        )
        assert updated.rowcount == 1


def test_clean_books_pass(run_cli, session_factory) -> None:  # type: ignore[no-untyped-def]
    books(session_factory, "AMUSSOL")
    result = run_cli("verify")
    assert result.exit_code == 0, result.output
    assert f"ok   {STORED_BALANCES}" in result.stdout
    assert "FAIL" not in result.stdout
    assert result.stdout.strip().splitlines()[-1].endswith("invariants hold")
    with unit_of_work(session_factory) as session:
        assert verify.run(session) == []


def test_a_tampered_stored_balance_is_named_and_exits_1(run_cli, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    org, cash, _ = books(session_factory, "AMUSSOL")
    other, _, _ = books(session_factory, "OTHER")
    tamper(engine, org, cash, 1)

    result = run_cli("verify")
    assert result.exit_code == 1
    assert f"FAIL {STORED_BALANCES}" in result.stdout
    assert f"account {cash}: stored 17651, postings sum to 17650" in result.stdout
    assert "1 breach(es) found" in result.stderr

    with unit_of_work(session_factory) as session:
        assert verify.run(session) == [
            verify.Breach(STORED_BALANCES, f"account {cash}: stored 17651, postings sum to 17650")
        ]
        assert verify.run(session, other) == []

    # the breach is the tampered organisation's; another organisation's books still pass
    assert run_cli("verify", "--org", "AMUSSOL").exit_code == 1
    clean = run_cli("verify", "--org", "OTHER")
    assert clean.exit_code == 0 and "FAIL" not in clean.stdout

    tamper(engine, org, cash, -1)
    assert run_cli("verify").exit_code == 0
