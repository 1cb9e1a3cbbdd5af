"""Benchmark: a burst of mobile-money notifications (issue 14, "Reliability and speed").

    make bench        (or: .venv/bin/pytest tests/perf/test_payments_perf.py -s -p no:randomly)

On PostgreSQL, server and load generator on the same machine: 5,000 generic_json
notifications, signed, from 16 concurrent senders (threads, each with its own keep-alive
httpx client) to `uvicorn app.main:app --workers N` in a subprocess, as fast as the server
answers (a closed loop). The mix: ~80 % name a member (by member number, typed in upper or
lower case, with spaces or without dashes) and are matched, their receipts posted and
allocated to the member's dues; ~15 % name no one and are held in suspense; ~5 % are the
provider's duplicate deliveries of an earlier notification (some while the first is still
being answered). Printed: notifications/s, latency p50/p95/p99/max, CPU per notification
(server, PostgreSQL, load generator), and, measured in the same run with the same 16
senders: `GET /healthz` (the HTTP floor) and single receipts `POST /receipts` (the receipt
booking without the payments layer).

It asserts what the burst must get right, never how fast it was: every request answered
200, each transaction id one live notification, a duplicate answered as its first, receipts
= matched notifications, no conflicting duplicate, the books consistent with the
notifications (tests/payments/senders.payments_consistent: `coopledger verify` clean,
suspense account = held notifications).

Makes its own database from COOPLEDGER_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test), drops it at the end. Sizes:
COOPLEDGER_BENCH_NOTIFICATIONS (5000), COOPLEDGER_BENCH_WORKERS (2),
COOPLEDGER_BENCH_PAYERS (2000 members, three monthly dues each).
"""

from __future__ import annotations

import os
import queue
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.core.audit import CLI_ACTOR
from app.core.database import make_engine, make_session_factory, unit_of_work
from app.core.migrations import upgrade
from app.core.settings import normalise_database_url
from app.models import load_all_models
from tests.payments.senders import Provider, payment, payments_consistent

