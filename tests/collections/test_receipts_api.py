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
    return {
        **payer,
        "amount": amount,
        "currency": "DOP",
        "received_at": AT,
        "channel": "cash",
        **extra,
    }


def test_collector_receipt_allocates_oldest_first_and_books_it(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    old, new = add_dues(
        session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 2, 30000
    )
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


def test_desk_bank_and_mobile_receipts_use_clearing_accounts_and_leftover_is_credit(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m2 = book.members["M-002"]
    h = org.headers("treasurer")
    numbers = []
    for channel, amount in [("cash", "10.00"), ("bank", "20.00"), ("mobile_money", "30.50")]:
        r = client.post(
            "/api/v1/receipts",
            json=receipt({"member_id": str(m2)}, amount, channel=channel),
            headers=h,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert (
            body["allocations"] == [] and body["credit"] == amount and body["collector_id"] is None
        )
        numbers.append(body["receipt_number"])
    assert numbers == [1, 2, 3]
    accounts = {
        a["code"]: a["id"]
        for a in client.get("/api/v1/accounts?limit=500", headers=h).json()["items"]
    }
    assert balance(client, org, accounts["CASH:DESK"]) == "10.00"
    assert balance(client, org, accounts["BANK:CLEARING"]) == "20.00"
    assert balance(client, org, accounts["MOBILE_MONEY:CLEARING"]) == "30.50"
    # the member's prepaid credit is a liability: positive on its normal (credit) side
    assert balance(client, org, book.credit_accounts[m2]) == "60.50"
    assert count(engine, "allocation") == 0


def test_unit_receipt_is_shared_by_covered_crew_then_owner(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    from app.core.database import unit_of_work
    from tests.collections.factories import make_member, make_unit

    book = standard_book(session_factory, org)
    bus = book.units["BUS-1"]
    add_dues(session_factory, book, "transport-daily", ("unit", bus), date(2026, 11, 1), 2, 5000)
    r = client.post(
        "/api/v1/receipts",
        json=receipt({"unit_id": str(bus)}, "75.01"),
        headers=org.headers("collector"),
    )
    assert r.status_code == 201, r.text
    assert [a["amount"] for a in r.json()["allocations"]] == ["50.00", "25.01"]
    with engine.connect() as conn:
        per_member = dict(
            conn.execute(
                sa.text("SELECT member_id, sum(amount) FROM contribution_share GROUP BY member_id")
            ).all()
        )
        fees = conn.execute(sa.text("SELECT sum(amount) FROM allocation")).scalar_one()
    # 5% fee first (2.50 + 1.25), the rest shared by the two covered crew members exactly
    assert fees == 7501 and sum(per_member.values()) == 7501 - 250 - 125
    # equal shares of each fund's part, the odd minor unit to the lower member id each time
    low, high = sorted(per_member.values())
    assert high - low <= 6

    with unit_of_work(session_factory, org.id) as session:
        owner = make_member(session, book, "M-OWN")
        driver = make_member(session, book, "M-DRV")
        # no covered crew: its contributions count for its owner
        lone = make_unit(
            session,
            book,
            "BUS-2",
            [(driver, "driver", False), (owner, "owner", False)],
            owner=owner,
        )
        nobody = make_unit(session, book, "BUS-3", [])
    add_dues(session_factory, book, "transport-daily", ("unit", lone), date(2026, 11, 1), 1, 5000)
    r = client.post(
        "/api/v1/receipts",
        json=receipt({"unit_id": str(lone)}, "50.00"),
        headers=org.headers("collector"),
    )
    assert r.status_code == 201, r.text
    with engine.connect() as conn:
        owners = (
            conn.execute(
                sa.text(
                    "SELECT DISTINCT member_id FROM contribution_share s JOIN allocation a "
                    "ON a.id = s.allocation_id WHERE a.receipt_id = :r"
                ),
                {
                    "r": r.json()["id"]
                    if engine.dialect.name == "postgresql"
                    else r.json()["id"].replace("-", "")
                },
            )
            .scalars()
            .all()
        )
    assert [str(o).replace("-", "") for o in owners] == [str(owner).replace("-", "")]

    before = count(engine, "receipt")
    r = client.post(
        "/api/v1/receipts",
        json=receipt({"unit_id": str(nobody)}, "50.00"),
        headers=org.headers("collector"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "unit_id", r.text
    assert count(engine, "receipt") == before


def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    client, org, make_org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = str(book.members["M-001"])
    other = make_org("OTHER", "XOF")
    other_book = standard_book(session_factory, other)
    h = org.headers("collector")
    cases = [
        (receipt({"member_id": m1}, "10.001"), "amount", "at most 2 decimals"),
        (receipt({"member_id": m1}, "0.00"), "amount", "greater than zero"),
        (receipt({"member_id": m1}, "-5.00"), "amount", "negative"),
        (receipt({"member_id": m1}, "99999999999999999"), "amount", "beyond"),
        (receipt({"member_id": m1}, "10.00", currency="XOF"), "currency", "DOP"),
        (receipt({"member_id": m1}, "10.00", currency="ZZZ"), "currency", "not a currency"),
        (
            receipt({"member_id": m1, "unit_id": str(book.units["BUS-1"])}, "1.00"),
            "member_id",
            "exactly one",
        ),
        (receipt({}, "1.00"), "member_id", "exactly one"),
        (
            receipt({"member_id": str(other_book.members["M-001"])}, "1.00"),
            "member_id",
            "no such member",
        ),
        (
            receipt({"member_id": m1}, "1.00", received_at="2026-11-20T09:30:00"),
            "received_at",
            "timezone",
        ),
        (
            receipt({"member_id": m1}, "1.00", received_at="2999-01-01T00:00:00Z"),
            "received_at",
            "future",
        ),
        (receipt({"member_id": m1}, "1.00", channel="cheque"), "channel", ""),
        (receipt({"member_id": m1}, 10), "amount", "decimal strings"),
        (receipt({"member_id": m1}, "1.00", tip="x"), "tip", ""),
    ]
    for body, field, why in cases:
        r = client.post("/api/v1/receipts", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"][0]["field"] == field and why in r.json()["detail"], (body, r.text)
    r = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": m1}, "1.00", collector_id=str(book.members["M-001"])),
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "collector_id"
    assert count(engine, "receipt") == 0 and count(engine, "journal_entry") == 0
    assert count(engine, "receipt_counter") == 0

    # a refused request gives no number away: the next receipt is number 1
    ok = client.post("/api/v1/receipts", json=receipt({"member_id": m1}, "1.00"), headers=h)
    assert ok.status_code == 201 and ok.json()["receipt_number"] == 1


def test_roles_and_organisations(client, org, make_org, session_factory) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    body = receipt({"member_id": str(book.members["M-001"])}, "5.00")
    for role in ("auditor", "admin", "fund_office"):
        assert (
            client.post("/api/v1/receipts", json=body, headers=org.headers(role)).status_code == 403
        )
    mine = client.post("/api/v1/receipts", json=body, headers=org.headers("collector")).json()
    desk = client.post("/api/v1/receipts", json=body, headers=org.headers("treasurer")).json()
    other = make_org("OTHER", "DOP")
    assert (
        client.get(f"/api/v1/receipts/{mine['id']}", headers=other.headers("auditor")).status_code
        == 404
    )
    r = client.post(
        f"/api/v1/receipts/{mine['id']}/reverse",
        json={"reason": "x"},
        headers=other.headers("treasurer"),
    )
    assert r.status_code == 404
    # a collector sees its own receipts only, and cannot post as another collector
    assert (
        client.get(f"/api/v1/receipts/{desk['id']}", headers=org.headers("collector")).status_code
        == 404
    )
    listed = client.get("/api/v1/receipts", headers=org.headers("collector")).json()["items"]
    assert [r["id"] for r in listed] == [mine["id"]]
    import uuid as _uuid

    r = client.post(
        "/api/v1/receipts",
        json={**body, "collector_id": str(_uuid.uuid4())},
        headers=org.headers("collector"),
    )
    assert r.status_code == 403
    # a treasurer may name the collector
    r = client.post(
        "/api/v1/receipts",
        json={**body, "collector_id": mine["collector_id"]},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 201 and r.json()["collector_id"] == mine["collector_id"]


def test_list_filters_and_pages(client, org, session_factory) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1, m2 = str(book.members["M-001"]), str(book.members["M-002"])
    h = org.headers("treasurer")
    for i in range(5):
        payer = m1 if i % 2 == 0 else m2
        at = f"2026-11-{10 + i}T12:00:00Z"
        r = client.post(
            "/api/v1/receipts",
            json=receipt({"member_id": payer}, "1.00", received_at=at),
            headers=h,
        )
        assert r.status_code == 201
    page = client.get("/api/v1/receipts?limit=2", headers=h).json()
    assert [r["receipt_number"] for r in page["items"]] == [5, 4]
    page2 = client.get(f"/api/v1/receipts?limit=2&cursor={page['next_cursor']}", headers=h).json()
    assert [r["receipt_number"] for r in page2["items"]] == [3, 2]
    assert [
        r["receipt_number"]
        for r in client.get(f"/api/v1/receipts?member_id={m1}", headers=h).json()["items"]
    ] == [5, 3, 1]
    ranged = client.get("/api/v1/receipts?from=2026-11-11&to=2026-11-12", headers=h).json()["items"]
    assert [r["receipt_number"] for r in ranged] == [3, 2]
    assert client.get("/api/v1/receipts?cursor=nonsense", headers=h).status_code == 422


def _counter(text: str, sample: str) -> float:
    """The value of one sample line of the Prometheus text (0 if absent)."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


def test_metrics_count_receipts_posted_and_reversed(client, org, session_factory) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    posted = 'coopledger_receipts_posted_total{channel="cash"}'
    bank = 'coopledger_receipts_posted_total{channel="bank"}'
    reversed_ = "coopledger_receipts_reversed_total"
    before = client.get("/metrics").text
    h = org.headers("treasurer")
    ids = []
    for i, channel in enumerate(("cash", "cash", "bank")):
        r = client.post(
            "/api/v1/receipts",
            json=receipt({"member_id": str(m1)}, "10.00", channel=channel),
            headers={**h, "Idempotency-Key": f"metrics-{i}"},
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    # a retry answers from the idempotency record and counts nothing; a refused one neither
    again = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "10.00", channel="cash"),
        headers={**h, "Idempotency-Key": "metrics-0"},
    )
    assert again.status_code == 201
    refused = client.post(
        "/api/v1/receipts", json=receipt({"member_id": str(m1)}, "0.00"), headers=h
    )
    assert refused.status_code == 422
    r = client.post(
        f"/api/v1/receipts/{ids[0]}/reverse",
        json={"reason": "wrong member"},
        headers={**h, "Idempotency-Key": "metrics-rev"},
    )
    assert r.status_code == 201, r.text
    after = client.get("/metrics").text
    assert _counter(after, posted) - _counter(before, posted) == 2
    assert _counter(after, bank) - _counter(before, bank) == 1
    assert _counter(after, reversed_) - _counter(before, reversed_) == 1
