"""Issue 14, "Done when": a day of a cooperative's till, over HTTP to the served app.

About 300 notifications reach a generic_json till from four sender threads: members paying
with their member number and owners with their minibus plate (typed in lower case, with
spaces, with dashes or without), the provider's duplicate deliveries, payments by phone only,
mistyped references (found by the payer's registered phone where there is one, else held in
suspense), a phone two members share, one failed transaction, two conflicting duplicates
(same id, another amount). One payment's callback never comes: it is only in the provider's
statement, uploaded at the end (dry run first, nothing written; then for real), and the
provider's file leaves one payment out (listed as missing in the statement).

At the end every payment is either posted once to the right payer (receipts per payer, and
`Due.paid` and credit per payer from what each paid) or in suspense with its reason; the
statement is reconciled (matched count, the one created, the one missing); the channel's
report for the day adds up; the notifications and books are consistent
(senders.payments_consistent) and `coopledger verify` is clean. SQLite and PostgreSQL.
"""

from __future__ import annotations

import queue
import random
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import sqlalchemy as sa

from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from tests.collections.factories import (
    MONTHLY_RULES,
    TRANSPORT_RULES,
    Book,
    add_dues,
    make_fund,
    make_scheme,
    make_unit,
)
from tests.collections.test_receipts_api import count
from tests.payments.senders import (
    Provider,
    api,
    open_channel,
    payment,
    payments_consistent,
    upload_statement,
)

CODE = "TILL"
MEMBERS = 42  # M-041 and M-042 share a phone
WITH_PHONE = 30  # M-001..M-030 have their own phone
UNITS = 8
MEMBER_DUES = (2, 30000)  # two monthly dues of 300.00 each
UNIT_DUES = (5, 5000)  # five daily dues of 50.00 each
SENDERS = 4


def phone(i: int) -> str:
    return f"+1 809-555-{1000 + i:04d}"


SHARED_PHONE = "809-555-9999"


@dataclass
class Payment:
    txid: str
    body: dict[str, Any]
    payer: tuple[str, str] | None  # ("member", "M-007") or ("unit", "A-100003"); None: held
    reason: str | None = None  # why it is held (a reason code)
    status: str = "matched"


def build_book(session_factory, org) -> tuple[Book, dict[tuple[str, str], Any]]:  # type: ignore[no-untyped-def]
    """Funds, a monthly and a daily transport scheme, 42 members (30 with their own phone,
    two sharing one), 8 minibuses each owned and crewed by a member; the dues they owe."""
    from app.members.schemas import MemberCreate
    from app.members.service import create_member

    book = Book(org.id, org.currency)
    ids: dict[tuple[str, str], Any] = {}
    with unit_of_work(session_factory, org.id) as session:
        for code in ("PENSION", "HEALTH", "ACCIDENT"):
            make_fund(session, book, code)
        make_scheme(session, book, "transport-daily", "daily_per_unit", TRANSPORT_RULES)
        make_scheme(session, book, "monthly", "monthly", MONTHLY_RULES)
        for i in range(1, MEMBERS + 1):
            number = f"M-{i:03d}"
            tel = phone(i) if i <= WITH_PHONE else (SHARED_PHONE if i > 40 else None)
            member = create_member(
                session,
                CLI_ACTOR,
                MemberCreate(
                    member_number=number,
                    full_name=f"Member {number}",
                    joined_on=date(2026, 1, 1),
                    phone=tel,
                ),
            )
            book.members[number] = ids[("member", number)] = member.id
        for u in range(1, UNITS + 1):
            owner = book.members[f"M-{u:03d}"]
            plate = f"A-{100000 + u}"
            ids[("unit", plate)] = make_unit(session, book, plate, [(owner, "owner", True)], owner)
    for (kind, _), payer_id in ids.items():
        days, amount = MEMBER_DUES if kind == "member" else UNIT_DUES
        scheme = "monthly" if kind == "member" else "transport-daily"
        add_dues(session_factory, book, scheme, (kind, payer_id), date(2026, 10, 1), days, amount)
    return book, ids


def member_ref(rng: random.Random, number: str) -> str:
    """A member number as payers type it."""
    return rng.choice(
        [
            number,
            number.lower(),
            number.replace("-", ""),
            number.replace("-", " "),
            f" {number} ",
            number.lower().replace("-", " - "),
        ]
    )


def plate_ref(rng: random.Random, plate: str) -> str:
    digits = plate[2:]
    return rng.choice(
        [plate, plate.lower(), f"A{digits}", f"a {digits}", f"a-{digits[:3]}-{digits[3:]}"]
    )


