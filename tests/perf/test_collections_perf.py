"""Benchmark: receipts over HTTP, collection sheets, the same writes by COPY, and history.

    make bench        (or: .venv/bin/pytest tests/perf/test_collections_perf.py -s)

On PostgreSQL, server and load generator on the same machine:

1. single receipts over HTTP from 16 concurrent clients (a closed loop, keep-alive
   connections), 10% of them retried with the same Idempotency-Key (half while the first
   attempt is still running, half after its answer): throughput, latency percentiles, and a
   check that every answered receipt exists once and the numbers have no gap;
2. collection sheets of 2,000 receipts, each receipt paying one open due in full, over HTTP
   and in process (no HTTP), and the same rows written by raw `COPY` in the same run: the
   ratio says how close the service is to what the database alone can do;
3. the same single-receipt load again after 5 million receipts of history (seeded with
   `INSERT ... SELECT generate_series`, triggers off for the seeding only), and a
   one-client in-process latency at both points.

The server is `uvicorn app.main:app --workers N` in a subprocess. Makes its own database from
COOPLEDGER_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test), migrates
it, drops it at the end, prints the figures. It asserts what the run must get right (no
duplicate, no loss, no gap, the books verify), never how fast it was. Sizes can be lowered
for a quick run: COOPLEDGER_BENCH_HISTORY, COOPLEDGER_BENCH_SECONDS, COOPLEDGER_BENCH_WORKERS,
COOPLEDGER_BENCH_MEMBERS.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.core.audit import CLI_ACTOR
from app.core.database import make_engine, make_session_factory, unit_of_work
from app.core.migrations import upgrade
from app.core.settings import normalise_database_url
from app.models import load_all_models

MEMBERS = int(
    os.environ.get("COOPLEDGER_BENCH_MEMBERS", "40000")
)  # each with DUES_PER_MEMBER open dues
DUES_PER_MEMBER = 12
COPY_MEMBERS = 2_000  # reserved for the COPY baseline
CLIENTS = 16
SECONDS = float(os.environ.get("COOPLEDGER_BENCH_SECONDS", "20"))
WORKERS = int(os.environ.get("COOPLEDGER_BENCH_WORKERS", "2"))
HISTORY = int(os.environ.get("COOPLEDGER_BENCH_HISTORY", "5000000"))
SHEETS = 8
SHEET_SIZE = 2_000
RETRY_SHARE = 0.10
RULES = {
    "amount": "50.00",
    "fee": {"percent": "5"},
    "split": [
        {"fund": "PENSION", "percent": "60"},
        {"fund": "HEALTH", "percent": "35"},
        {"fund": "ACCIDENT", "percent": "5"},
    ],
    "grace_days": 30,
}
SECRET = "bench-secret-key-" + secrets.token_hex(16)


def _admin_url() -> str:
    raw = os.environ.get(
        "COOPLEDGER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    return normalise_database_url(raw)


def _say(text: str) -> None:
    print(f"[collections bench] {text}", flush=True)


def test_collections_benchmark() -> None:
    load_all_models()
    admin = sa.create_engine(_admin_url(), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    name = f"coopledger_bench_col_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(_admin_url()).set(database=name).render_as_string(hide_password=False)
    engine = None
    server = None
    try:
        upgrade(url)
        engine = make_engine(url, pool_size=4)
        book = _setup(engine)
        server = Server(url)
        _run(engine, book, server)
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
    collector_keys: list[str]
    collector_ids: list[uuid.UUID]
    treasurer_key: str
    members: list[uuid.UUID]  # paid by the service
    copy_members: list[uuid.UUID]  # paid by the COPY baseline
    scheme: tuple[uuid.UUID, uuid.UUID]
    funds: dict[str, tuple[uuid.UUID, uuid.UUID]] = field(default_factory=dict)  # id, owed


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


def _setup(engine: sa.Engine) -> Bench:
    """The organisation as the services make it: funds, the schedule file, a member CSV import,
    enrolments from 2025-11-01 and dues generation through 2026-10-31 (12 monthly dues of
    50.00 each); 16 collector API keys (each gets its cash account through the identity hook)."""
    from app.collections.models import Collector
    from app.funds.schemas import FundCreate
    from app.funds.service import create_fund
    from app.identity.service import create_api_key, create_organisation
    from app.members.importer import import_members
    from app.members.models import Member
    from app.schemes.generation import generate_dues
    from app.schemes.models import Enrolment, SchemeVersion
    from app.schemes.service import load_schedule

    t0 = time.perf_counter()
    factory = make_session_factory(engine)
    funds: dict[str, tuple[uuid.UUID, uuid.UUID]] = {}
    with unit_of_work(factory) as s:
        org = create_organisation(s, code="BENCH", name="Bench union", currency="DOP")
        org_id = org.id
        keys = [
            create_api_key(s, CLI_ACTOR, name=f"collector {i}", role="collector").secret
            for i in range(CLIENTS)
        ]
        treasurer = create_api_key(s, CLI_ACTOR, name="treasurer", role="treasurer").secret
        for code in ("PENSION", "HEALTH", "ACCIDENT"):
            fund = create_fund(
                s,
                CLI_ACTOR,
                FundCreate(code=code, name=code, kind="other", currency="DOP", adapter="csv"),
            )
            funds[code] = (fund.id, fund.owed_account_id)
        scheme = load_schedule(s, CLI_ACTOR, SCHEDULE, "bench").scheme
        scheme_id = scheme.id
        version_id = s.scalar(
            sa.select(SchemeVersion.id).where(SchemeVersion.scheme_id == scheme_id)
        )
        collector_ids = list(
            s.scalars(sa.select(Collector.id).order_by(Collector.created_at, Collector.id))
        )
    total = MEMBERS + COPY_MEMBERS
    csv = "member_number,full_name,joined_on\n" + "".join(
        f"B{i:07d},Bench member {i},2025-10-01\n" for i in range(1, total + 1)
    )
    with unit_of_work(factory, org_id) as s:
        imported = import_members(s, CLI_ACTOR, csv.encode())
        assert imported.created == total
    with unit_of_work(factory, org_id) as s:
        ids = list(s.scalars(sa.select(Member.id).order_by(Member.member_number)))
        s.execute(
            sa.insert(Enrolment),
            [
                {
                    "organisation_id": org_id,
                    "member_id": m,
                    "scheme_id": scheme_id,
                    "starts_on": date(2025, 11, 1),
                }
                for m in ids
            ],
        )
    with unit_of_work(factory, org_id) as s:
        made = generate_dues(s, CLI_ACTOR, date(2026, 10, 31)).created
        assert made == total * DUES_PER_MEMBER, made
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    _say(
        f"set-up through the services: {total} members (CSV import), {made} monthly dues of 50.00 "
        f"(dues generation), {CLIENTS} collectors, in {time.perf_counter() - t0:.1f} s"
    )
    bench = Bench(
        org_id,
        keys,
        collector_ids,
        treasurer,
        ids[:MEMBERS],
        ids[MEMBERS:],
        (scheme_id, version_id),
    )
    bench.funds.update(funds)
    return bench


# -- the server and a lean HTTP/1.1 client ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, url: str) -> None:
        self.port = _free_port()
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"coopledger-bench-{self.port}.log"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "COOPLEDGER_SECRET_KEY": SECRET,
            "COOPLEDGER_ENV": "development",
            "COOPLEDGER_DB_POOL_SIZE": "12",
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(WORKERS),
                "--log-level",
                "warning",
                "--no-access-log",
                # the load generator keeps its connections (a spare one idles between retries)
                "--timeout-keep-alive",
                "300",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as c:
                    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    if b" 200 " in c.recv(200):
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"uvicorn did not start; see {self.log}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Connection:
    """One keep-alive HTTP/1.1 connection; just enough HTTP for JSON requests."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, token: str, body: Any = None, key: str | None = None
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            + (f"Idempotency-Key: {key}\r\n" if key else "")
            + "\r\n"
        )
        self.writer.write(head.encode() + payload)
        assert self.reader is not None
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# -- single receipts ----------------------------------------------------------------------------


