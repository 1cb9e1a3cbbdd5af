"""Receipt numbers: sequential per organisation, never skipped nor reused, under concurrency
and failures."""

from __future__ import annotations

import concurrent.futures
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.collections import receipts as engine_mod
from app.collections import service
from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from tests.collections.factories import standard_book
from tests.collections.test_receipts_api import receipt
from tests.collections.test_reversal_and_credit import clean_books
from tests.collections.test_sheets import item


def numbers(engine) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(
            conn.execute(sa.text("SELECT receipt_number FROM receipt ORDER BY 1")).scalars()
        )


def test_a_rolled_back_receipt_gives_its_number_back(org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)

    def draft() -> engine_mod.ReceiptDraft:
        return engine_mod.ReceiptDraft(
            member_id=book.members["M-001"],
            unit_id=None,
            amount=100,
            currency="DOP",
            received_at=datetime(2026, 11, 20, tzinfo=UTC),
            channel="cash",
            collector_id=None,
        )

    with unit_of_work(session_factory, org.id) as session:
        assert service.post_receipt(session, CLI_ACTOR, draft()).receipt_number == 1
    with pytest.raises(RuntimeError), unit_of_work(session_factory, org.id) as session:
        assert service.post_receipt(session, CLI_ACTOR, draft()).receipt_number == 2
        raise RuntimeError("the connection dropped before commit")
    with unit_of_work(session_factory, org.id) as session:
        assert service.post_receipt(session, CLI_ACTOR, draft()).receipt_number == 2
    assert numbers(engine) == [1, 2]


def test_numbers_are_per_organisation(client, make_org, session_factory) -> None:  # type: ignore[no-untyped-def]
    a, b = make_org("AAA", "DOP"), make_org("BBB", "DOP")
    for org in (a, b, a):
        book = standard_book(session_factory, org) if not hasattr(org, "_book") else org._book
        org._book = book
        r = client.post(
            "/api/v1/receipts",
            json=receipt({"member_id": str(book.members["M-001"])}, "1.00"),
            headers=org.headers("collector"),
        )
        assert r.status_code == 201
    assert [
        r["receipt_number"]
        for r in client.get("/api/v1/receipts", headers=a.headers("auditor")).json()["items"]
    ] == [2, 1]
    assert [
        r["receipt_number"]
        for r in client.get("/api/v1/receipts", headers=b.headers("auditor")).json()["items"]
    ] == [1]


@pytest.mark.postgres_only
def test_concurrent_receipts_sheets_and_failures_leave_no_gap(
    org, session_factory, engine, backend, live_server
) -> None:  # type: ignore[no-untyped-def]
    import httpx

    book = standard_book(session_factory, org)
    payers = [
        {"member_id": str(book.members["M-001"])},
        {"member_id": str(book.members["M-002"])},
        {"unit_id": str(book.units["BUS-1"])},
    ]

    def worker(w: int) -> list[int]:
        got = []
        with httpx.Client(base_url=live_server, timeout=60) as c:
            for i in range(12):
                if i % 4 == 3:  # a sheet of three, one item bad
                    sheet = {
                        "collected_on": "2026-11-20",
                        "receipts": [
                            item(f"w{w}-{i}-{k}", payers[k], "2.00" if k else "2.001")
                            for k in range(3)
                        ],
                    }
                    r = c.post(
                        "/api/v1/collection-sheets", json=sheet, headers=org.headers("collector")
                    )
                    assert r.status_code == 200, r.text
                    got += [
                        x["receipt_number"] for x in r.json()["results"] if x["status"] == "created"
                    ]
                elif i % 5 == 4:  # refused: no such member
                    r = c.post(
                        "/api/v1/receipts",
                        json=receipt({"member_id": str(org.id)}, "1.00"),
                        headers=org.headers("treasurer"),
                    )
                    assert r.status_code == 422
                else:
                    r = c.post(
                        "/api/v1/receipts",
                        json=receipt(payers[(w + i) % 3], "1.00"),
                        headers=org.headers("collector"),
                    )
                    assert r.status_code == 201, r.text
                    got.append(r.json()["receipt_number"])
        return got

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        given = [n for got in pool.map(worker, range(6)) for n in got]
    assert sorted(given) == list(range(1, len(given) + 1))  # each number given once, no gap
    assert numbers(engine) == sorted(given)
    clean_books(session_factory, org)
