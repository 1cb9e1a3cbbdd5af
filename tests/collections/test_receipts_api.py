"""POST /receipts: one transaction writes the receipt, its entry, allocations and shares."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from tests.collections.factories import add_dues, standard_book

AT = "2026-11-20T09:30:00-04:00"


def count(engine, table: str, where: str = "") -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(conn.execute(sa.text(sql)).scalar_one())


def balance(client, org, account_id) -> str:  # type: ignore[no-untyped-def]
    r = client.get(f"/api/v1/accounts/{account_id}/balance", headers=org.headers("auditor"))
    assert r.status_code == 200, r.text
    return r.json()["balance"]


def receipt(payer: dict, amount: str, **extra: object) -> dict:
    return {**payer, "amount": amount, "currency": "DOP", "received_at": AT, "channel": "cash", **extra}


def test_collector_receipt_allocates_oldest_first_and_books_it(client, org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    old, new = add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 2, 30000)
    r = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "450.00", reference="slip 7"),
        headers=org.headers("collector", **{"Idempotency-Key": "r-1"}),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["receipt_number"] == 1 and body["status"] == "posted"
    assert body["allocations"] == [
        {"due_id": str(old), "amount": "300.00"},
        {"due_id": str(new), "amount": "150.00"},
    ]
    assert body["credit"] == "0.00" and body["created_by"] == "key:collector key"
    assert body["collector_id"] is not None
    # the ledger: collector cash +450, PENSION owed 80% and HEALTH 20% (no fee on monthly)
    collectors = client.get("/api/v1/collectors", headers=org.headers("treasurer")).json()["items"]
    (mine,) = [c for c in collectors if c["id"] == body["collector_id"]]
    assert mine["cash_balance"] == "450.00"
    assert balance(client, org, book.owed["PENSION"]) == "360.00"
    assert balance(client, org, book.owed["HEALTH"]) == "90.00"
    assert count(engine, "allocation") == 2 and count(engine, "contribution_share") == 4
    assert count(engine, "due", "paid = amount") == 1 and count(engine, "due", "paid = 15000") == 1

    again = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "450.00", reference="slip 7"),
        headers=org.headers("collector", **{"Idempotency-Key": "r-1"}),
    )
    assert again.status_code == 201 and again.content == r.content
    assert count(engine, "receipt") == 1
