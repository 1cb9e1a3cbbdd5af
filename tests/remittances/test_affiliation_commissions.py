"""Affiliation batches listed, and the fund paying the commissions they earned: booked as
income owed by the fund, then moved from the receivable into the bank, once, a difference
flagged and left in the receivable."""

from __future__ import annotations

from tests.remittances.conftest import balance, count
from tests.remittances.factories import bank_account, make_fund, make_member

COMMISSION_INVARIANT = "each fund's affiliation commissions agree with the ledger"


def _breaches(session_factory, org_id) -> list[str]:  # type: ignore[no-untyped-def]
    from app.core import verify
    from app.core.database import unit_of_work

    with unit_of_work(session_factory, org_id) as s:
        return [f"{b.invariant}: {b.detail}" for b in verify.run(s) if "commission" in b.invariant]


def _batch(client, h, fund: str, ids: list[str]) -> str:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/affiliations", json={"fund_code": fund, "member_ids": ids}, headers=h)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _accept(client, h, bid: str, ids: list[str]) -> dict:  # type: ignore[no-untyped-def]
    lines = [
        # one number per member: a fund never gives one number to two people (migration 0011)
        {"member_id": m, "status": "accepted", "affiliation_number": f"N-{m}"}
        for m in ids
    ]
    r = client.post(f"/api/v1/affiliations/{bid}/acknowledgement", json={"lines": lines}, headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_affiliations_are_listed_newest_first_and_a_fund_office_sees_its_own(
    client, org, books
) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        make_fund(s, "FUND")
        make_fund(s, "OTHER")
        ids = [str(make_member(s, f"M-{i}").id) for i in range(4)]
    h = org.headers("treasurer")
    first = _batch(client, h, "FUND", ids[:1])
    second = _batch(client, h, "OTHER", ids[1:2])
    third = _batch(client, h, "FUND", ids[2:4])
    _accept(client, h, first, ids[:1])

    page = client.get("/api/v1/affiliations", params={"limit": 2}, headers=h).json()
    assert [b["id"] for b in page["items"]] == [third, second]
    assert "lines" not in page["items"][0] and page["items"][0]["line_count"] == 2
    rest = client.get(
        "/api/v1/affiliations", params={"limit": 2, "cursor": page["next_cursor"]}, headers=h
    ).json()
    assert [b["id"] for b in rest["items"]] == [first] and rest["next_cursor"] is None
    by_fund = client.get("/api/v1/affiliations", params={"fund_code": "FUND"}, headers=h).json()
    assert [b["id"] for b in by_fund["items"]] == [third, first]
    done = client.get("/api/v1/affiliations", params={"status": "acknowledged"}, headers=h).json()
    assert [(b["id"], b["status"]) for b in done["items"]] == [(first, "acknowledged")]
    assert (
        client.get("/api/v1/affiliations", params={"status": "nope"}, headers=h).status_code == 422
    )
    bad = client.get("/api/v1/affiliations", params={"cursor": "zzz"}, headers=h)
    assert bad.status_code == 422

    fo = org.headers("fund_office")  # bound to FUND
    mine = client.get("/api/v1/affiliations", headers=fo).json()
    assert [b["id"] for b in mine["items"]] == [third, first]
    assert all(b["fund_code"] == "FUND" for b in mine["items"])
    other = client.get("/api/v1/affiliations", params={"fund_code": "OTHER"}, headers=fo).json()
    assert other == {"items": [], "next_cursor": None}
    assert client.get(f"/api/v1/affiliations/{second}", headers=fo).status_code == 404


def test_the_fund_pays_the_commissions_once_and_a_difference_is_flagged(
    client, org, books, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        make_fund(s, "FUND", config={"commission_per_affiliation": "250.00"})
        make_fund(s, "PLAIN")
        ids = [str(make_member(s, f"M-{i}").id) for i in range(5)]
        usd = bank_account(s, "BANK:USD", currency="USD")
    h = org.headers("treasurer")
    bid = _batch(client, h, "FUND", ids[:3])
    pay = {"amount": "750.00", "paid_on": "2026-11-25", "reference": "TRF-1"}

    # out of order: the fund has not answered yet, or not for every member
    url = f"/api/v1/affiliations/{bid}/commission-payment"
    r = client.post(url, json=pay, headers=h)
    assert r.status_code == 409 and "answered for every member" in r.json()["detail"]
    _accept(client, h, bid, ids[:2])  # the third is still pending
    assert client.post(url, json=pay, headers=h).status_code == 409
    body = _accept(client, h, bid, ids[:3])
    assert (body["status"], body["commission_total"], body["commission_payment"]) == (
        "acknowledged",
        "750.00",
        None,
    )
    # booked as income, owed by the fund until paid
    assert balance(client, org, "FUND:FUND:COMMISSION_RECEIVABLE") == "750.00"
    assert balance(client, org, "FUND:FUND:COMMISSION_INCOME") == "750.00"

    # a bad request writes nothing
    entries = count(engine, "journal_entry")
    for wrong, field in (
        ({**pay, "amount": "750.001"}, "amount"),
        ({**pay, "amount": "0.00"}, "amount"),
        ({**pay, "bank_account_id": str(usd)}, "bank_account_id"),
    ):
        r = client.post(url, json=wrong, headers=h)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    assert client.post(url, json=pay, headers=org.headers("fund_office")).status_code == 403
    assert count(engine, "journal_entry") == entries
    assert count(engine, "affiliation_commission_payment") == 0

    r = client.post(url, json=pay, headers={**h, "Idempotency-Key": "pay-1"})
    assert r.status_code == 200, r.text
    paid = r.json()["commission_payment"]
    assert (paid["amount"], paid["expected"], paid["difference"], paid["flagged"]) == (
        "750.00",
        "750.00",
        "0.00",
        False,
    )
    assert (paid["paid_on"], paid["reference"]) == ("2026-11-25", "TRF-1")
    assert balance(client, org, "FUND:FUND:COMMISSION_RECEIVABLE") == "0.00"
    assert balance(client, org, "BANK:MAIN") == "750.00"
    # the same request again: the first answer, nothing new; another payment: 409
    again = client.post(url, json=pay, headers={**h, "Idempotency-Key": "pay-1"})
    assert again.status_code == 200 and again.json() == r.json()
    twice = client.post(url, json=pay, headers=h)
    assert twice.status_code == 409 and "already paid" in twice.json()["detail"]
    assert count(engine, "affiliation_commission_payment") == 1
    assert count(engine, "journal_entry", "kind = 'affiliation.commission_payment'") == 1
    assert count(engine, "audit_event", "action = 'affiliation.commission_payment'") == 1
    listed = client.get("/api/v1/affiliations", headers=h).json()["items"][0]
    assert listed["commission_payment"]["amount"] == "750.00"

    # a short payment is booked as it arrived and flagged; the rest stays receivable
    short = _batch(client, h, "FUND", ids[3:5])
    _accept(client, h, short, ids[3:5])
    r = client.post(
        f"/api/v1/affiliations/{short}/commission-payment",
        json={"amount": "400.00", "paid_on": "2026-11-26"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    flagged = r.json()["commission_payment"]
    assert (flagged["expected"], flagged["difference"], flagged["flagged"]) == (
        "500.00",
        "-100.00",
        True,
    )
    assert balance(client, org, "FUND:FUND:COMMISSION_RECEIVABLE") == "100.00"
    assert balance(client, org, "BANK:MAIN") == "1150.00"
    assert _breaches(session_factory, org.id) == []

    # a fund without a commission: nothing to pay
    plain = _batch(client, h, "PLAIN", ids[:1])
    _accept(client, h, plain, ids[:1])
    r = client.post(f"/api/v1/affiliations/{plain}/commission-payment", json=pay, headers=h)
    assert r.status_code == 409 and "no commission" in r.json()["detail"]


def test_verify_sees_a_commission_payment_the_ledger_does_not_have(
    client, org, books, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    with books() as s:
        make_fund(s, "FUND", config={"commission_per_affiliation": "10.00"})
        ids = [str(make_member(s, "M-1").id)]
    h = org.headers("treasurer")
    bid = _batch(client, h, "FUND", ids)
    _accept(client, h, bid, ids)
    r = client.post(
        f"/api/v1/affiliations/{bid}/commission-payment",
        json={"amount": "10.00", "paid_on": "2026-11-25"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert _breaches(session_factory, org.id) == []
    with engine.begin() as conn:  # a payment row claiming more than its entry moved
        conn.execute(sa.text("UPDATE affiliation_commission_payment SET amount = 1500"))
    assert any("commissions paid 1500" in b for b in _breaches(session_factory, org.id))
