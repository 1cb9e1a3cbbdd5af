"""Payment channels with the generic_json adapter (issue 14): each notification kept once,
matched to its payer or held in suspense, the suspense queue resolved; the books verify."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from app.core.database import unit_of_work
from app.payments.adapters.generic_json import signature
from tests.collections.factories import add_dues, make_member, standard_book
from tests.collections.test_receipts_api import count
from tests.collections.test_reversal_and_credit import clean_books, paid_of

PATH = "/api/v1/payment-channels"


@pytest.fixture
def till(client, org, session_factory):  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    r = client.post(
        PATH,
        json={"code": "TILL-1", "adapter": "generic_json", "currency": "DOP"},
        headers=org.headers("admin"),
    )
    assert r.status_code == 201, r.text
    return book, r.json()


def send(client, till, body: dict, *, secret: str | None = None):  # type: ignore[no-untyped-def]
    raw = json.dumps(body).encode()
    url = till["inbound_url"].split("testserver", 1)[1]
    sig = signature(secret or till["secret"], raw)
    return client.post(
        url, content=raw, headers={"X-Signature": sig, "Content-Type": "application/json"}
    )


def payment(txid: str, reference: str | None, amount: str = "150.00", **extra: object) -> dict:
    return {
        "transaction_id": txid,
        "amount": amount,
        "currency": "DOP",
        "account_reference": reference,
        "occurred_at": "2026-11-20T09:15:00-04:00",
        **extra,
    }


def suspense_balance(client, org) -> str:  # type: ignore[no-untyped-def]
    accounts = client.get("/api/v1/accounts", params={"limit": 500}, headers=org.headers()).json()
    (acc,) = [a for a in accounts["items"] if a["code"] == "PAYCH:TILL-1:SUSPENSE"]
    return client.get(f"/api/v1/accounts/{acc['id']}/balance", headers=org.headers()).json()[
        "balance"
    ]


def test_a_channel_shows_its_secret_once(client, org, till) -> None:  # type: ignore[no-untyped-def]
    _, created = till
    assert created["secret"].startswith("pcs_") and len(created["secret"]) > 40
    assert "/api/v1/payment-channels/inbound/" in created["inbound_url"]
    seen = client.get(f"{PATH}/TILL-1", headers=org.headers("treasurer")).json()
    assert "secret" not in seen and seen["inbound_url"] == created["inbound_url"]
    again = client.post(
        PATH, json={"code": "TILL-1", "adapter": "generic_json", "currency": "DOP"},
        headers=org.headers("admin"),
    )  # fmt: skip
    assert again.status_code == 409
    bad = client.post(
        PATH,
        json={"code": "x y", "adapter": "nope", "currency": "XOF"},
        headers=org.headers("admin"),
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"code", "currency"}
    assert client.post(PATH, json={}, headers=org.headers("treasurer")).status_code == 403


def test_a_notification_with_a_member_number_posts_its_receipt_once(
    client, org, till, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book, channel = till
    m1 = book.members["M-001"]
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 2, 10000)
    r = send(client, channel, payment("TX1", " m-001 "))
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["status"] == "matched" and first["receipt_id"]
    receipt = client.get(f"/api/v1/receipts/{first['receipt_id']}", headers=org.headers()).json()
    assert (receipt["channel"], receipt["reference"], receipt["amount"]) == (
        "mobile_money",
        "TX1",
        "150.00",
    )
    assert receipt["received_at"].startswith("2026-11-20T13:15:00")
    assert paid_of(engine) == [10000, 5000]
    # a retry, a duplicate delivery: the same answer, nothing new
    for _ in range(2):
        again = send(client, channel, payment("TX1", " m-001 "))
        assert again.json() == first
    assert count(engine, "payment_notification") == 1 and count(engine, "receipt") == 1
    # the same id with another amount: flagged, not posted
    other = send(client, channel, payment("TX1", "M-001", "15.00"))
    assert other.status_code == 200 and other.json()["status"] == "duplicate"
    assert "TX1" in other.json()["reason"]
    assert send(client, channel, payment("TX1", "M-001", "15.00")).json() == other.json()
    assert count(engine, "payment_notification") == 2 and count(engine, "receipt") == 1
    clean_books(session_factory, org)


def test_a_bad_signature_is_refused_and_kept(client, org, till, engine, session_factory) -> None:  # type: ignore[no-untyped-def]
    _, channel = till
    r = send(client, channel, payment("TX9", "M-001"), secret="pcs_not-the-secret")
    assert r.status_code == 401
    listed = client.get(
        "/api/v1/payment-notifications", params={"status": "refused"}, headers=org.headers()
    ).json()["items"]
    assert [(n["status"], n["reason_code"]) for n in listed] == [
        ("refused", "payment.bad_signature")
    ]
    assert count(engine, "receipt") == 0
    url = channel["inbound_url"].split("testserver", 1)[1]
    assert client.post(url + "x", content=b"{}").status_code == 404
    unsigned = client.post(url, content=json.dumps(payment("TX9", "M-001")).encode())
    assert unsigned.status_code == 401
    # the real one after the forgeries is still taken
    assert send(client, channel, payment("TX9", "M-001")).json()["status"] == "matched"
    clean_books(session_factory, org)


def test_unmatched_money_waits_in_suspense_until_matched_or_refunded(
    client, org, till, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book, channel = till
    m1 = book.members["M-001"]
    with unit_of_work(session_factory, org.id) as session:
        from app.core.audit import CLI_ACTOR
        from app.members.schemas import MemberCreate
        from app.members.service import create_member

        for n, phone in (
            ("M-010", "+1 809-555-0101"),
            ("M-011", "809 555 0199"),
            ("M-012", "8095550199"),
        ):
            create_member(
                session, CLI_ACTOR,
                MemberCreate(member_number=n, full_name=f"Member {n}", joined_on=date(2026, 1, 1), phone=phone),
            )  # fmt: skip
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 1, 10000)
    unknown = send(client, channel, payment("TX2", "ZZ-404", "40.00")).json()
    assert unknown["status"] == "suspense" and "ZZ-404" in unknown["reason"]
    by_phone = send(client, channel, payment("TX3", None, "20.00", msisdn="18095550101")).json()
    assert by_phone["status"] == "matched"
    twins = send(client, channel, payment("TX4", "", "30.00", msisdn="+18095550199")).json()
    assert twins["status"] == "suspense"
    failed = send(client, channel, payment("TX5", "M-001", status="failed")).json()
    assert failed["status"] == "refused"
    assert suspense_balance(client, org) == "70.00"
    clean_books(session_factory, org)

    queue = client.get(
        "/api/v1/payment-notifications", params={"status": "suspense"}, headers=org.headers()
    ).json()["items"]
    assert {n["transaction_id"] for n in queue} == {"TX2", "TX4"}
    matched = client.post(
        f"/api/v1/payment-notifications/{unknown['notification_id']}/match",
        json={"member_id": str(m1)},
        headers=org.headers("treasurer"),
    )
    assert matched.status_code == 200, matched.text
    assert matched.json()["status"] == "matched" and matched.json()["receipt_id"]
    again = client.post(
        f"/api/v1/payment-notifications/{unknown['notification_id']}/match",
        json={"member_id": str(m1)},
        headers=org.headers("treasurer"),
    )
    assert again.status_code == 409
    refund = client.post(
        f"/api/v1/payment-notifications/{twins['notification_id']}/refund",
        json={"reason": "two members share this phone; the payer asked for it back"},
        headers=org.headers("treasurer"),
    )
    assert refund.status_code == 200 and refund.json()["status"] == "refunded"
    assert suspense_balance(client, org) == "0.00"
    assert client.post(
        f"/api/v1/payment-notifications/{twins['notification_id']}/refund",
        json={"reason": "again"}, headers=org.headers("collector"),
    ).status_code == 403  # fmt: skip
    clean_books(session_factory, org)


def test_a_reversed_payment_receipt_puts_the_payment_back_in_suspense(
    client, org, till, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    """A payment matched to the wrong payer: the treasurer reverses its receipt; the money is
    held in suspense again, matched to the right payer (or refunded); the books verify."""
    book, channel = till
    m1, m2 = book.members["M-001"], book.members["M-002"]
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 1, 10000)
    with unit_of_work(session_factory, org.id) as session:
        m3 = make_member(session, book, "M-003")
    add_dues(session_factory, book, "monthly", ("member", m3), date(2026, 9, 1), 1, 10000)
    first = send(client, channel, payment("TX7", "M-001", "60.00")).json()
    assert first["status"] == "matched"
    r = client.post(
        f"/api/v1/receipts/{first['receipt_id']}/reverse",
        json={"reason": "the payer is M-003, not M-001"},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 201, r.text
    row = client.get(
        f"/api/v1/payment-notifications/{first['notification_id']}", headers=org.headers()
    ).json()
    assert (row["status"], row["receipt_id"], row["reason_code"]) == (
        "suspense",
        None,
        "payment.receipt_reversed",
    )
    assert suspense_balance(client, org) == "60.00"
    clean_books(session_factory, org)
    # the same provider notification again still answers as the payment now stands
    assert send(client, channel, payment("TX7", "M-001", "60.00")).json()["status"] == "suspense"
    matched = client.post(
        f"/api/v1/payment-notifications/{first['notification_id']}/match",
        json={"member_id": str(m3)},
        headers=org.headers("treasurer"),
    )
    assert matched.status_code == 200, matched.text
    assert suspense_balance(client, org) == "0.00"
    clean_books(session_factory, org)
    # reversed again (out of suspense this time): back in suspense, then refunded
    second = matched.json()["receipt_id"]
    r = client.post(
        f"/api/v1/receipts/{second}/reverse",
        json={"reason": "the payer asked for the money back"},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 201, r.text
    assert suspense_balance(client, org) == "60.00"
    clean_books(session_factory, org)
    refunded = client.post(
        f"/api/v1/payment-notifications/{first['notification_id']}/refund",
        json={"reason": "asked for it back"},
        headers=org.headers("treasurer"),
    )
    assert refunded.json()["status"] == "refunded"
    assert suspense_balance(client, org) == "0.00"
    assert count(engine, "receipt") == 2
    # the receipts were M-001's (reversed) and M-003's (reversed); none is M-002's
    with engine.connect() as conn:
        payers = {r[0] for r in conn.execute(sa.text("SELECT member_id FROM receipt"))}
    assert {str(p).replace("-", "") for p in payers} == {m1.hex, m3.hex} and m2.hex not in {
        str(p).replace("-", "") for p in payers
    }
    clean_books(session_factory, org)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"status": "pending", "amount": "-5.00"}, "payment.bad_amount"),
        ({"status": "pending", "amount": "1e9"}, "payment.bad_amount"),
        ({"amount": "abc"}, "payment.bad_amount"),
        ({"occurred_at": "0001-01-01T00:00:00+05:00"}, "payment.bad_time"),
        ({"occurred_at": "9999-12-31T23:59:59-05:00"}, "payment.bad_time"),
        ({"account_reference": "M-001\u0000"}, None),
        ({"transaction_id": "TX\u0000NUL"}, None),
    ],
)
def test_odd_notifications_are_kept_not_failed(
    client, org, till, session_factory, change: dict, code: str | None
) -> None:  # type: ignore[no-untyped-def]
    _, channel = till
    r = send(client, channel, {**payment("TXODD", "M-001"), **change})
    assert r.status_code == 200, r.text
    if code is not None:
        assert (r.json()["status"], r.json().get("reason")) != ("matched", None)
        listed = client.get(
            f"/api/v1/payment-notifications/{r.json()['notification_id']}", headers=org.headers()
        ).json()
        assert (listed["status"], listed["reason_code"]) == ("refused", code)
    # a NUL in an unsigned body is kept as refused, not a 500
    url = channel["inbound_url"].split("testserver", 1)[1]
    assert client.post(url, content=b'{"a": "\x00"}').status_code == 401
    clean_books(session_factory, org)


def test_a_provider_amount_with_zero_decimals_of_a_currency_without_any() -> None:
    from app.payments.service import provider_amount

    assert provider_amount("1000.00", "XOF") == 1000
    assert provider_amount("1000", "XOF") == 1000
    assert provider_amount("1000.50", "XOF") is None
    assert provider_amount("150.5", "DOP") == 15050
    assert provider_amount("150.505", "DOP") is None
    assert provider_amount("0.00", "DOP") is None
    assert provider_amount("-1", "DOP") is None
    assert provider_amount("", "DOP") is None


def test_days_and_times_out_of_range_are_refused_not_failed(client, org, till) -> None:  # type: ignore[no-untyped-def]
    for params in ({"to": "9999-12-31"}, {"from": "0001-01-01"}):
        r = client.get(f"{PATH}/TILL-1/report", params=params, headers=org.headers())
        assert r.status_code == 422, r.text
    csv = "transaction_id,amount,occurred_at\nTX1,10.00,9999-12-31T23:59:59-05:00\n"
    r = client.post(
        f"{PATH}/TILL-1/statements",
        params={"dry_run": "true"},
        files={"file": ("s.csv", csv.encode(), "text/csv")},
        headers=org.headers(),
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "file"