@dataclass
class LoadResult:
    created: int
    seconds: float
    latencies_ms: list[float]
    retried: int
    errors: list[str]
    receipts: dict[str, tuple[str, int]]  # idempotency key -> (receipt id, number)
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)  # server, database, load generator (s)


def _receipt_body(member: uuid.UUID) -> dict[str, Any]:
    return {
        "member_id": str(member),
        "amount": "50.00",
        "currency": "DOP",
        "received_at": datetime.now(UTC).isoformat(),
        "channel": "cash",
    }


async def _client_loop(
    port: int,
    token: str,
    members: list[uuid.UUID],
    until: float,
    start_at: float,
    out: LoadResult,
    rng: random.Random,
) -> None:
    main, spare = Connection(port), Connection(port)
    try:
        while time.perf_counter() < until:
            key = uuid.uuid4().hex
            body = _receipt_body(rng.choice(members))
            retry = rng.random() < RETRY_SHARE
            concurrent = retry and rng.random() < 0.5
            t = time.perf_counter()
            if concurrent:  # the client gave up waiting and sent it again on another connection
                first, second = await asyncio.gather(
                    main.request("POST", "/api/v1/receipts", token, body, key),
                    spare.request("POST", "/api/v1/receipts", token, body, key),
                )
                answers = [first, second]
            else:
                answers = [await main.request("POST", "/api/v1/receipts", token, body, key)]
            done = time.perf_counter()
            out.latencies_ms.append((done - t) * 1000)
            if retry and not concurrent:
                t2 = time.perf_counter()
                answers.append(await main.request("POST", "/api/v1/receipts", token, body, key))
                out.latencies_ms.append((time.perf_counter() - t2) * 1000)
            if retry:
                out.retried += 1
            statuses = {s for s, _ in answers}
            if statuses != {201} or len({b for _, b in answers}) != 1:
                # two different answers to one key: a duplicate or a loss
                out.errors.append(f"{statuses}: {answers[0][1][:200]!r}")
                continue
            receipt = json.loads(answers[0][1])
            out.receipts[key] = (receipt["id"], receipt["receipt_number"])
            if t >= start_at:
                out.created += 1
    finally:
        main.close()
        spare.close()


