"""Benchmark: a month of dues for 100,000 monthly members and 20,000 transport units, and the
standing of one member with a year of daily dues behind it. PostgreSQL.

    make bench        (or: .venv/bin/pytest tests/perf/test_dues_perf.py -s)

Makes its own database from COOPLEDGER_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test), migrates it, drops it at the end, and prints the
figures. It asserts what the run must get right (how many dues), never how fast it was.
"""

from __future__ import annotations

import io
import os
import statistics
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.core.audit import CLI_ACTOR
from app.core.database import make_engine, make_session_factory, unit_of_work
from app.core.ids import uuid7
from app.core.migrations import upgrade
from app.core.settings import normalise_database_url
from app.models import load_all_models

MEMBERS = 100_000
UNITS = 20_000
MONTH_START, MONTH_END = date(2026, 11, 1), date(2026, 11, 30)
YEAR_START = date(2025, 11, 1)

DAILY = """
code: bench-daily
name: Bench, daily per unit, every day
kind: daily_per_unit
currency: DOP
versions:
  - effective_from: 2025-01-01
    amount: "50.00"
    grace_days: 30
    fee: {percent: "5"}
    split: [{fund: PENSION, percent: "60"}, {fund: HEALTH, percent: "35"}, {fund: ACCIDENT, percent: "5"}]
    penalty: {percent_per_month: "1", after_days: 30}
"""
MONTHLY = """
code: bench-monthly
name: Bench, monthly share of income
kind: monthly
currency: DOP
versions:
  - effective_from: 2025-01-01
    amount: {percent_of_income: "5.5", minimum: "300.00", maximum: "5000.00"}
    due_day: 10
    grace_days: 30
    split: [{fund: PENSION, percent: "70"}, {fund: HEALTH, percent: "30"}]
"""


