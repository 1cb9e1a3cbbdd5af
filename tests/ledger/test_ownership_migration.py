"""Migration 0010 backfills who owns each existing account and entry from the service tables.

Books are written at head by the services (which record their owners themselves), every
owner is reset to the columns' default and the migration's backfill runs: it must find the
very owners the services wrote, and `coopledger verify` must still find nothing.
"""

from __future__ import annotations

import importlib.util
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from app.core import verify
from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from app.identity.service import create_api_key
from tests.collections.factories import add_dues, standard_book

AT = "2026-11-20T13:30:00Z"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"


def owners(engine: sa.Engine) -> dict[str, dict[Any, tuple[str, str | None]]]:
    out: dict[str, dict[Any, tuple[str, str | None]]] = {}
    with engine.connect() as conn:
        for table in ("account", "journal_entry"):
            rows = conn.execute(sa.text(f"SELECT id, owner, owner_ref FROM {table}")).all()
            out[table] = {uuid.UUID(str(i)): (o, normal(r)) for i, o, r in rows}
    return out


def normal(ref: str | None) -> str | None:
    """A receipt's id is its entries' reference: SQLite stores ids as 32 hex digits."""
    try:
        return str(uuid.UUID(ref)) if ref is not None else None
    except ValueError:
        return ref


def write_books(client: Any, org: Any, session_factory: Any) -> None:
    book = standard_book(session_factory, org)
    for number in ("M-001", "M-002"):
        for month in (9, 10):
            add_dues(
                session_factory,
                book,
                "monthly-fee",
                ("member", book.members[number]),
                date(2026, month, 1),
                1,
                30000,
            )
    with unit_of_work(session_factory) as session:
        bind_organisation(session, org.id)
        org.keys["rosa"] = create_api_key(session, CLI_ACTOR, name="rosa", role="collector").secret
    h = org.headers("treasurer")

    def ok(r: Any) -> Any:
        assert r.status_code in (200, 201), r.text
        return r.json()

    bank = ok(client.post(
        "/api/v1/accounts",
        json={"code": "BANK:POPULAR", "name": "Bank", "type": "asset", "currency": "DOP"},
        headers=h,
    ))["id"]  # fmt: skip
    fees = ok(client.post(
        "/api/v1/accounts",
        json={"code": "BANK:FEES", "name": "Fees", "type": "expense", "currency": "DOP"},
        headers=h,
    ))["id"]  # fmt: skip
    m1, m2 = (str(book.members[n]) for n in ("M-001", "M-002"))
    unit = str(book.units["BUS-1"])
    taken = []
    for role, payer, amount, channel in [
        ("collector", {"member_id": m1}, "700.00", "cash"),  # pays both dues, 100.00 credit
        ("rosa", {"member_id": m2}, "300.00", "cash"),
        ("treasurer", {"unit_id": unit}, "45.00", "bank"),  # all credit
        ("treasurer", {"member_id": m2}, "20.00", "mobile_money"),
    ]:
        body = {**payer, "amount": amount, "currency": "DOP", "received_at": AT}
        taken.append(ok(client.post(
            "/api/v1/receipts", json={**body, "channel": channel}, headers=org.headers(role)
        )))  # fmt: skip
    ok(client.post(
        f"/api/v1/receipts/{taken[3]['id']}/reverse", json={"reason": "bounced"}, headers=h
    ))  # fmt: skip
    # M-001's credit is applied to a new due (a credit_applied entry)
    add_dues(session_factory, book, "monthly-fee", ("member", book.members["M-001"]),
             date(2026, 11, 1), 1, 30000)  # fmt: skip
    collector = ok(client.get("/api/v1/collectors", headers=h))["items"][0]["id"]
    ok(client.post(
        "/api/v1/handovers",
        json={"collector_id": collector, "amount": "200.00", "counted_amount": "190.00",
              "currency": "DOP", "to_account_id": bank,
              "handed_over_at": "2026-11-21T17:00:00-04:00", "reference": "slip-1"},
        headers=h,
    ))  # fmt: skip
    batch = ok(client.post(
        "/api/v1/remittances", json={"fund_code": "PENSION", "through": "2026-12-31"}, headers=h
    ))  # fmt: skip
    ok(client.post(f"/api/v1/remittances/{batch['id']}/seal", headers=h))
    ok(client.post(f"/api/v1/remittances/{batch['id']}/submit", headers=h))
    lines = ok(client.get(f"/api/v1/remittances/{batch['id']}/lines", headers=h))["items"]
    ok(client.post(
        f"/api/v1/remittances/{batch['id']}/acknowledgement",
        json={"lines": [{"end_to_end_id": ln["end_to_end_id"], "status": "accepted"}
                        for ln in lines[1:]]
              + [{"end_to_end_id": lines[0]["end_to_end_id"], "status": "rejected",
                  "reason": "unknown"}]},
        headers=h,
    ))  # fmt: skip
    settled = ok(client.get(f"/api/v1/remittances/{batch['id']}", headers=h))
    ok(client.post(
        f"/api/v1/remittances/{batch['id']}/settlement",
        json={"amount": settled["accepted_sum"], "settled_on": "2026-12-05", "reference": "T-1"},
        headers=h,
    ))  # fmt: skip
    entry = ok(client.post(
        "/api/v1/journal",
        json={"description": "bank fee", "effective_on": "2026-11-20", "postings": [
            {"account_id": fees, "amount": "3.00", "direction": "debit"},
            {"account_id": bank, "amount": "3.00", "direction": "credit"}]},
        headers=h,
    ))  # fmt: skip
    ok(client.post(f"/api/v1/journal/{entry['id']}/reverse", json={"reason": "typo"}, headers=h))