def single_receipts(
    port: int, bench: Bench, seconds: float, meter: CpuMeter, warmup: float = 3.0
) -> LoadResult:
    out = LoadResult(0, seconds, [], 0, [], {})
    rng = random.Random(7)

    async def measure(start_at: float, until: float) -> None:
        await asyncio.sleep(start_at - time.perf_counter())
        first = meter.snapshot()
        await asyncio.sleep(until - time.perf_counter())
        out.cpu = meter.since(first)

    async def main() -> None:
        now = time.perf_counter()
        start_at, until = now + warmup, now + warmup + seconds
        await asyncio.gather(
            measure(start_at, until),
            *(
                _client_loop(
                    port,
                    bench.collector_keys[i],
                    bench.members,
                    until,
                    start_at,
                    out,
                    random.Random(rng.random()),
                )
                for i in range(CLIENTS)
            ),
        )

    asyncio.run(main())
    return out


def report_load(label: str, r: LoadResult) -> None:
    lat = sorted(r.latencies_ms)
    q = statistics.quantiles(lat, n=100) if len(lat) > 100 else lat
    _say(
        f"{label}: {r.created / r.seconds:,.0f} receipts/s over {r.seconds:.0f} s "
        f"({r.created} created in the window, {len(r.receipts)} in all, {r.retried} retried); "
        f"latency ms p50 {q[49]:.1f}, p95 {q[94]:.1f}, p99 {q[98]:.1f}, max {lat[-1]:.1f}; "
        f"errors {len(r.errors)}"
    )
    if r.created:
        server, db, client = (1000 * c / r.created for c in r.cpu)
        _say(
            f"  CPU per receipt: server {server:.2f} ms, PostgreSQL backends {db:.2f} ms, "
            f"load generator {client:.2f} ms; on {os.cpu_count()} idle cores that is a ceiling "
            f"of ~{1000 * (os.cpu_count() or 1) / (server + db + client):,.0f} receipts/s"
        )


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


class CpuMeter:
    """CPU time spent by the server's processes, the database's backends for the bench
    database, and this process (the load generator), read from /proc: a machine shared with
    other work slows the wall clock, not these."""

    def __init__(self, engine: sa.Engine, server: Server) -> None:
        # its own connection, outside the pool: the in-process phases' backends are counted
        self.engine = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
        self.server = server

    def _server_pids(self) -> list[int]:
        master = self.server.proc.pid
        pids = [master]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == master:
                pids.append(int(stat.parent.name))
        return pids

    def _db_pids(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            )

    def snapshot(self) -> dict[str, Any]:
        return {
            "server": {p: _cpu_seconds(p) or 0.0 for p in self._server_pids()},
            "db": {p: _cpu_seconds(p) or 0.0 for p in self._db_pids()},
            "client": time.process_time(),
        }

    def since(self, first: dict[str, Any]) -> tuple[float, float, float]:
        now = self.snapshot()
        totals = []
        for kind in ("server", "db"):
            totals.append(sum(v - first[kind].get(p, 0.0) for p, v in now[kind].items()))
        return totals[0], totals[1], now["client"] - first["client"]