def the_day(rng: random.Random) -> tuple[list[Payment], list[dict[str, Any]], Payment, Payment]:
    """The day's payments, the deliveries that reach the till (in the order sent), the
    payment whose callback never comes and the one the provider's statement leaves out."""
    payments: list[Payment] = []
    minute = iter(range(10_000))

    def add(payer: tuple[str, str] | None, reference: str | None, **kw: Any) -> Payment:
        n = len(payments) + 1
        m = next(minute)
        when = f"2026-11-20T{7 + m // 60:02d}:{m % 60:02d}:00-04:00"
        amount = f"{rng.randrange(10, 51) * 5}.00"
        reason, status = kw.pop("reason", None), kw.pop("status", "matched")
        p = Payment(
            f"MP{n:05d}",
            payment(f"MP{n:05d}", reference, amount, occurred_at=when, **kw),
            payer,
            reason,
            status,
        )
        payments.append(p)
        return p

    def someone() -> str:
        return f"M-{rng.randrange(1, MEMBERS + 1):03d}"

    for _ in range(150):  # members by number
        number = someone()
        add(("member", number), member_ref(rng, number))
    for _ in range(40):  # minibus owners by plate
        plate = f"A-{100000 + rng.randrange(1, UNITS + 1)}"
        add(("unit", plate), plate_ref(rng, plate))
    for k in range(20):  # by phone only, the number as the provider writes it
        i = rng.randrange(1, WITH_PHONE + 1)
        tel = rng.choice(
            [f"1809555{1000 + i:04d}", f"+1 (809) 555-{1000 + i:04d}", f"809555{1000 + i:04d}"]
        )
        add(("member", f"M-{i:03d}"), None if k % 2 else "", msisdn=tel)
    for _ in range(10):  # mistyped, but from the payer's registered phone
        i = rng.randrange(1, WITH_PHONE + 1)
        typo = rng.choice([f"M-O{i:02d}", f"N-{i:03d}", f"M-{i:03d}7", f"{i:03d}-M"])
        add(("member", f"M-{i:03d}"), typo, msisdn=f"1809555{1000 + i:04d}")
    for k in range(15):  # mistyped, from a phone nobody registered: held
        typo = ["M-999", "MO07", "ZZ", "A-999999", "member 7", ""][k % 6]
        add(None, typo, msisdn=f"1809444{k:04d}", reason="payment.no_payer")
    for _ in range(2):  # from the phone two members share, no reference: held
        add(None, None, msisdn="18095559999", reason="payment.ambiguous_payer")
    failed = add(None, "M-005", status="failed", reason="payment.provider_failed")
    failed.body["status"] = "failed"

    missing = add(("member", "M-010"), "m010")  # its callback never comes
    good = [p for p in payments if p.payer is not None and p is not missing]
    held = [p for p in payments if p.payer is None and p.status != "failed"]
    conflicting = rng.sample(good, 2)
    omitted = rng.choice([p for p in good if p not in conflicting])
    deliveries = [p.body for p in payments if p is not missing]
    # the provider's retries (a failed one retried: test_payments_http.py)
    deliveries += [rng.choice(good + held).body for _ in range(45)]
    rng.shuffle(deliveries)
    for p in conflicting:  # the same id later with another amount: flagged, never posted
        deliveries.append({**p.body, "amount": "1.00"})
    return payments, deliveries, missing, omitted


def deliver(provider: Provider, deliveries: list[dict[str, Any]]) -> list[tuple[int, Any]]:
    """Every delivery from SENDERS threads with their own connections (the order kept for
    the last ones, the conflicting duplicates, sent once the rest is in)."""
    first, last = deliveries[:-2], deliveries[-2:]
    work: queue.Queue[int] = queue.Queue()
    for i in range(len(first)):
        work.put(i)
    answers: list[Any] = [None] * len(deliveries)

    def sender() -> None:
        with httpx.Client(timeout=60) as c:
            while True:
                try:
                    i = work.get_nowait()
                except queue.Empty:
                    return
                r = provider.send(first[i], client=c)
                answers[i] = (r.status_code, r.json())

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for j, body in enumerate(last, start=len(first)):
        r = provider.send(body)
        answers[j] = (r.status_code, r.json())
    return answers


def statement_csv(payments: list[Payment]) -> str:
    lines = ["transaction_id,amount,occurred_at,account_reference,msisdn"]
    for p in payments:
        b = p.body
        lines.append(
            f"{p.txid},{b['amount']},{b['occurred_at']},{(b['account_reference'] or '').strip()},"
            f"{b.get('msisdn') or ''}"
        )
    return "\n".join(lines) + "\n"


