"""Reversal (once, guarded, allocations undone) and prepaid credit taken by new dues."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from app.collections import service
from app.core import verify
from app.core.errors import Conflict
from app.core.messages import Template
from tests.collections.factories import add_dues, bound, standard_book
from tests.collections.test_receipts_api import balance, count, receipt


def paid_of(engine) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [
            int(p) for p in conn.execute(sa.text("SELECT paid FROM due ORDER BY due_on")).scalars()
        ]


def clean_books(session_factory, org) -> None:  # type: ignore[no-untyped-def]
    with bound(session_factory, org.id) as session:
        assert verify.run(session, org.id) == []


def test_reversal_undoes_allocations_once(client, org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 2, 30000)
    r = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "700.00"),
        headers=org.headers("collector"),
    )
    assert r.status_code == 201, r.text
    posted = r.json()
    assert posted["credit"] == "100.00" and paid_of(engine) == [30000, 30000]
    h = org.headers("treasurer", **{"Idempotency-Key": "rev-1"})
    rev = client.post(
        f"/api/v1/receipts/{posted['id']}/reverse", json={"reason": "wrong member"}, headers=h
    )
    assert rev.status_code == 201, rev.text
    body = rev.json()
    assert body["status"] == "reversed" and body["reversal"]["reason"] == "wrong member"
    assert body["reversal"]["reversed_by"] == "key:treasurer key"
    assert body["allocations"] == posted["allocations"]  # what it had paid, for the record
    assert paid_of(engine) == [0, 0]
    assert balance(client, org, book.owed["PENSION"]) == "0.00"
    assert balance(client, org, book.credit_accounts[m1]) == "0.00"
    assert count(engine, "allocation", "amount < 0") == 2
    assert count(engine, "contribution_share", "amount < 0") == 4
    # replayed with the same key: the same answer, nothing new
    again = client.post(
        f"/api/v1/receipts/{posted['id']}/reverse", json={"reason": "wrong member"}, headers=h
    )
    assert again.status_code == 201 and again.content == rev.content
    # a second reversal is a conflict and writes nothing
    second = client.post(
        f"/api/v1/receipts/{posted['id']}/reverse",
        json={"reason": "again"},
        headers=org.headers("treasurer"),
    )
    assert second.status_code == 409
    assert count(engine, "journal_entry", "kind = 'reversal'") == 1
    assert (
        client.post(
            f"/api/v1/receipts/{posted['id']}/reverse",
            json={"reason": "x"},
            headers=org.headers("collector"),
        ).status_code
        == 403
    )
    clean_books(session_factory, org)


def test_reversal_guard_refuses_before_anything_is_written(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 1, 30000)
    posted = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "300.00"),
        headers=org.headers("collector"),
    ).json()
    seen: list[list] = []
    IN_SEALED_BATCH = Template("test.share_sealed", "a share of this receipt is in a sealed batch")

    def guard(session, share_ids):  # type: ignore[no-untyped-def]
        seen.append(share_ids)
        raise Conflict(IN_SEALED_BATCH())

    service.REVERSAL_GUARDS.append(guard)
    try:
        r = client.post(
            f"/api/v1/receipts/{posted['id']}/reverse",
            json={"reason": "x"},
            headers=org.headers("treasurer"),
        )
    finally:
        service.REVERSAL_GUARDS.remove(guard)
    assert r.status_code == 409 and "sealed batch" in r.json()["detail"]
    assert r.json()["code"] == "test.share_sealed"
    assert len(seen) == 1 and len(seen[0]) == 2  # PENSION and HEALTH shares of one member
    assert paid_of(engine) == [30000]
    assert count(engine, "journal_entry", "kind = 'reversal'") == 0
    assert (
        client.get(f"/api/v1/receipts/{posted['id']}", headers=org.headers("auditor")).json()[
            "status"
        ]
        == "posted"
    )


def test_new_dues_take_prepaid_credit_and_reversal_gives_it_back(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    col = org.headers("collector")
    r1 = client.post(
        "/api/v1/receipts", json=receipt({"member_id": str(m1)}, "100.00"), headers=col
    ).json()
    r2 = client.post(
        "/api/v1/receipts", json=receipt({"member_id": str(m1)}, "100.00"), headers=col
    ).json()
    assert r1["credit"] == r2["credit"] == "100.00"
    # dues generated later take the credit, oldest first, and count for the funds
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 10, 1), 1, 15000)
    assert paid_of(engine) == [15000]
    assert balance(client, org, book.credit_accounts[m1]) == "50.00"
    assert balance(client, org, book.owed["PENSION"]) == "120.00"
    assert count(engine, "allocation", "source = 'credit'") == 1
    # reversing r1 (whose 100.00 is half spent): the due gives the credit back, then what
    # credit is left (r2's 100.00) pays it again
    rev = client.post(
        f"/api/v1/receipts/{r1['id']}/reverse",
        json={"reason": "dup"},
        headers=org.headers("treasurer"),
    )
    assert rev.status_code == 201, rev.text
    assert paid_of(engine) == [10000]
    assert balance(client, org, book.credit_accounts[m1]) == "0.00"
    assert balance(client, org, book.owed["PENSION"]) == "80.00"
    clean_books(session_factory, org)
    # and the last receipt too: nothing left anywhere
    rev2 = client.post(
        f"/api/v1/receipts/{r2['id']}/reverse",
        json={"reason": "dup"},
        headers=org.headers("treasurer"),
    )
    assert rev2.status_code == 201, rev2.text
    assert paid_of(engine) == [0]
    assert balance(client, org, book.credit_accounts[m1]) == "0.00"
    assert balance(client, org, book.owed["PENSION"]) == "0.00"
    assert balance(client, org, book.owed["HEALTH"]) == "0.00"
    clean_books(session_factory, org)


def test_verify_catches_a_due_paid_out_of_step(client, org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 1, 30000)
    client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "300.00"),
        headers=org.headers("collector"),
    )
    clean_books(session_factory, org)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE due SET paid = 100"))
    with bound(session_factory, org.id) as session:
        names = {b.invariant for b in verify.run(session, org.id)}
    assert "each due's paid equals the sum of its allocations" in names


@pytest.mark.postgres_only
def test_concurrent_reversals_of_one_receipt_reverse_it_once(
    client, org, session_factory, backend, live_server
) -> None:  # type: ignore[no-untyped-def]
    import concurrent.futures

    import httpx

    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 1, 30000)
    posted = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "300.00"),
        headers=org.headers("collector"),
    ).json()

    def reverse(i: int) -> int:
        with httpx.Client(base_url=live_server, timeout=30) as c:
            return c.post(
                f"/api/v1/receipts/{posted['id']}/reverse",
                json={"reason": f"r{i}"},
                headers=org.headers("treasurer"),
            ).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(reverse, range(4)))
    assert codes == [201, 409, 409, 409]
    clean_books(session_factory, org)


def test_generated_dues_take_prepaid_credit_through_the_api(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    """End to end: enrol, prepay, generate dues (POST /dues/generate): the credit pays them."""
    book = standard_book(session_factory, org)
    bus = str(book.units["BUS-1"])
    h = org.headers("treasurer")
    r = client.post(
        "/api/v1/enrolments",
        json={"unit_id": bus, "scheme_code": "transport-daily", "starts_on": "2026-11-01"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    paid = client.post(
        "/api/v1/receipts",
        json=receipt({"unit_id": bus}, "125.00"),
        headers=org.headers("collector"),
    ).json()
    assert paid["credit"] == "125.00"
    gen = client.post("/api/v1/dues/generate", json={"through": "2026-11-03"}, headers=h)
    assert gen.status_code in (200, 201), gen.text
    dues = client.get(f"/api/v1/dues?unit_id={bus}", headers=h).json()["items"]
    by_period = sorted((d["period_start"], d["paid"]) for d in dues)
    assert by_period == [("2026-11-01", "50.00"), ("2026-11-02", "50.00"), ("2026-11-03", "25.00")]
    assert balance(client, org, book.credit_accounts[book.units["BUS-1"]]) == "0.00"
    clean_books(session_factory, org)