NOTIFICATIONS = int(os.environ.get("COOPLEDGER_BENCH_NOTIFICATIONS", "5000"))
PAYERS = int(os.environ.get("COOPLEDGER_BENCH_PAYERS", "2000"))
WORKERS = int(os.environ.get("COOPLEDGER_BENCH_WORKERS", "2"))
SENDERS = 16
MATCHED, HELD = 0.80, 0.15  # the rest: duplicate deliveries
REFERENCE_RECEIPTS = max(100, NOTIFICATIONS * 2 // 5)  # 2,000 for the 5,000
WARMUP = 100
SECRET = "bench-secret-key-" + secrets.token_hex(16)
CODE = "BURST"
SCHEDULE = """
code: bench-monthly
name: Bench, a fixed monthly contribution
kind: monthly
currency: DOP
versions:
  - effective_from: 2025-01-01
    amount: "50.00"
    due_day: 10
    grace_days: 30
    fee: {percent: "5"}
    split: [{fund: PENSION, percent: "60"}, {fund: HEALTH, percent: "35"}, {fund: ACCIDENT, percent: "5"}]
"""


def _admin_url() -> str:
    raw = os.environ.get(
        "COOPLEDGER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    return normalise_database_url(raw)


def _say(text: str) -> None:
    print(f"[payments bench] {text}", flush=True)


def test_payments_burst_benchmark() -> None:
    load_all_models()
    admin = sa.create_engine(_admin_url(), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    name = f"coopledger_bench_pay_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(_admin_url()).set(database=name).render_as_string(hide_password=False)
    engine = None
    server = None
    try:
        upgrade(url)
        engine = make_engine(url, pool_size=4)
        bench = _setup(engine)
        server = Server(url)
        _run(engine, bench, server)
    finally:
        if server is not None:
            server.stop()
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- the book -----------------------------------------------------------------------------------


@dataclass
class Bench:
    org_id: uuid.UUID
    admin_key: str
    treasurer_key: str
    collector_keys: list[str]
    numbers: list[str]  # member numbers
    members: list[uuid.UUID]


def _setup(engine: sa.Engine) -> Bench:
    """Through the services: the organisation, three funds, the schedule, PAYERS members by
    CSV import, each enrolled with three monthly dues of 50.00 (dues generation), API keys."""
    from app.funds.schemas import FundCreate
    from app.funds.service import create_fund
    from app.identity.service import create_api_key, create_organisation
    from app.members.importer import import_members
    from app.members.models import Member
    from app.schemes.generation import generate_dues
    from app.schemes.models import Enrolment
    from app.schemes.service import load_schedule

    t0 = time.perf_counter()
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        org = create_organisation(s, code="BENCH", name="Bench union", currency="DOP")
        org_id = org.id
        admin_key = create_api_key(s, CLI_ACTOR, name="admin", role="admin").secret
        treasurer = create_api_key(s, CLI_ACTOR, name="treasurer", role="treasurer").secret
        collectors = [
            create_api_key(s, CLI_ACTOR, name=f"collector {i}", role="collector").secret
            for i in range(SENDERS)
        ]
        for code in ("PENSION", "HEALTH", "ACCIDENT"):
            create_fund(
                s,
                CLI_ACTOR,
                FundCreate(code=code, name=code, kind="other", currency="DOP", adapter="csv"),
            )
        scheme_id = load_schedule(s, CLI_ACTOR, SCHEDULE, "bench").scheme.id
    csv = "member_number,full_name,joined_on\n" + "".join(
        f"P-{i:06d},Payer {i},2026-07-01\n" for i in range(1, PAYERS + 1)
    )
    with unit_of_work(factory, org_id) as s:
        assert import_members(s, CLI_ACTOR, csv.encode()).created == PAYERS
    with unit_of_work(factory, org_id) as s:
        rows = s.execute(sa.select(Member.id, Member.member_number).order_by(Member.member_number))
        members, numbers = [], []
        for member_id, number in rows:
            members.append(member_id)
            numbers.append(number)
        s.execute(
            sa.insert(Enrolment),
            [
                {
                    "organisation_id": org_id,
                    "member_id": m,
                    "scheme_id": scheme_id,
                    "starts_on": date(2026, 8, 1),
                }
                for m in members
            ],
        )
    with unit_of_work(factory, org_id) as s:
        made = generate_dues(s, CLI_ACTOR, date(2026, 10, 31)).created
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    _say(
        f"set-up through the services: {PAYERS} members (CSV import), {made} monthly dues of "
        f"50.00, in {time.perf_counter() - t0:.1f} s"
    )
    return Bench(org_id, admin_key, treasurer, collectors, numbers, members)


# -- the server ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`uvicorn app.main:app --workers WORKERS` in a subprocess, as the other benchmarks run
    it."""

    def __init__(self, url: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"coopledger-pay-bench-{self.port}.log"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "COOPLEDGER_SECRET_KEY": SECRET,
            "COOPLEDGER_ENV": "development",
            "COOPLEDGER_DB_POOL_SIZE": "12",
        }
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "app.main:app",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(WORKERS), "--log-level", "warning", "--no-access-log",
                "--timeout-keep-alive", "300",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"uvicorn did not start; see {self.log}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


class CpuMeter:
    """CPU seconds of the server's processes, the bench database's backends and this
    process (the load generator), from /proc: a shared machine slows the wall clock, not
    these."""

    def __init__(self, engine: sa.Engine, server: Server) -> None:
        self.engine = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
        self.server = server

    def _pids(self) -> tuple[list[int], list[int]]:
        master = self.server.proc.pid
        children = [master]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                    children.append(int(stat.parent.name))
            except (OSError, ValueError, IndexError):
                continue
        with self.engine.connect() as conn:
            backends = conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            ).scalars()
            return children, list(backends)

    def snapshot(self) -> dict[str, Any]:
        server, db = self._pids()
        return {
            "server": {p: _cpu_seconds(p) for p in server},
            "db": {p: _cpu_seconds(p) for p in db},
            "client": time.process_time(),
        }

    def since(self, first: dict[str, Any]) -> tuple[float, float, float]:
        now = self.snapshot()
        server, db = (
            sum(v - first[k].get(p, 0.0) for p, v in now[k].items()) for k in ("server", "db")
        )
        return server, db, now["client"] - first["client"]


# -- the load -----------------------------------------------------------------------------------


@dataclass
class Load:
    """A closed loop: SENDERS threads take requests from one queue as fast as answered."""

    label: str
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    answers: list[tuple[int, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def report(self, unit: str) -> None:
        lat = sorted(self.latencies_ms)
        q = statistics.quantiles(lat, n=100)
        n = len(lat)
        _say(
            f"{self.label}: {n:,} {unit} in {self.seconds:.1f} s = {n / self.seconds:,.0f} "
            f"{unit}/s; latency ms p50 {q[49]:.1f}, p95 {q[94]:.1f}, p99 {q[98]:.1f}, "
            f"max {lat[-1]:.1f}; errors {len(self.errors)}"
        )
        server, db, client = (1000 * c / n for c in self.cpu)
        _say(
            f"  CPU per request: server {server:.2f} ms, PostgreSQL backends {db:.2f} ms, "
            f"load generator {client:.2f} ms"
        )


def closed_loop(
    label: str,
    n: int,
    request: Callable[[httpx.Client, int, int], httpx.Response],
    meter: CpuMeter | None = None,
) -> Load:
    """`request(client, sender, i)` for i in 0..n-1 from SENDERS threads, each with its own
    keep-alive client; the answers in the order of i."""
    out = Load(label, answers=[(0, None)] * n)
    work: queue.Queue[int] = queue.Queue()
    for i in range(n):
        work.put(i)
    gate = threading.Barrier(SENDERS + 1)
    lock = threading.Lock()

    def sender(k: int) -> None:
        mine: list[float] = []
        with httpx.Client(timeout=120, limits=httpx.Limits(max_keepalive_connections=1)) as c:
            gate.wait()
            while True:
                try:
                    i = work.get_nowait()
                except queue.Empty:
                    break
                t = time.perf_counter()
                try:
                    r = request(c, k, i)
                except httpx.HTTPError as exc:
                    with lock:
                        out.errors.append(f"{i}: {exc!r}")
                    continue
                mine.append((time.perf_counter() - t) * 1000)
                body = (
                    r.json()
                    if r.headers.get("content-type", "").startswith("application/json")
                    else None
                )
                out.answers[i] = (r.status_code, body)
        with lock:
            out.latencies_ms.extend(mine)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(SENDERS)]
    for t in threads:
        t.start()
    first = meter.snapshot() if meter else None
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(timeout=1800)
    out.seconds = time.perf_counter() - t0
    if meter and first:
        out.cpu = meter.since(first)
    return out


def the_burst(bench: Bench, n: int, rng: random.Random) -> tuple[list[dict[str, Any]], int]:
    """`n` deliveries: ~80 % to a member by number as typed, ~15 % to no one, ~5 % a
    duplicate delivery of an earlier one (a few places later: some arrive while the first is
    being answered). Returns the deliveries and how many are duplicates."""
    firsts: list[dict[str, Any]] = []
    duplicates = round(n * (1 - MATCHED - HELD))
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(n - duplicates):
        if i < round(n * MATCHED):
            number = rng.choice(bench.numbers)
            ref = rng.choice([number, number.lower(), number.replace("-", ""), f" {number} "])
        else:
            ref = f"UNKNOWN-{rng.randrange(10**6)}"
        amount = f"{rng.choice((50, 50, 50, 100, 25, 150))}.00"
        firsts.append(payment(f"MM{i:07d}", ref, amount, occurred_at=now.isoformat()))
    rng.shuffle(firsts)
    deliveries = list(firsts)
    for _ in range(duplicates):
        j = rng.randrange(len(firsts))
        deliveries.insert(min(len(deliveries), j + rng.randrange(1, 40)), firsts[j])
    return deliveries, duplicates


# -- the run ------------------------------------------------------------------------------------


def _run(engine: sa.Engine, bench: Bench, server: Server) -> None:
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
    _say(
        f"server: uvicorn app.main:app --workers {WORKERS}, PostgreSQL {version}, "
        f"{os.cpu_count()} CPUs shared with the load generator ({SENDERS} sender threads, "
        "httpx, keep-alive)"
    )
    made = httpx.post(
        f"{server.url}/api/v1/payment-channels",
        json={"code": CODE, "adapter": "generic_json", "currency": "DOP"},
        headers={"Authorization": f"Bearer {bench.admin_key}"},
        timeout=60,
    )
    assert made.status_code == 201, made.text
    provider = Provider.of(made.json())
    rng = random.Random(14)
    meter = CpuMeter(engine, server)

    # warm up: every worker's first requests (imports, caches, connections)
    warm = [payment(f"WARM{i:04d}", rng.choice(bench.numbers), "50.00") for i in range(WARMUP)]
    closed_loop("warm-up", WARMUP, lambda c, k, i: provider.send(warm[i], client=c))
    closed_loop("warm-up", 500, lambda c, k, i: c.get(f"{server.url}/healthz"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))

    # the reference, same senders, same run: the HTTP floor
    health = closed_loop(
        "reference: GET /healthz, 16 senders",
        NOTIFICATIONS,
        lambda c, k, i: c.get(f"{server.url}/healthz"),
        meter,
    )
    health.report("requests")

    # the burst
    deliveries, duplicates = the_burst(bench, NOTIFICATIONS, rng)
    burst = closed_loop(
        f"burst: {NOTIFICATIONS:,} notifications ({duplicates} duplicate deliveries), 16 senders",
        len(deliveries),
        lambda c, k, i: provider.send(deliveries[i], client=c),
        meter,
    )
    burst.report("notifications")

    # the reference, same senders, same run: single receipts without the payments layer
    received_at = datetime.now(UTC).isoformat()

    def receipt(c: httpx.Client, k: int, i: int) -> httpx.Response:
        return c.post(
            f"{server.url}/api/v1/receipts",
            json={
                "member_id": str(bench.members[(i * 7919) % len(bench.members)]),
                "amount": "50.00",
                "currency": "DOP",
                "received_at": received_at,
                "channel": "cash",
            },
            headers={"Authorization": f"Bearer {bench.collector_keys[k]}"},
        )

    single = closed_loop(
        "reference: single receipts POST /receipts, 16 senders",
        REFERENCE_RECEIPTS,
        receipt,
        meter,
    )
    single.report("receipts")
    _say(
        f"burst / single receipts: {len(deliveries) / burst.seconds:,.0f} vs "
        f"{REFERENCE_RECEIPTS / single.seconds:,.0f} per second; burst / healthz: "
        f"{(len(deliveries) / burst.seconds) / (NOTIFICATIONS / health.seconds):.2f}"
    )

    # no loss, no double posting
    assert burst.errors == [] and health.errors == [] and single.errors == []
    assert {s for s, _ in burst.answers} == {200}, [a for a in burst.answers if a[0] != 200][:3]
    assert {s for s, _ in single.answers} == {201}
    first_answer: dict[str, dict[str, Any]] = {}
    for body, (_, said) in zip(deliveries, burst.answers, strict=True):
        txid = body["transaction_id"]
        if txid in first_answer:
            assert said == first_answer[txid], (txid, said, first_answer[txid])
        first_answer[txid] = said
    t0 = time.perf_counter()
    standing = payments_consistent(engine)  # verify clean; suspense = held; one live per id
    checked = time.perf_counter() - t0
    burst_ids = {b["transaction_id"] for b in deliveries}
    live = {t for (c, t) in standing.live if c == CODE}
    assert live == burst_ids | {w["transaction_id"] for w in warm}
    matched = {t for t, a in first_answer.items() if a["status"] == "matched"}
    held = {t for t, a in first_answer.items() if a["status"] == "suspense"}
    assert len(matched) == round(NOTIFICATIONS * MATCHED)
    assert len(held) == len(burst_ids) - len(matched)
    assert standing.statuses["duplicate"] == 0 and standing.statuses["refused"] == 0
    with engine.connect() as conn:
        receipts = conn.execute(
            sa.text("SELECT count(*) FROM receipt WHERE channel = 'mobile_money'")
        ).scalar_one()
    assert receipts == len(matched) + WARMUP == standing.statuses["matched"]
    _say(
        f"checked: {len(deliveries):,} deliveries, {len(burst_ids):,} transactions, each one "
        f"live notification; {len(matched):,} matched = {len(matched):,} receipts, "
        f"{len(held):,} held; each duplicate answered as its first; lost 0, posted twice 0; "
        f"coopledger verify and the payment checks clean ({checked:.1f} s)"
    )