def check_once(engine: sa.Engine, r: LoadResult) -> None:
    """Every answered receipt exists exactly once; retries created nothing."""
    ids = [uuid.UUID(i) for i, _ in r.receipts.values()]
    assert not r.errors, r.errors[:3]
    assert len(set(ids)) == len(ids)
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT count(*) FROM receipt WHERE id = ANY(:ids)"), {"ids": ids}
        ).scalar_one()
    assert found == len(ids)


def check_books(engine: sa.Engine, bench: Bench) -> float:
    from app.core import verify

    t0 = time.perf_counter()
    with unit_of_work(make_session_factory(engine), bench.org_id) as s:
        breaches = verify.run(s, bench.org_id)
    assert breaches == [], breaches[:5]
    return time.perf_counter() - t0


# -- sheets -------------------------------------------------------------------------------------


def sheet_body(bench: Bench, k: int, tag: str) -> dict[str, Any]:
    at = datetime.now(UTC).isoformat()
    return {
        "collected_on": str(date.today()),
        "receipts": [
            {
                "client_id": f"{tag}-{k}-{j}",
                "member_id": str(bench.members[(k * SHEET_SIZE + j) % len(bench.members)]),
                "amount": "50.00",
                "currency": "DOP",
                "received_at": at,
                "channel": "cash",
            }
            for j in range(SHEET_SIZE)
        ],
    }


def sheets_over_http(port: int, bench: Bench) -> tuple[float, list[float]]:
    times: list[float] = []

    async def main() -> None:
        conn = Connection(port)
        try:
            for k in range(SHEETS):
                body = sheet_body(bench, k, "http")
                t = time.perf_counter()
                status, raw = await conn.request(
                    "POST",
                    "/api/v1/collection-sheets",
                    bench.collector_keys[k % CLIENTS],
                    body,
                    key=f"sheet-{k}",
                )
                times.append(time.perf_counter() - t)
                assert status == 200, raw[:300]
                answer = json.loads(raw)
                assert answer["created"] == SHEET_SIZE, answer["results"][:3]
        finally:
            conn.close()

    asyncio.run(main())
    return SHEETS * SHEET_SIZE / sum(times), times


def sheets_in_process(engine: sa.Engine, bench: Bench) -> float:
    from app.collections import sheets

    factory = make_session_factory(engine)
    elapsed = 0.0
    for k in range(SHEETS):
        body = sheet_body(bench, k + SHEETS, "proc")
        t = time.perf_counter()
        with unit_of_work(factory, bench.org_id) as s:
            cid = bench.collector_ids[k % CLIENTS]
            candidates = [
                sheets.validate_item(i, raw, cid, "DOP") for i, raw in enumerate(body["receipts"])
            ]
            outcome = sheets.post_candidates(
                s, CLI_ACTOR, candidates, action="collection_sheet.post", details={}
            )
        elapsed += time.perf_counter() - t
        assert outcome.count("created") == SHEET_SIZE
    return SHEETS * SHEET_SIZE / elapsed


