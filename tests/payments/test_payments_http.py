"""Payment notifications sent to the running server as the providers send them (issue 14,
"Reliability and speed"): uvicorn on a loopback port (`live_server`), real HTTP requests
from httpx, generic_json bodies signed with the channel's secret and Daraja's C2B bodies.

Covered: the same notification three times and from eight threads at once (one receipt, the
same answer to each); out-of-order delivery (a later payment first, a failed one between, a
pending one finished later, a callback arriving after the statement made its notification);
bad signatures (401, kept refused, nothing posted, the real one still taken); an unknown
reference (suspense, then matched by a treasurer through the API, or refunded); a statement
with a callback that never came (dry run, then reconciled once); Daraja's retried
confirmations. After every test (`checked`, autouse): `payments_consistent` —
`coopledger verify` clean, every notification in exactly one status, one live notification
per transaction, each matched one its one receipt, and per channel the suspense and refunds
accounts equal to the notifications they hold. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from datetime import date
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.payments.adapters.generic_json import signature
from tests.collections.factories import add_dues, standard_book
from tests.collections.test_receipts_api import count
from tests.payments.senders import (
    Provider,
    api,
    daraja,
    open_channel,
    payment,
    payments_consistent,
    upload_statement,
)

THREADS = 8


@pytest.fixture(autouse=True)
def checked(engine):  # type: ignore[no-untyped-def]
    """After every test: the books and the notifications agree (senders.payments_consistent)."""
    yield
    payments_consistent(engine)


@pytest.fixture
def till(live_server, org, session_factory):  # type: ignore[no-untyped-def]
    """A DOP till (generic_json) on the served app; M-001 owes two monthly dues of 100.00."""
    book = standard_book(session_factory, org)
    add_dues(
        session_factory, book, "monthly", ("member", book.members["M-001"]), date(2026, 9, 1), 2,
        10000,
    )  # fmt: skip
    channel = open_channel(live_server, org, "TILL-1")
    assert channel["inbound_url"].startswith(live_server + "/api/v1/payment-channels/inbound/")
    return SimpleNamespace(
        base=live_server, org=org, book=book, channel=channel, provider=Provider.of(channel)
    )


def account_balance(base: str, org, code: str) -> str:  # type: ignore[no-untyped-def]
    """An account's balance through the API (a liability reads positive)."""
    with api(base, org, "auditor") as c:
        accounts = c.get("/accounts", params={"limit": 500}).json()["items"]
        (acc,) = [a for a in accounts if a["code"] == code]
        return str(c.get(f"/accounts/{acc['id']}/balance").json()["balance"])


