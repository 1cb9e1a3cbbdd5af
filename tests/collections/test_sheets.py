"""Collection sheets: per-item results, duplicates across sheets, bad items never block."""

from __future__ import annotations

from datetime import date

import pytest

from app.core.database import unit_of_work
from tests.collections.factories import add_dues, make_member, standard_book
from tests.collections.test_receipts_api import count
from tests.collections.test_reversal_and_credit import clean_books, paid_of


def item(client_id: str, payer: dict, amount: str, **extra: object) -> dict:
    return {
        "client_id": client_id,
        **payer,
        "amount": amount,
        "currency": "DOP",
        "received_at": "2026-11-20T08:00:00-04:00",
        "channel": "cash",
        **extra,
    }


def test_sheet_results_in_order_bad_items_rejected_others_created(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = str(book.members["M-001"])
    with unit_of_work(session_factory, org.id) as session:
        # a member who pays for herself (M-002 is BUS-1's crew: her receipts go to the unit)
        m2 = str(make_member(session, book, "M-003"))
    bus = str(book.units["BUS-1"])
    add_dues(
        session_factory,
        book,
        "transport-daily",
        ("unit", book.units["BUS-1"]),
        date(2026, 11, 1),
        3,
        5000,
    )
    sheet = {
        "collected_on": "2026-11-20",
        "receipts": [
            item("a", {"unit_id": bus}, "50.00"),
            item("b", {"member_id": m1}, "10.001"),  # too many decimals
            item("c", {"unit_id": bus}, "70.00"),  # pays the rest of day 2 and part of day 3
            item("d", {"member_id": "not-a-uuid"}, "5.00"),
            "not an object",
            item("e", {"member_id": m2}, "5.00", currency="XOF"),
            item("f", {"member_id": m2}, "25.00"),
            item("c", {"unit_id": bus}, "70.00"),  # repeated in the same sheet
            {"member_id": m2, "amount": "1.00"},  # no client id and more missing
        ],
    }
    r = client.post("/api/v1/collection-sheets", json=sheet, headers=org.headers("collector"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["status"] for x in body["results"]] == [
        "created",
        "rejected",
        "created",
        "rejected",
        "rejected",
        "rejected",
        "created",
        "duplicate",
        "rejected",
    ]
    assert (body["created"], body["duplicates"], body["rejected"]) == (3, 1, 5)
    res = body["results"]
    assert res[1]["errors"][0]["field"] == "amount"
    assert res[3]["errors"][0]["field"] == "member_id"
    assert res[4]["errors"][0]["field"] == "item" and res[4]["client_id"] is None
    assert res[4]["errors"][0]["code"] == "sheet.item_not_object"
    assert res[5]["errors"][0]["field"] == "currency"
    assert res[5]["errors"][0]["code"] == "receipt.not_book_currency"
    assert res[5]["errors"][0]["params"] == {"currency": "DOP"}
    assert res[1]["errors"][0]["code"] == "money.too_many_decimals"
    assert {e["field"] for e in res[8]["errors"]} >= {
        "client_id",
        "currency",
        "received_at",
        "channel",
    }
    assert res[7]["receipt_id"] == res[2]["receipt_id"]
    assert [res[i]["receipt_number"] for i in (0, 2, 6)] == [1, 2, 3]
    assert paid_of(engine) == [5000, 5000, 2000]
    assert count(engine, "receipt") == 3

    # the whole sheet again: every good item is a duplicate of its original, nothing new
    again = client.post(
        "/api/v1/collection-sheets", json=sheet, headers=org.headers("collector")
    ).json()
    assert [x["status"] for x in again["results"]] == [
        "duplicate",
        "rejected",
        "duplicate",
        "rejected",
        "rejected",
        "rejected",
        "duplicate",
        "duplicate",
        "rejected",
    ]
    assert [again["results"][i]["receipt_id"] for i in (0, 2, 6)] == [
        res[i]["receipt_id"] for i in (0, 2, 6)
    ]
    assert count(engine, "receipt") == 3 and paid_of(engine) == [5000, 5000, 2000]
    clean_books(session_factory, org)


def test_half_sent_sheet_resent_creates_each_receipt_once(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = str(book.members["M-001"])
    items = [item(f"wk1-{i}", {"member_id": m1}, "10.00") for i in range(10)]
    first = client.post(
        "/api/v1/collection-sheets",
        json={"collected_on": "2026-11-20", "receipts": items[:4]},
        headers=org.headers("collector"),
    ).json()
    assert first["created"] == 4
    full = client.post(
        "/api/v1/collection-sheets",
        json={"collected_on": "2026-11-20", "receipts": items},
        headers=org.headers("collector"),
    ).json()
    assert (full["created"], full["duplicates"]) == (6, 4)
    assert [r["receipt_number"] for r in full["results"]] == list(range(1, 11))
    assert count(engine, "receipt") == 10


def test_sheet_collector_rules_and_idempotency_key(
    client, org, make_org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = str(book.members["M-001"])
    sheet = {"collected_on": "2026-11-20", "receipts": [item("x1", {"member_id": m1}, "10.00")]}
    r = client.post("/api/v1/collection-sheets", json=sheet, headers=org.headers("treasurer"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "collector_id"
    collector_id = client.get("/api/v1/collectors", headers=org.headers("treasurer")).json()[
        "items"
    ][0]["id"]
    h = org.headers("treasurer", **{"Idempotency-Key": "sheet-1"})
    r = client.post(
        "/api/v1/collection-sheets", json={**sheet, "collector_id": collector_id}, headers=h
    )
    assert r.status_code == 200 and r.json()["created"] == 1
    again = client.post(
        "/api/v1/collection-sheets", json={**sheet, "collector_id": collector_id}, headers=h
    )
    assert again.content == r.content and again.headers["Idempotency-Replayed"] == "true"
    other = client.post(
        "/api/v1/collection-sheets",
        json={**sheet, "collector_id": collector_id, "collected_on": "2026-11-21"},
        headers=h,
    )
    assert other.status_code == 409
    # the same client id from the collector itself: a duplicate (client ids are per collector)
    mine = client.post(
        "/api/v1/collection-sheets", json=sheet, headers=org.headers("collector")
    ).json()
    assert mine["results"][0]["status"] == "duplicate"
    foreign = make_org("OTHER", "DOP")
    r = client.post("/api/v1/collection-sheets", json=sheet, headers=foreign.headers("collector"))
    assert r.status_code == 200 and r.json()["results"][0]["errors"][0]["field"] == "member_id"
    assert (
        client.post(
            "/api/v1/collection-sheets", json=sheet, headers=org.headers("auditor")
        ).status_code
        == 403
    )
    bad = client.post(
        "/api/v1/collection-sheets",
        json={"collected_on": "2026-11-20", "receipts": []},
        headers=org.headers("collector"),
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "receipts"
    assert count(engine, "receipt") == 1


@pytest.mark.postgres_only
def test_the_same_sheet_sent_concurrently_creates_each_receipt_once(
    org, session_factory, engine, backend, live_server
) -> None:  # type: ignore[no-untyped-def]
    import concurrent.futures

    import httpx

    book = standard_book(session_factory, org)
    m1 = str(book.members["M-001"])
    with unit_of_work(session_factory, org.id) as session:
        m2 = str(make_member(session, book, "M-003"))  # crew of no unit: pays ahead
    add_dues(
        session_factory,
        book,
        "monthly",
        ("member", book.members["M-001"]),
        date(2026, 9, 1),
        3,
        30000,
    )
    sheet = {
        "collected_on": "2026-11-20",
        "receipts": [
            item(f"c{i}", {"member_id": m1 if i % 2 else m2}, "100.00") for i in range(40)
        ],
    }

    def send(_: int) -> dict:
        with httpx.Client(base_url=live_server, timeout=60) as c:
            r = c.post("/api/v1/collection-sheets", json=sheet, headers=org.headers("collector"))
            assert r.status_code == 200, r.text
            return r.json()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(4)))
    assert sorted(a["created"] for a in answers) == [0, 0, 0, 40]
    ids = {tuple(r["receipt_id"] for r in a["results"]) for a in answers}
    assert len(ids) == 1  # every answer names the same receipts
    assert count(engine, "receipt") == 40
    assert paid_of(engine) == [30000, 30000, 30000]
    clean_books(session_factory, org)