def sheets_by_copy(engine: sa.Engine, bench: Bench) -> float:
    """The rows a sheet writes (receipts, allocations, shares, postings, entries, the dues'
    paid and the counter), written by COPY and two UPDATEs in one transaction per sheet."""
    from app.core.ids import uuid7

    org = bench.org_id
    cash = bench.collector_ids[0]
    with engine.connect() as conn:
        cash_account = conn.execute(
            sa.text("SELECT cash_account_id FROM collector WHERE id = :c"), {"c": cash}
        ).scalar_one()
        fee_account = conn.execute(
            sa.text("SELECT id FROM account WHERE code = 'FEE:INCOME' AND organisation_id = :o"),
            {"o": org},
        ).scalar_one()
        dues = conn.execute(
            sa.text(
                "SELECT DISTINCT ON (member_id) member_id, id, period_start FROM due "
                "WHERE member_id = ANY(:m) AND paid < amount ORDER BY member_id, due_on, id"
            ),
            {"m": bench.copy_members},
        ).all()
    # 50.00: fee 2.50, then 28.50 / 16.63 / 2.37 to the three funds
    parts = [("PENSION", 2850), ("HEALTH", 1663), ("ACCIDENT", 237)]
    raw = engine.raw_connection()
    elapsed = 0.0
    try:
        for _ in range(1):  # the reserved members have one sheet of first dues to pay
            now = datetime.now(UTC)
            t = time.perf_counter()
            cur = raw.cursor()
            cur.execute(
                "UPDATE receipt_counter SET last_number = last_number + %s "
                "WHERE organisation_id = %s RETURNING last_number",
                (len(dues), org),
            )
            first = cur.fetchone()[0] - len(dues) + 1
            entries, postings, receipts, allocations, shares = [], [], [], [], []
            for n, (member, due_id, start) in enumerate(dues):
                entry, rid, aid = uuid7(), uuid7(), uuid7()
                entries.append((org, entry, "Receipt", now.date(), now, "receipt", "bench"))
                postings.append((org, uuid7(), entry, cash_account, "DOP", 5000, now.date(), now))
                postings.append((org, uuid7(), entry, fee_account, "DOP", -250, now.date(), now))
                for code, part in parts:
                    fund_id, owed = bench.funds[code]
                    postings.append((org, uuid7(), entry, owed, "DOP", -part, now.date(), now))
                    shares.append(
                        (org, uuid7(), aid, due_id, fund_id, member, start, start, part, now)
                    )
                receipts.append(
                    (
                        org,
                        rid,
                        first + n,
                        member,
                        5000,
                        "DOP",
                        now,
                        "cash",
                        cash,
                        0,
                        "posted",
                        entry,
                        now,
                        "bench",
                    )
                )
                allocations.append((org, aid, due_id, rid, "receipt", 5000, entry, now))
            with cur.copy(
                "COPY posting (organisation_id, id, entry_id, account_id, currency, amount, "
                "effective_on, recorded_at) FROM STDIN"
            ) as cp:
                for row in postings:
                    cp.write_row(row)
            with cur.copy(
                "COPY journal_entry (organisation_id, id, description, effective_on, recorded_at, "
                "kind, created_by) FROM STDIN"
            ) as cp:
                for row in entries:
                    cp.write_row(row)
            with cur.copy(
                "COPY allocation (organisation_id, id, due_id, receipt_id, source, amount, "
                "journal_id, allocated_at) FROM STDIN"
            ) as cp:
                for row in allocations:
                    cp.write_row(row)
            with cur.copy(
                "COPY contribution_share (organisation_id, id, allocation_id, due_id, fund_id, "
                "member_id, period_start, period_end, amount, created_at) FROM STDIN"
            ) as cp:
                for row in shares:
                    cp.write_row(row)
            with cur.copy(
                "COPY receipt (organisation_id, id, receipt_number, member_id, amount, currency, "
                "received_at, channel, collector_id, credit, status, journal_id, created_at, "
                "created_by) FROM STDIN"
            ) as cp:
                for row in receipts:
                    cp.write_row(row)
            cur.execute(
                "UPDATE due SET paid = paid + 5000 WHERE organisation_id = %s AND id = ANY(%s)",
                (org, [d for _, d, _ in dues]),
            )
            raw.commit()
            elapsed += time.perf_counter() - t
        # the stored balances are the ledger's to keep: bring them level for `verify`
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO account_balance (organisation_id, account_id, shard, balance) "
                    "SELECT p.organisation_id, p.account_id, 7, sum(p.amount) FROM posting p "
                    "JOIN receipt r ON r.organisation_id = p.organisation_id "
                    "AND r.journal_id = p.entry_id WHERE r.created_by = 'bench' "
                    "GROUP BY p.organisation_id, p.account_id ON CONFLICT (organisation_id, "
                    "account_id, shard) DO UPDATE SET balance = account_balance.balance + "
                    "excluded.balance"
                )
            )
    finally:
        raw.close()
    return len(dues) / elapsed


# -- one client, in process ---------------------------------------------------------------------


