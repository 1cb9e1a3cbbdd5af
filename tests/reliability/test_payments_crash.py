"""Crash safety of payment notifications (issue 14): a retry after the server was killed
between commit and answer.

The real server (`uvicorn app.main:app`, a separate process, as the other crash tests run
it) takes a till's notifications from six provider threads and is killed with SIGKILL,
several rounds:
- even rounds: at a random moment;
- odd rounds: between a commit and its answer. The server is frozen (SIGSTOP) at random
  moments until, frozen, it holds a notification that is committed (visible to a reader)
  while its sender still has no answer; then it is killed, so that answer never leaves.
After each kill the next server process answers (started beside the doomed one, as a
supervisor or a second replica takes over: no cold start on the test's clock), the
providers retry what got no answer, and at the end they resend EVERYTHING of every round,
to be sure. Then:
- every delivery answered before is answered the same way again (notification, status,
  receipt), the ones committed before the kill included;
- each transaction id has exactly one live notification; each matched one exactly one
  receipt (`client_id` = `{channel}:{transaction id}`), receipts = matched notifications,
  receipt numbers without a gap; a conflicting duplicate is kept once;
- `coopledger verify` is clean and the books agree with the notifications
  (tests/payments/senders.payments_consistent).
It prints the kills, the requests they cut and how many of those had committed.

Sizes: `make test` runs 2 rounds of 25 notifications (COOPLEDGER_CRASH_ROUNDS=1 x 2,
COOPLEDGER_CRASH_ITEMS=1000 / 40); `make soak` 8 rounds of 50 (COOPLEDGER_CRASH_ROUNDS=4). SQLite (WAL: a killed
writer's transaction never becomes visible) and PostgreSQL.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import sqlalchemy as sa

from app.core.database import unit_of_work
from tests.collections.factories import (
    MONTHLY_RULES,
    Book,
    add_dues,
    make_fund,
    make_member,
    make_scheme,
)
from tests.payments.senders import Provider, open_channel, payment, payments_consistent
from tests.reliability.test_crash_safety import Server

ROUNDS = 2 * int(os.environ.get("COOPLEDGER_CRASH_ROUNDS", "1"))
PER_ROUND = max(20, int(os.environ.get("COOPLEDGER_CRASH_ITEMS", "1000")) // 40)
SENDERS = 6
MEMBERS = 20
CODE = "TILL"
FROZEN_READ_S = 0.05  # a frozen server writes nothing: what it wrote is read by then


@dataclass
class Delivery:
    txid: str
    body: dict[str, Any]
    answer: tuple[str | None, str, str | None] | None = None  # (notification, status, receipt)
    twin: bool = False  # the same delivery again, from the next sender thread
    variant: bool = False  # the same id with another amount (a conflicting duplicate)

    @property
    def lane(self) -> int:
        """Its sender thread: a transaction's deliveries in their order on one thread (a
        conflicting duplicate after its first), a twin on the next one, at the same time."""
        return (zlib.crc32(self.txid.encode()) + self.twin) % SENDERS

    @property
    def sole(self) -> bool:
        """Whether only this delivery can have made its transaction's live notification."""
        return not (self.twin or self.variant)


@dataclass
class Round:
    deliveries: list[Delivery]
    cut: list[Delivery] = field(default_factory=list)  # sent, no answer: the kill came first
    unsent: int = 0
    committed: int = 0  # of the cut, those whose notification had committed
    between: bool = False  # killed frozen between a commit and its answer


def the_round(rng: random.Random, n: int, round_no: int) -> list[Delivery]:
    """`n` notifications: ~85 % to a member by number (as typed), ~15 % an unknown
    reference (held), ~5 % sent twice by two threads at once, and two conflicting
    duplicates (the same id later with another amount)."""
    out: list[Delivery] = []
    for i in range(n):
        txid = f"R{round_no}-{i:04d}"
        roll = rng.random()
        ref = (
            f"M-{rng.randrange(1, MEMBERS + 1):03d}" if roll < 0.85 else f"ZZ-{rng.randrange(999)}"
        )
        typed = rng.choice([ref, ref.lower(), ref.replace("-", " ")])
        body = payment(txid, typed, f"{rng.randrange(5, 60) * 5}.00")
        out.append(Delivery(txid, body))
        if roll > 0.95:
            out.append(Delivery(txid, body, twin=True))
    for d in rng.sample([d for d in out if d.sole], 2):
        out.append(Delivery(d.txid, {**d.body, "amount": "1.00"}, variant=True))
    return out