def test_a_day_of_the_till(live_server, org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(14)
    _, ids = build_book(session_factory, org)
    channel = open_channel(live_server, org, CODE)
    provider = Provider.of(channel)
    payments, deliveries, missing, omitted = the_day(rng)
    assert 280 <= len(deliveries) <= 320

    answers = deliver(provider, deliveries)
    assert {s for s, _ in answers} == {200}, [a for a in answers if a[0] != 200][:3]
    by_tx = {p.txid: p for p in payments}
    for body, (_, said) in zip(deliveries, answers, strict=True):
        p = by_tx[body["transaction_id"]]
        if body["amount"] != p.body["amount"]:  # a conflicting duplicate
            assert said["status"] == "duplicate" and p.txid in said["reason"], said
            continue
        expected = "refused" if p.status == "failed" else "matched" if p.payer else "suspense"
        assert said["status"] == expected, (p, said)
        assert ("receipt_id" in said) == (expected == "matched"), said
    payments_consistent(engine)

    # the provider's statement: every successful payment of the day, the missing callback
    # among them, one payment left out of the file; the failed one is not on it
    on_statement = [p for p in payments if p.status != "failed" and p is not omitted]
    csv_text = statement_csv(on_statement)
    tables = ("payment_notification", "receipt", "journal_entry", "posting", "allocation")
    before = {t: count(engine, t) for t in tables}
    dry = upload_statement(live_server, org, CODE, csv_text, dry_run="true")
    assert dry.status_code == 200, dry.text
    d = dry.json()
    assert {t: count(engine, t) for t in tables} == before  # a dry run writes nothing
    real = upload_statement(live_server, org, CODE, csv_text)
    assert real.status_code == 200, real.text
    r = real.json()
    for result in (d, r):
        assert result["lines"] == len(on_statement)
        assert result["matched"] == len(on_statement) - 1
        assert [c["transaction_id"] for c in result["created"]] == [missing.txid]
        assert result["created"][0]["status"] == "matched"
        assert [m["transaction_id"] for m in result["missing_in_statement"]] == [omitted.txid]
        assert result["amount_mismatches"] == [] and result["settled"] == []
    assert d["created"][0]["notification_id"] is None and r["created"][0]["notification_id"]
    again = upload_statement(live_server, org, CODE, csv_text, dry_run="true").json()
    assert again["matched"] == len(on_statement) and again["created"] == []

    # every payment: posted once to its payer, or held with its reason
    standing = payments_consistent(engine)
    expected_per_payer: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    held = 0
    for p in payments:
        live = standing.live.get((CODE, p.txid))
        if p.status == "failed":
            assert live is None  # refused: kept, not live
            continue
        assert live is not None, p
        amount = int(p.body["amount"].replace(".", ""))
        assert live["amount"] == amount
        if p.payer is None:
            assert (live["status"], live["reason_code"]) == ("suspense", p.reason), p
            held += 1
            continue
        assert live["status"] == "matched", (p, live)
        receipt = standing.receipts[(CODE, p.txid)]
        kind = p.payer[0]
        assert uuid.UUID(str(receipt[f"{kind}_id"])) == ids[p.payer], (p, receipt)
        expected_per_payer[p.payer].append((p.txid, amount))
    assert held == 17
    assert standing.statuses == {
        "matched": len(payments) - 1 - 17,
        "suspense": 17,
        "refused": 1,
        "duplicate": 2,
    }
    with engine.connect() as conn:
        posted = conn.execute(
            sa.text(
                "SELECT member_id, unit_id, reference, amount, credit FROM receipt "
                "WHERE channel = 'mobile_money' AND status = 'posted'"
            )
        ).all()
        paid = conn.execute(
            sa.text(
                "SELECT coalesce(member_id, unit_id), sum(paid), sum(amount) FROM due "
                "GROUP BY coalesce(member_id, unit_id)"
            )
        ).all()
    by_id = {v: k for k, v in ids.items()}
    got: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    credit: dict[tuple[str, str], int] = defaultdict(int)
    for member_id, unit_id, reference, amount, receipt_credit in posted:
        payer = by_id[uuid.UUID(str(member_id or unit_id))]
        got[payer].append((reference, int(amount)))
        credit[payer] += int(receipt_credit)
    assert {k: sorted(v) for k, v in got.items()} == {
        k: sorted(v) for k, v in expected_per_payer.items()
    }
    for payer_id, due_paid, owed in paid:
        payer = by_id[uuid.UUID(str(payer_id))]
        total = sum(a for _, a in expected_per_payer.get(payer, []))
        assert int(due_paid) == min(total, int(owed)), payer
        assert credit[payer] == total - int(due_paid), payer

    # the treasurer's queue and the day's report say the same
    with api(live_server, org) as c:
        queue_items = c.get(
            "/payment-notifications", params={"status": "suspense", "limit": 100}
        ).json()["items"]
        report = c.get(
            f"/payment-channels/{CODE}/report", params={"from": "2026-11-20", "to": "2026-11-20"}
        ).json()["totals"]
    assert len(queue_items) == 17 and all(n["reason"] for n in queue_items)
    matched_total = sum(a for v in expected_per_payer.values() for _, a in v)
    held_total = sum(
        int(p.body["amount"].replace(".", ""))
        for p in payments
        if p.payer is None and p.status != "failed"
    )
    assert (report["matched"]["count"], report["suspense"]["count"]) == (len(payments) - 18, 17)
    assert report["matched"]["amount"] == f"{matched_total // 100}.{matched_total % 100:02d}"
    assert report["suspense"]["amount"] == f"{held_total // 100}.{held_total % 100:02d}"
    assert (report["refused"]["count"], report["duplicates"]["count"]) == (1, 2)
    assert report["from_statement"]["count"] == 1