def forget_owners_and_backfill(engine: sa.Engine) -> None:
    """What upgrading to 0010 does to rows written before it: every row `manual` (the new
    columns' default), then the migration's own backfill, in one transaction. (A downgrade
    to 0009 and back would do the same, but 0012's SQLite downgrade cannot run over data.)"""
    path = MIGRATIONS / "20261202_0010_ledger_ownership.py"
    spec = importlib.util.spec_from_file_location("migration_0010", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    dialect = engine.dialect.name
    with engine.begin() as conn:
        ops = Operations(MigrationContext.configure(conn))
        with Operations.context(ops.migration_context):
            if dialect == "postgresql":
                op.execute("ALTER TABLE journal_entry DISABLE TRIGGER journal_entry_append_only")
            else:
                op.execute("DROP TRIGGER journal_entry_no_update")
            for table in ("account", "journal_entry"):
                op.execute(f"UPDATE {table} SET owner = 'manual', owner_ref = NULL")
            migration._backfill(dialect)
            if dialect == "postgresql":
                op.execute("ALTER TABLE journal_entry ENABLE TRIGGER journal_entry_append_only")
            else:
                op.execute(migration._SQLITE_NO_UPDATE)


def test_the_backfill_finds_the_owners_the_services_wrote(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    write_books(client, org, session_factory)
    written = owners(engine)
    kinds = {o for o, _ in written["journal_entry"].values()}
    # every kind of owner is there, or the comparison below would prove less than it says
    assert kinds >= {"manual", "receipt", "prepaid_credit", "handover", "remittance_batch"}
    accounts = {o for o, _ in written["account"].values()}
    assert accounts >= {"manual", "fund", "member", "unit", "collector", "collections"}
    forget_owners_and_backfill(engine)
    assert owners(engine) == written
    with unit_of_work(session_factory, org.id) as s:
        assert [f"{b.invariant}: {b.detail}" for b in verify.run(s)] == []
    # and the journal still refuses what the services own after the backfill
    receipt_entry = next(i for i, (o, _) in written["journal_entry"].items() if o == "receipt")
    r = client.post(
        f"/api/v1/journal/{receipt_entry}/reverse",
        json={"reason": "x"},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 409 and "belongs to receipt" in r.json()["detail"], r.text