def _admin_url() -> str:
    raw = os.environ.get(
        "COOPLEDGER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    return normalise_database_url(raw)


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds used so far by a PostgreSQL backend on this machine (None if not local)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _RssSampler:
    """This process's resident memory, sampled every 20 ms on a thread: the peak growth over
    a run shows whether memory stays flat (tracemalloc would slow the run down)."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _rss(self) -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * self.page

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def stop(self) -> int:
        """Peak growth in bytes."""
        self._stop.set()
        self._thread.join()
        return max(self.peak, self._rss()) - self.start


def _say(text: str) -> None:
    print(f"[dues bench] {text}", flush=True)


def test_dues_generation_and_standing_benchmark() -> None:
    load_all_models()
    admin = sa.create_engine(_admin_url(), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    name = f"coopledger_bench_dues_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(_admin_url()).set(database=name).render_as_string(hide_password=False)
    engine = None
    try:
        upgrade(url)
        engine = make_engine(url, pool_size=2)
        _run(engine)
    finally:
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _run(engine: sa.Engine) -> None:
    from app.funds.schemas import FundCreate
    from app.funds.service import create_fund
    from app.identity.service import create_organisation
    from app.members.importer import import_members
    from app.schemes.service import load_schedule

    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        org = create_organisation(s, code="BENCH", name="Bench", currency="DOP")
        org_id = org.id
        for code in ("PENSION", "HEALTH", "ACCIDENT"):
            create_fund(
                s,
                CLI_ACTOR,
                FundCreate(code=code, name=code, kind="other", currency="DOP", adapter="csv"),
            )
        load_schedule(s, CLI_ACTOR, DAILY, "bench-daily")
        load_schedule(s, CLI_ACTOR, MONTHLY, "bench-monthly")

    # -- members: the CSV import, as a treasurer would run it --------------------------------
    csv = io.StringIO()
    csv.write("member_number,full_name,national_id,phone,joined_on\n")
    for i in range(MEMBERS + 1):
        csv.write(f"M{i:06d},Member {i},{40200000000 + i},+1809555{i:04d},2026-01-01\n")
    t0 = time.perf_counter()
    with unit_of_work(factory, org_id) as s:
        result = import_members(s, CLI_ACTOR, csv.getvalue().encode())
    import_s = time.perf_counter() - t0
    assert result.created == MEMBERS + 1 and result.rejected == 0
    _say(f"member CSV import: {MEMBERS + 1} members in {import_s:.2f} s")

    _units_and_enrolments(factory, org_id)

    from app.schemes.generation import generate_dues
    from app.schemes.standing import member_standing

    # a year of daily dues behind one driver, half of them paid
    with unit_of_work(factory, org_id) as s:
        generate_dues(s, CLI_ACTOR, MONTH_START - timedelta(days=1))
        s.execute(
            sa.text(
                "UPDATE due SET paid = amount WHERE organisation_id = :o AND period_start < :d"
            ).bindparams(sa.bindparam("o", type_=sa.Uuid())),
            {"o": org_id, "d": date(2026, 5, 1)},
        )

    # -- the month: 100,000 monthly + 20,000 x 30 daily dues ----------------------------------
    # The dues-created hooks (collections applies prepaid credit) run inside the generation's
    # transaction; they are timed apart so the figures say where the time goes.
    from app.schemes import service as schemes_service

    registered = list(schemes_service.DUES_CREATED_HOOKS)
    cpu_seconds: dict[str, float | None] = {}
    hook_seconds: dict[str, float] = {}

    def timed(hook):  # type: ignore[no-untyped-def]
        def run(session, actor, payers):  # type: ignore[no-untyped-def]
            t, py = time.perf_counter(), time.process_time()
            try:
                hook(session, actor, payers)
            finally:
                hook_seconds[f"{hook.__module__}.{hook.__qualname__}"] = time.perf_counter() - t
                hook_seconds["  of which Python CPU"] = time.process_time() - py

        return run

    # where the database's time goes, by kind of statement (backend CPU, read from /proc)
    by_statement: dict[str, list[float]] = {}

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        conn.info["cpu_before"] = _backend_cpu(conn.info["pid"]) if "pid" in conn.info else None

    def after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        start = conn.info.pop("cpu_before", None)
        end = _backend_cpu(conn.info["pid"]) if "pid" in conn.info else None
        if start is None or end is None:
            return
        words = " ".join(statement.split())
        key = (
            words[:60] if not words.startswith("INSERT INTO due") else "INSERT INTO due ... SELECT"
        )
        cell = by_statement.setdefault(key, [0.0, 0])
        cell[0] += end - start
        cell[1] += 1

    def month(hooks):  # type: ignore[no-untyped-def]
        schemes_service.DUES_CREATED_HOOKS[:] = hooks
        steps: list[tuple[float, int, int]] = []
        rss = _RssSampler()
        t0 = time.perf_counter()
        try:
            with unit_of_work(factory, org_id) as s:
                pid = s.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                s.connection().info["pid"] = pid
                cpu0, py0 = _backend_cpu(pid), time.process_time()
                gen = generate_dues(
                    s,
                    CLI_ACTOR,
                    MONTH_END,
                    progress=lambda done, total: steps.append(
                        (time.perf_counter() - t0, done, total)
                    ),
                )
                cpu_seconds["python before commit"] = time.process_time() - py0
            wall = time.perf_counter() - t0
            cpu1 = _backend_cpu(pid)
            cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
            cpu_seconds.update(db=cpu, python=time.process_time() - py0)
            return gen, wall, rss.stop(), steps
        finally:
            rss.stop()
            schemes_service.DUES_CREATED_HOOKS[:] = registered

    load_before = os.getloadavg()[0]
    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        gen, total_s, peak, steps = month([timed(h) for h in registered])
        hooks_note = ", ".join(f"{k} {v:.2f} s" for k, v in hook_seconds.items()) or "none"
    except Exception as exc:  # a hook of another package failed: report it, measure without
        hooks_note = f"FAILED ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); measured without hooks"
        gen, total_s, peak, steps = month([])
    expected_daily = UNITS * 30
    with engine.connect() as conn:
        made = conn.execute(
            sa.text("SELECT count(*) FROM due WHERE period_start >= :d"), {"d": MONTH_START}
        ).scalar_one()
    assert gen.created == made
    assert made == expected_daily + 30 + MEMBERS + 1  # + the year unit's November
    _say(
        f"generation through {MONTH_END}: {gen.created} dues ({expected_daily + 30} daily, "
        f"{MEMBERS + 1} monthly) for {gen.enrolments} enrolments in {total_s:.2f} s "
        f"(commit included); {gen.created / total_s:,.0f} dues/s; "
        f"peak growth of this process's resident memory {peak / 2**20:.1f} MiB"
    )
    db_cpu = cpu_seconds.get("db")
    _say(
        "CPU time of that run: PostgreSQL backend "
        + ("n/a (server not local)" if db_cpu is None else f"{db_cpu:.2f} s")
        + f", Python {cpu_seconds.get('python') or 0:.2f} s (of which the commit "
        + f"{(cpu_seconds.get('python') or 0) - (cpu_seconds.get('python before commit') or 0):.2f} s)"
        + "; load average before/after "
        + f"{load_before:.1f}/{os.getloadavg()[0]:.1f} (other processes share the 2 cores)"
    )
    _say(f"dues-created hooks within that: {hooks_note}")
    sa.event.remove(engine, "before_cursor_execute", before)
    sa.event.remove(engine, "after_cursor_execute", after)
    top = sorted(by_statement.items(), key=lambda kv: -kv[1][0])[:8]
    _say("database CPU by statement: " + "; ".join(f"{k!r} x{n}: {c:.2f} s" for k, (c, n) in top))
    marks = [steps[len(steps) * k // 4] for k in range(1, 4)] if len(steps) > 4 else steps
    _say("progress: " + ", ".join(f"{d}/{t} at {at:.1f} s" for at, d, t in marks))

    t0 = time.perf_counter()
    with unit_of_work(factory, org_id) as s:
        again = generate_dues(s, CLI_ACTOR, MONTH_END)
    _say(f"second run: {again.created} dues created in {time.perf_counter() - t0:.2f} s")
    assert again.created == 0

    # -- standing of the driver with a year of dues behind him --------------------------------
    with unit_of_work(factory, org_id) as s:
        from app.members.models import Member

        driver = s.scalar(sa.select(Member).where(Member.member_number == f"M{MEMBERS:06d}"))
        assert driver is not None
        times = []
        for _ in range(300):
            t = time.perf_counter()
            st = member_standing(s, driver, date(2026, 12, 15))
            times.append((time.perf_counter() - t) * 1000)
        dues_behind = s.execute(
            sa.text(
                "SELECT count(*) FROM due WHERE unit_id = (SELECT unit_id FROM unit_crew WHERE member_id = :m)"
            ).bindparams(sa.bindparam("m", type_=sa.Uuid())),
            {"m": driver.id},
        ).scalar_one()
    assert st.arrears > 0 and st.paid_through == date(2026, 4, 30)
    times.sort()
    _say(
        f"standing of one member ({dues_behind} daily dues behind him): median "
        f"{statistics.median(times):.2f} ms, p95 {times[int(len(times) * 0.95)]:.2f} ms, "
        f"max {times[-1]:.2f} ms over {len(times)} calls"
    )


def _units_and_enrolments(factory, org_id: uuid.UUID) -> None:  # type: ignore[no-untyped-def]
    from app.core.database import utcnow
    from app.ledger import service as ledger
    from app.ledger.models import AccountType
    from app.members.models import Member, TransportUnit, UnitCrew
    from app.schemes.models import Enrolment, Scheme

    t0 = time.perf_counter()
    now = utcnow()
    with unit_of_work(factory, org_id) as s:
        members = {n: i for n, i in s.execute(sa.select(Member.member_number, Member.id))}
        schemes = {c: i for c, i in s.execute(sa.select(Scheme.code, Scheme.id))}
        regs = [f"U{i:05d}" for i in range(UNITS + 1)]
        accounts = ledger.open_accounts(
            s,
            CLI_ACTOR,
            [
                ledger.AccountSpec(f"UNIT:{r}:CREDIT", f"credit {r}", AccountType.liability, "DOP")
                for r in regs
            ],
        )
        units, crew, enrolments = [], [], []
        for i, r in enumerate(regs):
            uid = uuid7()
            owner = members[f"M{(2 * i) % MEMBERS:06d}"]
            driver = (
                members[f"M{MEMBERS:06d}"]
                if i == UNITS
                else members[f"M{(2 * i + 1) % MEMBERS:06d}"]
            )
            units.append(
                {
                    "organisation_id": org_id,
                    "id": uid,
                    "registration": r,
                    "kind": "minibus",
                    "owner_member_id": owner,
                    "status": "active",
                    "credit_account_id": accounts[f"UNIT:{r}:CREDIT"],
                    "created_at": now,
                    "updated_at": now,
                }
            )
            crew += [
                {
                    "organisation_id": org_id,
                    "id": uuid7(),
                    "unit_id": uid,
                    "member_id": owner,
                    "role": "owner",
                    "covered": True,
                },
                {
                    "organisation_id": org_id,
                    "id": uuid7(),
                    "unit_id": uid,
                    "member_id": driver,
                    "role": "driver",
                    "covered": True,
                },
            ]
            enrolments.append(
                {
                    "organisation_id": org_id,
                    "id": uuid7(),
                    "member_id": None,
                    "unit_id": uid,
                    "scheme_id": schemes["bench-daily"],
                    "starts_on": YEAR_START if i == UNITS else MONTH_START,
                    "ends_on": None,
                    "declared_income": None,
                    "generated_through": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        for i in range(MEMBERS + 1):
            start = MONTH_START if i % 10 else date(2026, 11, 15)  # a tenth join mid-month
            enrolments.append(
                {
                    "organisation_id": org_id,
                    "id": uuid7(),
                    "member_id": members[f"M{i:06d}"],
                    "unit_id": None,
                    "scheme_id": schemes["bench-monthly"],
                    "starts_on": start,
                    "ends_on": None,
                    "declared_income": 500_000 + 97 * i,
                    "generated_through": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        for table, rows in ((TransportUnit, units), (UnitCrew, crew), (Enrolment, enrolments)):
            for j in range(0, len(rows), 5000):
                s.execute(sa.insert(table.__table__), rows[j : j + 5000])
    _say(
        f"set-up: {UNITS + 1} units with crews and {len(enrolments)} enrolments in {time.perf_counter() - t0:.1f} s"
    )