def in_process_latency(engine: sa.Engine, bench: Bench, n: int = 300) -> tuple[float, float]:
    from app.collections import receipts as engine_mod
    from app.collections import service

    factory = make_session_factory(engine)
    times = []
    rng = random.Random(11)
    for _ in range(n):
        draft = engine_mod.ReceiptDraft(
            member_id=rng.choice(bench.members),
            unit_id=None,
            amount=5000,
            currency="DOP",
            received_at=datetime.now(UTC),
            channel="cash",
            collector_id=bench.collector_ids[1],
        )
        t = time.perf_counter()
        with unit_of_work(factory, bench.org_id) as s:
            service.post_receipt(s, CLI_ACTOR, draft)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.mean(times), times[int(n * 0.99) - 1]


# -- history ------------------------------------------------------------------------------------


def seed_history(engine: sa.Engine, bench: Bench, n: int) -> float:
    """`n` old receipts with their journal entries (two postings each) in one organisation,
    by INSERT ... SELECT generate_series; triggers and FK checks off for the seeding only."""
    t0 = time.perf_counter()
    org = bench.org_id
    with engine.connect() as conn:
        cash = conn.execute(
            sa.text("SELECT cash_account_id FROM collector WHERE id = :c"),
            {"c": bench.collector_ids[2]},
        ).scalar_one()
        last = conn.execute(
            sa.text("SELECT last_number FROM receipt_counter WHERE organisation_id = :o"),
            {"o": org},
        ).scalar_one()
    ids = "('00000000-0000-7000-{p}-' || lpad(to_hex(i), 12, '0'))::uuid"
    member = "hm.id"
    credit = "hm.credit_account_id"
    joined = "FROM generate_series(:lo, :hi) i JOIN history_member hm ON hm.k = i % :m"
    day = "date '2024-01-01' + (i % 600)"
    at = "timestamptz '2024-01-01 08:00+00' + (i % 600) * interval '1 day' + (i % 36000) * interval '1 second'"
    step = 1_000_000
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
        conn.execute(sa.text("SET LOCAL maintenance_work_mem = '256MB'"))
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE history_member ON COMMIT DROP AS SELECT row_number() OVER "
                "(ORDER BY id) - 1 AS k, id, credit_account_id FROM member WHERE organisation_id = :o"
            ),
            {"o": org},
        )
        conn.execute(sa.text("CREATE INDEX ON history_member (k)"))
        for lo in range(1, n + 1, step):
            p = {
                "org": org,
                "lo": lo,
                "hi": min(n, lo + step - 1),
                "m": MEMBERS,
                "cash": cash,
                "bid": bench.collector_ids[2],
                "last": last,
            }
            conn.execute(
                sa.text(
                    f"INSERT INTO journal_entry (organisation_id, id, description, effective_on, "
                    f"recorded_at, kind, created_by) SELECT :org, {ids.format(p='a000')}, "
                    f"'Receipt (history)', {day}, {at}, 'receipt', 'history' "
                    f"FROM generate_series(:lo, :hi) i"
                ),
                p,
            )
            conn.execute(
                sa.text(
                    f"INSERT INTO posting (organisation_id, id, entry_id, account_id, currency, "
                    f"amount, effective_on, recorded_at) SELECT :org, {ids.format(p='b000')}, "
                    f"{ids.format(p='a000')}, :cash, 'DOP', 5000, {day}, {at} "
                    f"FROM generate_series(:lo, :hi) i UNION ALL SELECT :org, "
                    f"{ids.format(p='c000')}, {ids.format(p='a000')}, {credit}, 'DOP', -5000, "
                    f"{day}, {at} {joined}"
                ),
                p,
            )
            conn.execute(
                sa.text(
                    f"INSERT INTO receipt (organisation_id, id, receipt_number, member_id, amount, "
                    f"currency, received_at, channel, collector_id, credit, status, journal_id, "
                    f"created_at, created_by) SELECT :org, {ids.format(p='d000')}, :last + i, "
                    f"{member}, 5000, 'DOP', {at}, 'cash', :bid, 5000, 'posted', "
                    f"{ids.format(p='a000')}, {at}, 'history' {joined}"
                ),
                p,
            )
            _say(
                f"  history: {min(n, lo + step - 1):,} receipts seeded ({time.perf_counter() - t0:.0f} s)"
            )
        conn.execute(
            sa.text(
                "UPDATE receipt_counter SET last_number = last_number + :n WHERE organisation_id = :o"
            ),
            {"n": n, "o": org},
        )
        # the stored balances follow the postings, as the ledger keeps them
        conn.execute(
            sa.text(
                "INSERT INTO account_balance (organisation_id, account_id, shard, balance) "
                "SELECT organisation_id, account_id, 6, sum(amount) FROM posting "
                "WHERE organisation_id = :o AND id >= '00000000-0000-7000-b000-000000000000' "
                "AND id < '00000000-0000-7000-d000-000000000000' "
                "GROUP BY organisation_id, account_id ON CONFLICT (organisation_id, account_id, "
                "shard) DO UPDATE SET balance = account_balance.balance + excluded.balance"
            ),
            {"o": org},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return time.perf_counter() - t0


# -- the run ------------------------------------------------------------------------------------


def _run(engine: sa.Engine, bench: Bench, server: Server) -> None:
    _say(
        f"server: uvicorn app.main:app --workers {WORKERS} (h11, asyncio loop), PostgreSQL "
        f"{_pg_version(engine)}, {os.cpu_count()} CPUs shared with the load generator"
    )
    in_process_latency(engine, bench, 50)  # warm up: first accounts, caches, statistics
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))  # as autovacuum would on a live database
    mean0, p99_0 = in_process_latency(engine, bench)
    _say(f"one client, in process, no history: {mean0:.2f} ms per receipt (p99 {p99_0:.2f} ms)")

    meter = CpuMeter(engine, server)
    single = single_receipts(server.port, bench, SECONDS, meter)
    report_load(f"single receipts, {CLIENTS} clients, history 0", single)
    check_once(engine, single)

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))  # as autovacuum would after the receipts above
    first = meter.snapshot()
    http_rate, times = sheets_over_http(server.port, bench)
    server_s, db_s, client_s = meter.since(first)
    per = 1000 / (SHEETS * SHEET_SIZE)
    _say(
        f"collection sheets over HTTP: {SHEETS} sheets of {SHEET_SIZE}, each receipt paying one "
        f"due in full: {http_rate:,.0f} receipts/s (per sheet {min(times):.2f}-{max(times):.2f} s)"
    )
    _say(
        f"  CPU per receipt: server {server_s * per:.3f} ms, PostgreSQL backends "
        f"{db_s * per:.3f} ms, load generator {client_s * per:.3f} ms"
    )
    first = meter.snapshot()
    proc_rate = sheets_in_process(engine, bench)
    _, db_s, client_s = meter.since(first)
    _say(
        f"collection sheets in process (no HTTP, no JSON): {proc_rate:,.0f} receipts/s; CPU per "
        f"receipt: service {client_s * per:.3f} ms, PostgreSQL backends {db_s * per:.3f} ms"
    )
    copy_rate = sheets_by_copy(engine, bench)
    _say(
        f"the same writes by raw COPY: {copy_rate:,.0f} receipts/s; service/COPY ratio: "
        f"HTTP {http_rate / copy_rate:.2f}, in process {proc_rate / copy_rate:.2f}"
    )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))  # the tables grew a hundredfold since the last one
    verify_s = check_books(engine, bench)
    _say(f"coopledger verify on the organisation: clean, {verify_s:.1f} s")

    if HISTORY:
        seeded = seed_history(engine, bench, HISTORY)
        _say(f"history: {HISTORY:,} receipts with entries and postings seeded in {seeded:.0f} s")
        mean1, p99_1 = in_process_latency(engine, bench)
        _say(
            f"one client, in process, {HISTORY:,} receipts of history: {mean1:.2f} ms per receipt "
            f"(p99 {p99_1:.2f} ms); without history {mean0:.2f} ms"
        )
        later = single_receipts(server.port, bench, SECONDS, meter)
        report_load(f"single receipts, {CLIENTS} clients, history {HISTORY:,}", later)
        check_once(engine, later)
    with engine.connect() as conn:
        n, lo, hi = conn.execute(
            sa.text("SELECT count(*), min(receipt_number), max(receipt_number) FROM receipt")
        ).one()
    assert (lo, hi) == (1, n), "receipt numbers have a gap"
    _say(f"receipt numbers 1..{hi:,}: no gap, no duplicate")


def _pg_version(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text("SHOW server_version")).scalar_one())
