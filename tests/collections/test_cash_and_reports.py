"""Collectors and their cash, hand-overs with differences, the statement and the report."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from app.identity.service import create_user
from tests.collections.factories import add_dues, standard_book
from tests.collections.test_receipts_api import balance, count, receipt
from tests.collections.test_reversal_and_credit import clean_books


def open_bank(client, org) -> str:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/accounts",
        json={"code": "BANK:MAIN", "name": "Bank", "type": "asset", "currency": org.currency},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_every_collector_principal_gets_a_cash_account(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory, org.id) as session:
        create_user(
            session, CLI_ACTOR, username="rosa", password="a-long-password", role="collector"
        )
        create_user(
            session, CLI_ACTOR, username="tito", password="a-long-password", role="treasurer"
        )
    listed = client.get("/api/v1/collectors", headers=org.headers("auditor")).json()["items"]
    assert [(c["name"], c["kind"], c["username"], c["cash_balance"]) for c in listed] == [
        ("collector key", "key", None, "0.00"),
        ("rosa", "user", "rosa", "0.00"),
    ]
    assert count(engine, "account", "code LIKE 'COLLECTOR%CASH'") == 2
    rosa = listed[1]["id"]
    r = client.patch(
        f"/api/v1/collectors/{rosa}",
        json={"group": "Santiago branch"},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 200 and r.json()["group"] == "Santiago branch"
    only = client.get(
        "/api/v1/collectors?group=Santiago branch", headers=org.headers("treasurer")
    ).json()["items"]
    assert [c["id"] for c in only] == [rosa]
    assert (
        client.patch(
            f"/api/v1/collectors/{rosa}", json={"group": "x"}, headers=org.headers("collector")
        ).status_code
        == 403
    )
    assert (
        client.get(f"/api/v1/collectors/{org.id}", headers=org.headers("auditor")).status_code
        == 404
    )
    assert count(engine, "audit_event", "action = 'collector.update'") == 1


def test_handover_exact_short_and_over(client, org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    bank = open_bank(client, org)
    client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(book.members["M-001"])}, "500.00"),
        headers=org.headers("collector"),
    )
    collector = client.get("/api/v1/collectors", headers=org.headers("treasurer")).json()["items"][
        0
    ]
    base = {
        "collector_id": collector["id"],
        "currency": "DOP",
        "to_account_id": bank,
        "handed_over_at": "2026-11-21T17:00:00-04:00",
    }
    h = org.headers("treasurer")
    exact = client.post(
        "/api/v1/handovers", json={**base, "amount": "100.00", "reference": "h1"}, headers=h
    )
    assert exact.status_code == 201, exact.text
    assert exact.json()["difference"] == "0.00" and exact.json()["outcome"] == "exact"
    short = client.post(
        "/api/v1/handovers",
        json={**base, "amount": "200.00", "counted_amount": "195.50", "reference": "h2"},
        headers=h,
    ).json()
    assert (short["difference"], short["outcome"]) == ("-4.50", "shortfall")
    over = client.post(
        "/api/v1/handovers",
        json={**base, "amount": "100.00", "counted_amount": "101.00", "reference": "h3"},
        headers=h,
    ).json()
    assert (over["difference"], over["outcome"]) == ("1.00", "surplus")
    accounts = {
        a["code"]: a["id"]
        for a in client.get("/api/v1/accounts?limit=500", headers=h).json()["items"]
    }
    assert balance(client, org, bank) == "396.50"
    assert balance(client, org, accounts["COLLECTOR:SHORTFALL"]) == "4.50"
    assert balance(client, org, accounts["COLLECTOR:SURPLUS"]) == "1.00"
    assert balance(client, org, collector["cash_account_id"]) == "100.00"
    # the collector cannot hand over more than it holds; bad input names the field
    for body, field in [
        ({**base, "amount": "100.01", "reference": "h4"}, "amount"),
        (
            {**base, "amount": "1.00", "counted_amount": "-1.00", "reference": "h4"},
            "counted_amount",
        ),
        (
            {
                **base,
                "amount": "1.00",
                "to_account_id": collector["cash_account_id"],
                "reference": "h4",
            },
            "to_account_id",
        ),
        (
            {
                **base,
                "amount": "1.00",
                "to_account_id": accounts["COLLECTOR:SURPLUS"],
                "reference": "h4",
            },
            "to_account_id",
        ),
        ({**base, "amount": "1.00", "collector_id": bank, "reference": "h4"}, "collector_id"),
        ({**base, "amount": "1.00", "currency": "XOF", "reference": "h4"}, "currency"),
        ({**base, "amount": "1.00"}, "reference"),
    ]:
        r = client.post("/api/v1/handovers", json=body, headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (body, r.text)
    # nothing counted at all: the whole amount is a shortfall
    none = client.post(
        "/api/v1/handovers",
        json={**base, "amount": "100.00", "counted_amount": "0.00", "reference": "lost"},
        headers=h,
    ).json()
    assert none["difference"] == "-100.00"
    assert count(engine, "handover") == 4
    listed = client.get(
        f"/api/v1/handovers?collector_id={collector['id']}", headers=org.headers("collector")
    ).json()
    assert [x["reference"] for x in listed["items"]] == ["lost", "h3", "h2", "h1"]
    assert (
        client.post(
            "/api/v1/handovers",
            json={**base, "amount": "1.00", "reference": "x"},
            headers=org.headers("auditor"),
        ).status_code
        == 403
    )
    clean_books(session_factory, org)


def test_statement_running_balance_and_collections_report(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 1, 30000)
    col = org.headers("collector")
    r1 = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "200.00", received_at="2026-11-02T10:00:00Z"),
        headers=col,
    ).json()
    r2 = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "150.00", received_at="2026-11-03T10:00:00Z"),
        headers=col,
    ).json()
    client.post(
        "/api/v1/receipts",
        json=receipt(
            {"unit_id": str(book.units["BUS-1"])},
            "40.00",
            received_at="2026-11-03T11:00:00Z",
            channel="bank",
        ),
        headers=org.headers("treasurer"),
    )
    client.post(
        f"/api/v1/receipts/{r2['id']}/reverse",
        json={"reason": "bounced"},
        headers=org.headers("treasurer"),
    )
    st = client.get(f"/api/v1/members/{m1}/statement", headers=org.headers("auditor"))
    assert st.status_code == 200, st.text
    body = st.json()
    assert body["opening_balance"] == "0.00" and body["member_number"] == "M-001"
    kinds = [(ln["kind"], ln["change"], ln["balance"]) for ln in body["lines"]]
    assert kinds[:5] == [
        ("due", "300.00", "300.00"),
        ("receipt", "-200.00", "100.00"),
        ("allocation", "0.00", "100.00"),
        ("receipt", "-150.00", "-50.00"),
        ("allocation", "0.00", "-50.00"),
    ]
    assert body["closing_balance"] == "100.00"  # the reversal added r2 back
    assert any(ln["kind"] == "reversal" and ln["change"] == "150.00" for ln in body["lines"])
    later = client.get(
        f"/api/v1/members/{m1}/statement?from=2026-11-03", headers=org.headers("auditor")
    ).json()
    assert later["opening_balance"] == "100.00" and later["lines"][0]["kind"] == "receipt"
    assert (
        client.get(
            f"/api/v1/members/{org.id}/statement", headers=org.headers("auditor")
        ).status_code
        == 404
    )
    assert (
        client.get(
            f"/api/v1/members/{m1}/statement?from=2026-11-05&to=2026-11-01",
            headers=org.headers("auditor"),
        ).status_code
        == 422
    )

    h = org.headers("auditor")
    by_day = client.get("/api/v1/reports/collections?group_by=day", headers=h).json()
    assert [(r["key"], r["receipts"], r["amount"]) for r in by_day["rows"]] == [
        ("2026-11-02", 1, "200.00"),
        ("2026-11-03", 1, "40.00"),
    ]
    assert (by_day["total"], by_day["receipts"], by_day["reversed"]) == ("240.00", 2, 1)
    by_collector = client.get("/api/v1/reports/collections?group_by=collector", headers=h).json()
    assert [(r["label"], r["amount"]) for r in by_collector["rows"]] == [
        ("collector key", "200.00"),
        ("Desk, bank and mobile money", "40.00"),
    ]
    by_fund = client.get("/api/v1/reports/collections?group_by=fund", headers=h).json()
    assert {r["key"]: r["amount"] for r in by_fund["rows"]} == {
        "HEALTH": "40.00",
        "PENSION": "160.00",
        "credit": "40.00",
    }
    by_scheme = client.get(
        "/api/v1/reports/collections?group_by=scheme&from=2026-11-01&to=2026-11-30", headers=h
    ).json()
    assert {r["key"]: r["amount"] for r in by_scheme["rows"]} == {
        "monthly": "200.00",
        "credit": "40.00",
    }
    for report in (by_day, by_collector, by_fund, by_scheme):
        cents = sum(int(r["amount"].replace(".", "")) for r in report["rows"])
        assert cents == 24000
    assert client.get("/api/v1/reports/collections?group_by=week", headers=h).status_code == 422
    assert (
        client.get("/api/v1/reports/collections", headers=org.headers("collector")).status_code
        == 403
    )
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM receipt WHERE status = 'reversed'")
            ).scalar_one()
            == 1
        )
    assert r1["receipt_number"] == 1
    clean_books(session_factory, org)
