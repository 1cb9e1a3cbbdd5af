"""The ledger over HTTP: accounts, balanced posting, idempotency, reversal, balances, history."""

from __future__ import annotations

import sqlalchemy as sa


def open_accounts(client, org, *specs):  # type: ignore[no-untyped-def]
    ids = []
    for code, type_ in specs:
        r = client.post(
            "/api/v1/accounts",
            json={"code": code, "name": code.title(), "type": type_, "currency": org.currency},
            headers=org.headers("treasurer"),
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def entry(description, debit, credit, amount, effective_on="2026-11-20"):  # type: ignore[no-untyped-def]
    return {
        "description": description,
        "effective_on": effective_on,
        "postings": [
            {"account_id": debit, "amount": amount, "direction": "debit"},
            {"account_id": credit, "amount": amount, "direction": "credit"},
        ],
    }


def count(engine, table: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_post_balance_and_history(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    bank, income = open_accounts(client, org, ("BANK", "asset"), ("FEES", "income"))
    h = org.headers("treasurer")
    for i, (amount, day) in enumerate(
        [("100.00", "2026-11-01"), ("50.25", "2026-11-10"), ("0.75", "2026-11-20")]
    ):
        r = client.post(
            "/api/v1/journal", json=entry(f"fee {i}", bank, income, amount, day), headers=h
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["kind"] == "manual" and body["created_by"] == "key:treasurer key"
        assert {p["direction"] for p in body["postings"]} == {"debit", "credit"}

    assert client.get(f"/api/v1/accounts/{bank}/balance", headers=h).json()["balance"] == "151.00"
    # an income account's credit balance is positive on its normal side
    assert client.get(f"/api/v1/accounts/{income}/balance", headers=h).json()["balance"] == "151.00"
    as_of = client.get(f"/api/v1/accounts/{bank}/balance?as_of=2026-11-09", headers=h).json()
    assert as_of == {
        "account_id": bank,
        "currency": "DOP",
        "balance": "100.00",
        "as_of": "2026-11-09",
    }

    page1 = client.get(f"/api/v1/accounts/{bank}/history?limit=2", headers=h).json()
    assert [(i["amount"], i["balance_after"]) for i in page1["items"]] == [
        ("0.75", "151.00"),
        ("50.25", "150.25"),
    ]
    page2 = client.get(
        f"/api/v1/accounts/{bank}/history?limit=2&cursor={page1['next_cursor']}", headers=h
    ).json()
    assert [(i["amount"], i["balance_after"]) for i in page2["items"]] == [("100.00", "100.00")]
    assert page2["next_cursor"] is None
    to = client.get(f"/api/v1/accounts/{bank}/history?to=2026-11-10", headers=h).json()
    assert [i["balance_after"] for i in to["items"]] == ["150.25", "100.00"]

    journal = client.get(f"/api/v1/journal?account_id={bank}&limit=2", headers=h).json()
    assert len(journal["items"]) == 2 and journal["next_cursor"]
    assert count(engine, "posting") == 6 and count(engine, "journal_entry") == 3


def test_unbalanced_and_inexact_are_refused_and_write_nothing(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    bank, income = open_accounts(client, org, ("BANK", "asset"), ("FEES", "income"))
    h = org.headers("treasurer")
    bad = entry("x", bank, income, "10.00")
    bad["postings"][1]["amount"] = "9.99"
    r = client.post("/api/v1/journal", json=bad, headers=h)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "postings" and "do not balance" in r.json()["detail"]

    cases = [
        ("10.001", "postings.0.amount", "at most 2 decimals"),
        ("0.00", "postings.0.amount", "greater than zero"),
        ("-5.00", "postings.0.amount", "negative"),
        ("99999999999999999", "postings.0.amount", "beyond"),
    ]
    for amount, field, why in cases:
        body = entry("x", bank, income, amount)
        r = client.post("/api/v1/journal", json=body, headers=h)
        assert r.status_code == 422, (amount, r.text)
        assert r.json()["errors"][0]["field"] == field and why in r.json()["detail"], r.text

    number = entry("x", bank, income, "10.00")
    number["postings"][0]["amount"] = 10.0
    r = client.post("/api/v1/journal", json=number, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "postings.0.amount"
    assert count(engine, "posting") == 0 and count(engine, "journal_entry") == 0


def test_idempotency_replays_byte_for_byte_and_refuses_other_payload(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    bank, income = open_accounts(client, org, ("BANK", "asset"), ("FEES", "income"))
    h = org.headers("treasurer", **{"Idempotency-Key": "sheet-7-item-3"})
    first = client.post("/api/v1/journal", json=entry("x", bank, income, "10.00"), headers=h)
    again = client.post("/api/v1/journal", json=entry("x", bank, income, "10.00"), headers=h)
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    other = client.post("/api/v1/journal", json=entry("x", bank, income, "11.00"), headers=h)
    assert other.status_code == 409 and other.json()["type"] == "/problems/idempotency-key-reused"
    assert count(engine, "journal_entry") == 1

    # a failed request retried fails the same way, byte for byte
    h2 = org.headers("treasurer", **{"Idempotency-Key": "bad-one"})
    bad = entry("x", bank, income, "10.00")
    bad["postings"][1]["amount"] = "9.00"
    f1 = client.post("/api/v1/journal", json=bad, headers=h2)
    f2 = client.post("/api/v1/journal", json=bad, headers=h2)
    assert f1.status_code == f2.status_code == 422 and f1.content == f2.content
    assert count(engine, "journal_entry") == 1


def test_reversal_once(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    bank, income = open_accounts(client, org, ("BANK", "asset"), ("FEES", "income"))
    h = org.headers("treasurer")
    original = client.post(
        "/api/v1/journal", json=entry("x", bank, income, "10.00"), headers=h
    ).json()
    r = client.post(f"/api/v1/journal/{original['id']}/reverse", json={"reason": "typo"}, headers=h)
    assert r.status_code == 201
    rev = r.json()
    assert (
        rev["kind"] == "reversal"
        and rev["reverses_id"] == original["id"]
        and rev["reason"] == "typo"
    )
    assert client.get(f"/api/v1/accounts/{bank}/balance", headers=h).json()["balance"] == "0.00"
    assert (
        client.get(f"/api/v1/journal/{original['id']}", headers=h).json()["reversed_by_id"]
        == rev["id"]
    )

    again = client.post(
        f"/api/v1/journal/{original['id']}/reverse", json={"reason": "again"}, headers=h
    )
    assert again.status_code == 409 and "already reversed" in again.json()["detail"]
    of_reversal = client.post(
        f"/api/v1/journal/{rev['id']}/reverse", json={"reason": "x"}, headers=h
    )
    assert of_reversal.status_code == 409
    assert count(engine, "journal_entry") == 2


def test_accounts_and_journal_are_scoped_to_the_callers_organisation(client, make_org) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = make_org("MINE", "DOP"), make_org("THEIRS", "DOP")
    bank, income = open_accounts(client, mine, ("BANK", "asset"), ("FEES", "income"))
    (their_bank,) = open_accounts(client, theirs, ("BANK", "asset"))
    posted = client.post(
        "/api/v1/journal", json=entry("x", bank, income, "10.00"), headers=mine.headers()
    ).json()
    h = theirs.headers()
    assert client.get(f"/api/v1/accounts/{bank}", headers=h).status_code == 404
    assert client.get(f"/api/v1/accounts/{bank}/balance", headers=h).status_code == 404
    assert client.get(f"/api/v1/accounts/{bank}/history", headers=h).status_code == 404
    assert client.get(f"/api/v1/journal/{posted['id']}", headers=h).status_code == 404
    assert (
        client.post(
            f"/api/v1/journal/{posted['id']}/reverse", json={"reason": "x"}, headers=h
        ).status_code
        == 404
    )
    visible = {a["id"] for a in client.get("/api/v1/accounts", headers=h).json()["items"]}
    assert their_bank in visible and not visible & {bank, income}
    assert client.get("/api/v1/journal", headers=h).json()["items"] == []
    # posting from their account to mine is "no such account" for them
    r = client.post("/api/v1/journal", json=entry("x", their_bank, income, "1.00"), headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "postings.1.account_id"


def test_roles(client, org) -> None:  # type: ignore[no-untyped-def]
    (bank,) = open_accounts(client, org, ("BANK", "asset"))
    assert client.get("/api/v1/accounts", headers=org.headers("auditor")).status_code == 200
    assert client.get("/api/v1/accounts", headers=org.headers("collector")).status_code == 403
    assert client.get("/api/v1/accounts", headers=org.headers("fund_office")).status_code == 403
    r = client.post(
        "/api/v1/accounts",
        json={"code": "X", "name": "x", "type": "asset", "currency": "DOP"},
        headers=org.headers("auditor"),
    )
    assert r.status_code == 403 and r.json()["type"] == "/problems/forbidden"
    assert client.get("/api/v1/accounts").status_code == 401
    r = client.post(
        "/api/v1/journal", json=entry("x", bank, bank, "1.00"), headers=org.headers("admin")
    )
    assert r.status_code == 403


def test_account_validation(client, org) -> None:  # type: ignore[no-untyped-def]
    h = org.headers("admin")
    ok = {"code": "CASH", "name": "Cash", "type": "asset", "currency": "DOP"}
    assert client.post("/api/v1/accounts", json=ok, headers=h).status_code == 201
    dup = client.post("/api/v1/accounts", json=ok, headers=h)
    assert dup.status_code == 409
    for field, value in [("type", "cash"), ("currency", "XXX"), ("currency", "dop"), ("code", "")]:
        r = client.post("/api/v1/accounts", json={**ok, "code": "C2", field: value}, headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    r = client.post("/api/v1/accounts", json={**ok, "code": "C3", "colour": "red"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "colour"