class Senders:
    """The providers' threads sending deliveries, each on its lane, recording each answer
    (an answer given before must be given again) and what is in flight."""

    def __init__(self, provider: Provider, deliveries: list[Delivery], until_cut: bool) -> None:
        self.provider = provider
        self.lanes: list[list[Delivery]] = [[] for _ in range(SENDERS)]
        for d in deliveries:
            self.lanes[d.lane].append(d)
        self.until_cut = until_cut
        self.cut: list[Delivery] = []
        self.unsent = 0
        self.in_flight: set[int] = set()  # ids of deliveries sent and not answered yet
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._lane, args=(m,)) for m in self.lanes]

    def start(self) -> Senders:
        for t in self.threads:
            t.start()
        return self

    def alive(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=300)
        if self.errors:
            raise self.errors[0]

    def _lane(self, mine: list[Delivery]) -> None:
        try:
            with httpx.Client(timeout=60) as c:
                for k, d in enumerate(mine):
                    with self.lock:
                        self.in_flight.add(id(d))
                    try:
                        r = self.provider.send(d.body, client=c)
                    except httpx.HTTPError:
                        if not self.until_cut:
                            raise
                        with self.lock:
                            self.cut.append(d)
                            self.unsent += len(mine) - k - 1
                        return
                    assert r.status_code == 200, r.text
                    said = r.json()
                    answer = (said.get("notification_id"), said["status"], said.get("receipt_id"))
                    if d.answer is not None:  # answered before: the same answer now
                        assert answer == d.answer, (d, answer)
                    d.answer = answer
                    with self.lock:
                        self.in_flight.discard(id(d))
        except BaseException as exc:  # raised again by join()
            self.errors.append(exc)


def send_all(provider: Provider, deliveries: list[Delivery]) -> None:
    Senders(provider, deliveries, until_cut=False).start().join()


def reader_of(engine: sa.Engine) -> Callable[[set[str]], set[str]]:
    """Which of some transaction ids have a live notification, read without waiting for the
    server's locks (SQLite: a plain reader of the WAL file, not the engine's BEGIN IMMEDIATE)."""
    live = "SELECT transaction_id FROM payment_notification WHERE status NOT IN ('refused', 'duplicate')"
    if engine.dialect.name == "sqlite":

        def read_sqlite(txids: set[str]) -> set[str]:
            conn = sqlite3.connect(str(engine.url.database), isolation_level=None, timeout=30)
            try:
                return {t for (t,) in conn.execute(live) if t in txids}
            finally:
                conn.close()

        return read_sqlite

    def read_pg(txids: set[str]) -> set[str]:
        with engine.connect() as conn:
            return {t for t in conn.execute(sa.text(live)).scalars() if t in txids}

    return read_pg


def kill_between_commit_and_answer(
    server: Server, senders: Senders, live: Callable[[set[str]], set[str]], rng: random.Random
) -> bool:
    """Freeze the server at random moments until, frozen, it holds a committed notification
    whose sender has no answer; kill it then (True). Killed anyway if the senders finish
    first (False)."""
    assert server.proc is not None
    pid = server.proc.pid
    while senders.alive():
        time.sleep(rng.uniform(0.002, 0.04))
        os.kill(pid, signal.SIGSTOP)
        time.sleep(FROZEN_READ_S)
        with senders.lock:
            waiting = {
                d.txid for ln in senders.lanes for d in ln if id(d) in senders.in_flight and d.sole
            }
        if waiting and live(waiting):
            server.kill()  # SIGKILL reaches a stopped process
            return True
        os.kill(pid, signal.SIGCONT)
    server.kill()
    return False


def book_of(session_factory, org) -> None:  # type: ignore[no-untyped-def]
    """20 members owing a monthly due of 300.00 each (receipts allocate as in a real book)."""
    book = Book(org.id, org.currency)
    with unit_of_work(session_factory, org.id) as session:
        for code in ("PENSION", "HEALTH"):
            make_fund(session, book, code)
        make_scheme(session, book, "monthly", "monthly", MONTHLY_RULES)
        for i in range(1, MEMBERS + 1):
            make_member(session, book, f"M-{i:03d}")
    for member_id in book.members.values():
        add_dues(
            session_factory, book, "monthly", ("member", member_id), date(2026, 10, 1), 1, 30000
        )