def listed(base: str, org, **params: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    with api(base, org) as c:
        r = c.get("/payment-notifications", params={"limit": 200, **params})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def at_once(n: int, send) -> list[httpx.Response]:  # type: ignore[no-untyped-def]
    """`send(client)` from `n` threads released together, each with its own connection."""
    gate = threading.Barrier(n)
    answers: list[Any] = [None] * n

    def one(i: int) -> None:
        with httpx.Client(timeout=60) as c:
            gate.wait()
            try:
                answers[i] = send(c)
            except httpx.HTTPError as exc:  # shown by the assertion below
                answers[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(a, httpx.Response) for a in answers), answers
    return answers


def rows_of(engine, txid: str) -> list[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [
            (s, a)
            for s, a in conn.execute(
                sa.text(
                    "SELECT status, amount FROM payment_notification WHERE transaction_id = :t "
                    "ORDER BY status, amount"
                ),
                {"t": txid},
            )
        ]


def test_the_same_notification_three_times_and_from_eight_threads_is_one_receipt(
    till, engine
) -> None:  # type: ignore[no-untyped-def]
    p = till.provider
    answers = [p.send(payment("TX-1", " m-001 ")) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    first = answers[0].json()
    assert first["status"] == "matched" and first["receipt_id"]
    assert all(a.json() == first for a in answers)
    assert rows_of(engine, "TX-1") == [("matched", 15000)]

    # the provider's retries racing each other: eight deliveries of one payment at once
    body = payment("TX-2", "bus 1", "80.00")
    together = at_once(THREADS, lambda c: p.send(body, client=c))
    assert {a.status_code for a in together} == {200}
    said = [a.json() for a in together]
    assert all(s == said[0] for s in said), said
    assert said[0]["status"] == "matched" and said[0]["receipt_id"]
    assert rows_of(engine, "TX-2") == [("matched", 8000)]
    assert count(engine, "receipt") == 2
    with api(till.base, till.org) as c:
        receipt = c.get(f"/receipts/{said[0]['receipt_id']}").json()
    assert (receipt["unit_id"], receipt["amount"], receipt["reference"]) == (
        str(till.book.units["BUS-1"]),
        "80.00",
        "TX-2",
    )
    # the same id with other figures, from eight threads at once: flagged, posted never
    other = payment("TX-2", "BUS-1", "8.00")
    flagged = at_once(THREADS, lambda c: p.send(other, client=c))
    assert {a.status_code for a in flagged} == {200}
    assert {a.json()["status"] for a in flagged} == {"duplicate"}
    assert count(engine, "receipt") == 2
    # kept once (was one row per racing request on PostgreSQL before c829e23)
    assert rows_of(engine, "TX-2") == [("duplicate", 800), ("matched", 8000)]
    assert len({a.json()["notification_id"] for a in flagged}) == 1


def test_out_of_order_delivery(till, engine) -> None:  # type: ignore[no-untyped-def]
    p = till.provider
    # the day's later payment arrives first, the earlier one (failed at the provider) after
    later = p.send(payment("TX-B", "M-002", "120.00", occurred_at="2026-11-20T10:00:00-04:00"))
    failed = p.send(
        payment("TX-A", "M-001", "50.00", occurred_at="2026-11-20T09:00:00-04:00", status="failed")
    )
    assert later.json()["status"] == "matched"
    assert failed.status_code == 200 and failed.json()["status"] == "refused"
    assert "failed" in failed.json()["reason"] and "receipt_id" not in failed.json()
    assert rows_of(engine, "TX-A") == [("refused", 5000)]
    # the provider's "pending" and then its final word: booked once, at the final word
    pending = p.send(payment("TX-C", "M-001", "60.00", status="pending"))
    assert pending.json()["status"] == "pending" and count(engine, "receipt") == 1
    done = p.send(payment("TX-C", "M-001", "60.00"))
    assert done.json()["status"] == "matched"
    assert done.json()["notification_id"] == pending.json()["notification_id"]
    assert p.send(payment("TX-C", "M-001", "60.00")).json() == done.json()
    assert rows_of(engine, "TX-C") == [("matched", 6000)] and count(engine, "receipt") == 2
    # a successful payment later said to have failed: flagged for the treasurer, the
    # receipt stands (only a treasurer reverses a receipt)
    undone = p.send(payment("TX-B", "M-002", "120.00", status="failed"))
    assert undone.json()["status"] == "duplicate" and "TX-B" in undone.json()["reason"]
    assert rows_of(engine, "TX-B") == [("duplicate", 12000), ("matched", 12000)]

    # a payment whose callback never came: the statement makes it; the late callback after
    # that answers as the statement's notification, writing nothing
    statement = (
        "transaction_id,amount,occurred_at,account_reference,msisdn\n"
        "TX-B,120.00,2026-11-20T10:00:00-04:00,M-002,\n"
        "TX-C,60.00,2026-11-20T09:15:00-04:00,M-001,\n"
        "TX-D,70.00,2026-11-20T11:00:00-04:00,M-002,\n"
    )
    r = upload_statement(till.base, till.org, "TILL-1", statement)
    assert r.status_code == 200, r.text
    made = r.json()
    assert made["matched"] == 2 and made["missing_in_statement"] == []
    ((created,),) = [made["created"]]
    assert (created["transaction_id"], created["status"]) == ("TX-D", "matched")
    late = p.send(payment("TX-D", "M-002", "70.00", occurred_at="2026-11-20T11:00:00-04:00"))
    assert late.status_code == 200
    assert late.json()["notification_id"] == str(created["notification_id"])
    assert late.json()["receipt_id"] == str(created["receipt_id"])
    assert rows_of(engine, "TX-D") == [("matched", 7000)] and count(engine, "receipt") == 3
    with engine.connect() as conn:
        source = conn.execute(
            sa.text("SELECT source FROM payment_notification WHERE transaction_id = 'TX-D'")
        ).scalar_one()
    assert source == "statement"
    # a stale "pending" arriving after the final word changes nothing booked
    stale = p.send(payment("TX-C", "M-001", "60.00", status="pending"))
    assert stale.status_code == 200 and count(engine, "receipt") == 3
    # answered as the matched one (was kept as a conflicting duplicate before c829e23)
    assert stale.json() == done.json()
    assert rows_of(engine, "TX-C") == [("matched", 6000)]


def test_a_failed_transaction_delivered_again_is_kept_once(till, engine) -> None:  # type: ignore[no-untyped-def]
    """A provider retries a failed transaction's callback it got no answer to: the same
    answer, nothing booked, and (the same notification again writes nothing) one row."""
    p = till.provider
    body = payment("TX-F", "M-001", "50.00", status="failed")
    answers = [p.send(body) for _ in range(3)]
    assert {(a.status_code, a.json()["status"]) for a in answers} == {(200, "refused")}
    assert count(engine, "receipt") == 0
    assert count(engine, "journal_entry", "kind = 'payment'") == 0
    # kept once (was once per delivery before c829e23)
    assert rows_of(engine, "TX-F") == [("refused", 5000)]
    assert len({a.json()["notification_id"] for a in answers}) == 1


def test_a_bad_signature_is_answered_401_kept_refused_and_never_posted(
    till, live_server, org, engine
) -> None:  # type: ignore[no-untyped-def]
    p = till.provider
    other = open_channel(live_server, org, "TILL-2")  # its secret is not TILL-1's
    body = payment("TX-9", "M-001", "150.00")
    # signed by the channel, then the amount changed on the way
    tampered = httpx.post(
        p.inbound_url,
        content=json.dumps(payment("TX-9", "M-001", "1500.00")).encode(),
        headers={
            "X-Signature": signature(p.secret, json.dumps(body).encode()),
            "Content-Type": "application/json",
        },
    )
    forged = [
        p.send(body, secret="pcs_not-the-secret"),
        p.send(body, sign=False),
        p.send(body, secret=other["secret"]),
        p.send(payment("TX-9", "M-001", "1500.00"), sign=False),
        tampered,
    ]
    assert [f.status_code for f in forged] == [401] * 5
    assert all(f.json()["status"] == "refused" for f in forged)
    assert count(engine, "receipt") == 0 and count(engine, "journal_entry", "kind = 'payment'") == 0
    refused = listed(till.base, till.org, status="refused")
    assert len(refused) == 5
    assert {(n["channel"], n["reason_code"]) for n in refused} == {
        ("TILL-1", "payment.bad_signature")
    }
    assert all(n["transaction_id"] is None and n["receipt_id"] is None for n in refused)
    # kept as they arrived: the raw body of the tampered one is there, refused
    with engine.connect() as conn:
        bodies = conn.execute(
            sa.text("SELECT raw_body FROM payment_notification WHERE status = 'refused'")
        ).scalars()
        assert sum('"1500.00"' in b for b in bodies) == 2
    # the real one after the forgeries is still taken, once
    real = p.send(body)
    assert real.status_code == 200 and real.json()["status"] == "matched"
    assert p.send(body, secret="pcs_not-the-secret").status_code == 401
    assert p.send(body).json() == real.json()
    assert count(engine, "receipt") == 1
    assert rows_of(engine, "TX-9") == [("matched", 15000)]
    # an unknown inbound token is not a channel at all
    assert httpx.post(p.inbound_url + "x", content=b"{}").status_code == 404


def test_an_unknown_reference_waits_in_suspense_until_a_treasurer_matches_it(till, engine) -> None:  # type: ignore[no-untyped-def]
    p, base, org = till.provider, till.base, till.org
    unknown = p.send(payment("TX-U", "ZZ-404", "40.00"))
    assert unknown.status_code == 200
    held = unknown.json()
    assert held["status"] == "suspense" and "ZZ-404" in held["reason"]
    stray = p.send(payment("TX-V", "NOBODY", "25.00")).json()
    assert stray["status"] == "suspense"
    assert account_balance(base, org, "PAYCH:TILL-1:SUSPENSE") == "65.00"
    queue = listed(base, org, status="suspense", channel="TILL-1")
    assert {n["transaction_id"]: n["reason_code"] for n in queue} == {
        "TX-U": "payment.no_payer",
        "TX-V": "payment.no_payer",
    }
    payments_consistent(engine)

    m2 = str(till.book.members["M-002"])
    key = {"Idempotency-Key": "match-TX-U"}
    with api(base, org) as c:
        matched = c.post(
            f"/payment-notifications/{held['notification_id']}/match",
            json={"member_id": m2},
            headers=key,
        )
        assert matched.status_code == 200, matched.text
        again = c.post(
            f"/payment-notifications/{held['notification_id']}/match",
            json={"member_id": m2},
            headers=key,
        )
        assert again.status_code == 200 and again.json() == matched.json()
        twice = c.post(
            f"/payment-notifications/{held['notification_id']}/match", json={"member_id": m2}
        )
        assert twice.status_code == 409
        m = matched.json()
        assert m["status"] == "matched" and m["receipt_id"] and m["resolved_by"]
        receipt = c.get(f"/receipts/{m['receipt_id']}").json()
        assert (receipt["member_id"], receipt["amount"], receipt["reference"]) == (
            m2,
            "40.00",
            "TX-U",
        )
        refunded = c.post(
            f"/payment-notifications/{stray['notification_id']}/refund",
            json={"reason": "the payer has no account here; sent back by M-Pesa reversal"},
        )
        assert refunded.status_code == 200 and refunded.json()["status"] == "refunded"
    assert account_balance(base, org, "PAYCH:TILL-1:SUSPENSE") == "0.00"
    assert account_balance(base, org, "PAYCH:TILL-1:REFUNDS") == "25.00"
    # the provider retries the first delivery: the same notification, now matched
    retry = p.send(payment("TX-U", "ZZ-404", "40.00"))
    assert retry.status_code == 200
    assert (retry.json()["notification_id"], retry.json()["status"]) == (
        held["notification_id"],
        "matched",
    )
    assert retry.json()["receipt_id"] == m["receipt_id"]
    assert p.send(payment("TX-V", "NOBODY", "25.00")).json()["status"] == "refunded"
    assert count(engine, "payment_notification") == 2 and count(engine, "receipt") == 1


def test_a_statement_with_a_callback_that_never_came(till, engine) -> None:  # type: ignore[no-untyped-def]
    p, base, org = till.provider, till.base, till.org
    sent = {}
    for txid, ref, amount, hour in (
        ("ST-1", "M-001", "100.00", "08"),
        ("ST-2", "m001", "50.00", "09"),
        ("ST-3", "ZZ-1", "30.00", "10"),
        ("ST-4", "BUS-1", "45.00", "11"),
    ):
        r = p.send(payment(txid, ref, amount, occurred_at=f"2026-11-20T{hour}:00:00-04:00"))
        assert r.status_code == 200, r.text
        sent[txid] = r.json()
    statement = "transaction_id,amount,occurred_at,account_reference,msisdn\n" + "".join(
        f"{t},{a},2026-11-20T{h}:00:00-04:00,{ref},\n"
        for t, a, h, ref in (
            ("ST-1", "100.00", "08", "M-001"),
            ("ST-2", "50.00", "09", "m001"),
            ("ST-3", "30.00", "10", "ZZ-1"),
            ("ST-5", "75.00", "10", "M 002"),  # the callback that never came
            ("ST-4", "45.00", "11", "BUS-1"),
        )
    )
    before = count(engine, "payment_notification"), count(engine, "journal_entry")
    dry = upload_statement(base, org, "TILL-1", statement, dry_run="true")
    assert dry.status_code == 200, dry.text
    d = dry.json()
    assert (count(engine, "payment_notification"), count(engine, "journal_entry")) == before
    assert d["dry_run"] is True and d["matched"] == 4 and d["amount_mismatches"] == []
    assert [(c["transaction_id"], c["status"], c["notification_id"]) for c in d["created"]] == [
        ("ST-5", "matched", None)
    ]
    assert d["missing_in_statement"] == [] and d["missing_count"] == 0
    real = upload_statement(base, org, "TILL-1", statement)
    assert real.status_code == 200, real.text
    r = real.json()
    assert r["matched"] == 4 and r["missing_in_statement"] == []
    ((created,),) = [r["created"]]
    assert created["status"] == "matched" and created["receipt_id"]
    with api(base, org) as c:
        receipt = c.get(f"/receipts/{created['receipt_id']}").json()
    assert (receipt["member_id"], receipt["amount"]) == (
        str(till.book.members["M-002"]),
        "75.00",
    )
    # the same statement again: all five matched now, nothing created twice
    again = upload_statement(base, org, "TILL-1", statement).json()
    assert again["matched"] == 5 and again["created"] == []
    assert count(engine, "payment_notification") == 5 and count(engine, "receipt") == 4
    # the late callback answers as the statement's notification
    late = p.send(payment("ST-5", "M 002", "75.00", occurred_at="2026-11-20T10:00:00-04:00"))
    assert late.json()["notification_id"] == str(created["notification_id"])
    assert count(engine, "payment_notification") == 5
    assert account_balance(base, org, "PAYCH:TILL-1:SUSPENSE") == "30.00"
    # a payment of the day the provider's statement does not show is listed for the treasurer
    extra = p.send(payment("ST-6", "M-001", "10.00", occurred_at="2026-11-20T10:30:00-04:00"))
    listed_again = upload_statement(base, org, "TILL-1", statement, dry_run="true").json()
    assert [m["transaction_id"] for m in listed_again["missing_in_statement"]] == ["ST-6"]
    assert (
        listed_again["missing_in_statement"][0]["notification_id"]
        == (extra.json()["notification_id"])
    )


@pytest.fixture
def paybill(live_server, make_org, session_factory):  # type: ignore[no-untyped-def]
    """A KES paybill (mpesa_c2b) that refuses unknown references at validation."""
    org = make_org("KCOOP", "KES")
    book = standard_book(session_factory, org)
    channel = open_channel(
        live_server,
        org,
        "PAYBILL",
        "mpesa_c2b",
        {"shortcode": "600984", "refuse_unknown_reference": True},
    )
    return SimpleNamespace(base=live_server, org=org, book=book, provider=Provider.of(channel))


ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def test_darajas_retried_confirmations_are_one_receipt(paybill, engine) -> None:  # type: ignore[no-untyped-def]
    p = paybill.provider
    # validation first: a known reference is accepted, an unknown one refused, nothing kept
    assert p.daraja("validation", daraja("", "m-001", "150.00")).json() == ACCEPTED
    refused = p.daraja("validation", daraja("", "ZZ-9", "150.00"))
    assert refused.json() == {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
    assert count(engine, "payment_notification") == 0
    # the confirmation, retried by Daraja three times, then eight deliveries at once
    answers = [p.daraja("confirmation", daraja("RKT1", "m-001", "150.00")) for _ in range(3)]
    assert [(a.status_code, a.json()) for a in answers] == [(200, ACCEPTED)] * 3
    body = daraja("RKT2", "BUS 1", "80")
    together = at_once(THREADS, lambda c: p.daraja("confirmation", body, client=c))
    assert [(a.status_code, a.json()) for a in together] == [(200, ACCEPTED)] * THREADS
    # money that moved with an unknown reference (validation off at Safaricom): held
    held = p.daraja("confirmation", daraja("RKT3", "ZZ-9", "20.00"))
    assert held.json() == ACCEPTED
    assert rows_of(engine, "RKT1") == [("matched", 15000)]
    assert rows_of(engine, "RKT2") == [("matched", 8000)]
    assert rows_of(engine, "RKT3") == [("suspense", 2000)]
    assert count(engine, "receipt") == 2
    assert account_balance(paybill.base, paybill.org, "PAYCH:PAYBILL:SUSPENSE") == "20.00"
    # not Daraja's: kept as refused, answered as Daraja's "other error"
    junk = p.daraja("confirmation", {"TransID": "RKT4"})
    assert junk.status_code == 400 and junk.json()["ResultCode"] == "C2B00016"
    assert rows_of(engine, "RKT4") == []
    assert count(engine, "payment_notification", "status = 'refused'") == 1