class Standby:
    """The next server process, started beside the current one (a thread waits for it)."""

    def __init__(self, db_url: str) -> None:
        self.server = Server(db_url)
        self.failed: list[BaseException] = []
        self.thread = threading.Thread(target=self._start)
        self.thread.start()

    def _start(self) -> None:
        try:
            self.server.start()
        except BaseException as exc:
            self.failed.append(exc)

    def ready(self) -> Server:
        self.thread.join(timeout=300)
        if self.failed:
            raise self.failed[0]
        return self.server


def test_sigkill_between_commit_and_answer_then_everything_resent(
    backend, db_url, make_org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    org = make_org("AMUSSOL", "DOP")
    book_of(session_factory, org)
    rng = random.Random(int(os.environ.get("COOPLEDGER_CRASH_SEED", "14")))
    live = reader_of(engine)
    server, standby = Server(db_url), Standby(db_url)
    servers = [server, standby.server]
    sent: list[Delivery] = []
    rounds: list[Round] = []
    try:
        server.start()
        channel = open_channel(server.url, org, CODE)
        for round_no in range(ROUNDS):
            deliveries = the_round(rng, PER_ROUND, round_no)
            sent.extend(deliveries)
            senders = Senders(Provider.of(channel, server.url), deliveries, until_cut=True).start()
            this = Round(deliveries)
            if round_no % 2:
                this.between = kill_between_commit_and_answer(server, senders, live, rng)
            else:
                time.sleep(rng.uniform(0.05, 0.6))
                server.kill()
            senders.join()
            this.cut, this.unsent = senders.cut, senders.unsent
            # of what was cut, what had committed before the server died
            this.committed = len(live({d.txid for d in this.cut if d.sole}))
            rounds.append(this)
            server = standby.ready()  # the next process takes over; the one after starts
            if round_no < ROUNDS - 1:
                standby = Standby(db_url)
                servers.append(standby.server)
            # the providers retry what got no answer
            send_all(Provider.of(channel, server.url), [d for d in deliveries if d.answer is None])
            assert all(d.answer is not None for d in deliveries)
        # and resend everything of every round, to be sure: each answered as before
        send_all(Provider.of(channel, server.url), sent)
    except BaseException:
        print("SERVER LOG:", server.tail())
        raise
    finally:
        standby.thread.join(timeout=300)
        for s in servers:
            s.stop()

    standing = payments_consistent(engine)  # verify clean, suspense = held, one live per id
    txids = {d.txid for d in sent}
    assert {t for (_, t) in standing.live} == txids  # each transaction: one live notification
    matched = {t for (_, t), n in standing.live.items() if n["status"] == "matched"}
    assert {t for (_, t) in standing.receipts} == matched
    with engine.connect() as conn:
        receipts, lo, hi = conn.execute(
            sa.text("SELECT count(*), min(receipt_number), max(receipt_number) FROM receipt")
        ).one()
        client_ids = conn.execute(sa.text("SELECT client_id FROM receipt")).scalars().all()
        duplicates = conn.execute(
            sa.text(
                "SELECT transaction_id, count(*) FROM payment_notification "
                "WHERE status = 'duplicate' GROUP BY transaction_id"
            )
        ).all()
    assert receipts == len(matched) and (lo, hi) == (1, receipts), "receipt numbers have a gap"
    assert sorted(client_ids) == sorted(f"{CODE}:{t}" for t in matched)
    assert dict(duplicates) == dict.fromkeys({d.txid for d in sent if d.variant}, 1)
    assert standing.statuses["suspense"] > 0 and standing.statuses["refused"] == 0
    cut = sum(len(r.cut) for r in rounds)
    committed = sum(r.committed for r in rounds)
    print(
        f"payments crash ({backend}): {ROUNDS} SIGKILLs ({sum(r.between for r in rounds)} "
        f"frozen between a commit and its answer), {len(sent)} deliveries ({len(txids)} "
        f"transactions), each sent twice at least; {cut} requests cut by a kill, "
        f"{committed} of them committed before it and answered on retry from what was kept, "
        f"{sum(r.unsent for r in rounds)} never sent before the kill; {receipts} receipts, "
        f"{standing.statuses['suspense']} held; lost: 0, doubled: 0"
    )
    assert cut >= 1, "no kill landed inside a request: the test proved nothing"
    if ROUNDS >= 2:
        assert any(r.between for r in rounds) and committed >= 1, (
            "no kill landed between a commit and its answer"
        )
