"""Benchmark: a remittance batch of 100,000 lines created, sealed and exported as pain.001, on
PostgreSQL; the export streams, so its peak memory stays flat whatever the batch size.

    make bench        (or: .venv/bin/pytest tests/perf/test_remittances_perf.py -s)

Makes its own database from COOPLEDGER_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test), migrates it, drops it at the end, and prints the
figures. It asserts what the run must get right (lines, control sum, a valid document), never
how fast it was.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
import tracemalloc
import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from lxml import etree
from sqlalchemy.engine import make_url

from app.core.audit import CLI_ACTOR
from app.core.database import make_engine, make_session_factory, unit_of_work
from app.core.migrations import upgrade
from app.core.settings import normalise_database_url
from app.funds.adapters import pain001
from app.funds.schemas import FundCreate
from app.funds.service import create_fund
from app.identity.service import create_organisation
from app.ledger import service as ledger
from app.ledger.models import AccountType
from app.ledger.service import Line
from app.models import load_all_models
from app.remittances import service

SIZES = (10_000, 100_000)  # two funds: the export's peak memory must not grow with the batch
PERIOD = (date(2026, 11, 1), date(2026, 11, 30))


def _admin_url() -> str:
    raw = os.environ.get(
        "COOPLEDGER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    return normalise_database_url(raw)


def _say(text: str) -> None:
    print(f"[remittances bench] {text}", flush=True)


def test_remittance_batch_benchmark() -> None:
    load_all_models()
    admin = sa.create_engine(_admin_url(), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    name = f"coopledger_bench_rem_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(_admin_url()).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        engine = make_engine(url, pool_size=2)
        try:
            _run(engine)
        finally:
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _owe(engine: sa.Engine, org: uuid.UUID, fund_code: str, members: int, first: int) -> int:
    """`members` members each owing the fund one contribution for November, written set-based
    (due, allocation, share) with one balanced entry crediting the fund's owed account."""
    factory = make_session_factory(engine)
    with unit_of_work(factory, org) as s:
        from app.funds.models import Fund

        fund = s.scalar(sa.select(Fund).where(Fund.code == fund_code))
        assert fund is not None
        bank = ledger.ensure_account(
            s, CLI_ACTOR, code="BANK:MAIN", name="Bank", type=AccountType.asset, currency="DOP"
        )
        # amount per member: 100.00 .. 599.99, deterministic
        total = s.scalar(
            sa.text(
                "SELECT sum(10000 + (i * 7919) % 50000) FROM generate_series(CAST(:a AS integer), CAST(:b AS integer)) i"
            ),
            {"a": first, "b": first + members - 1},
        )
        entry = ledger.post(
            s,
            CLI_ACTOR,
            description=f"Contributions to {fund_code}",
            effective_on=PERIOD[1],
            lines=[Line.debit(bank.id, int(total)), Line.credit(fund.owed_account_id, int(total))],
            kind="bench",
        )
        params = {
            "org": org,
            "a": first,
            "b": first + members - 1,
            "fund": fund.id,
            "je": entry,
            "ps": PERIOD[0],
            "pe": PERIOD[1],
            "credit": bank.id,
        }
        s.execute(
            sa.text(
                "INSERT INTO member (organisation_id, id, member_number, full_name, status, joined_on, "
                "credit_account_id, search_text, created_at, updated_at) SELECT :org, gen_random_uuid(), "
                "'M-' || lpad(i::text, 7, '0'), 'Member ' || i, 'active', DATE '2026-01-01', :credit, "
                "'member ' || i || ' m-' || lpad(i::text, 7, '0'), now(), now() "
                "FROM generate_series(CAST(:a AS integer), CAST(:b AS integer)) i ON CONFLICT DO NOTHING"
            ),
            params,
        )
        s.execute(
            sa.text(
                "INSERT INTO member_affiliation (organisation_id, id, member_id, fund_id, affiliation_number, updated_at) "
                "SELECT :org, gen_random_uuid(), m.id, :fund, 'AF-' || m.member_number, now() FROM member m "
                "WHERE m.organisation_id = :org AND m.member_number BETWEEN 'M-' || lpad(CAST(:a AS text), 7, '0') "
                "AND 'M-' || lpad(CAST(:b AS text), 7, '0')"
            ),
            params,
        )
        scheme = s.scalar(
            sa.text(
                "INSERT INTO scheme (organisation_id, id, code, name, kind, currency, created_at) VALUES "
                "(:org, gen_random_uuid(), :code, 'Bench', 'monthly', 'DOP', now()) RETURNING id"
            ),
            {"org": org, "code": f"bench-{fund_code}"},
        )
        version = s.scalar(
            sa.text(
                "INSERT INTO scheme_version (organisation_id, id, scheme_id, version, effective_from, rules, "
                "created_at, created_by) VALUES (:org, gen_random_uuid(), :scheme, 1, DATE '2026-01-01', '{}', now(), 'bench') "
                "RETURNING id"
            ),
            {"org": org, "scheme": scheme},
        )
        s.execute(
            sa.text(
                "CREATE TEMP TABLE bench_rows ON COMMIT DROP AS SELECT i, m.id AS member_id, gen_random_uuid() AS due_id, "
                "gen_random_uuid() AS enrolment_id, "
                "gen_random_uuid() AS allocation_id, (10000 + (i * 7919) % 50000)::bigint AS amount "
                "FROM generate_series(CAST(:a AS integer), CAST(:b AS integer)) i JOIN member m ON m.organisation_id = :org "
                "AND m.member_number = 'M-' || lpad(i::text, 7, '0')"
            ),
            params,
        )
        s.execute(
            sa.text(
                "INSERT INTO enrolment (organisation_id, id, member_id, scheme_id, starts_on, created_at, "
                "updated_at) SELECT :org, enrolment_id, member_id, :scheme, :ps, now(), now() FROM bench_rows"
            ),
            {**params, "scheme": scheme},
        )
        s.execute(
            sa.text(
                "INSERT INTO due (organisation_id, id, enrolment_id, member_id, scheme_id, scheme_version_id, "
                "period_start, period_end, due_on, currency, amount, paid, created_at) SELECT :org, due_id, "
                "enrolment_id, member_id, :scheme, "
                ":version, :ps, :pe, :pe, 'DOP', amount, amount, now() FROM bench_rows"
            ),
            {**params, "scheme": scheme, "version": version},
        )
        s.execute(
            sa.text(
                "INSERT INTO allocation (organisation_id, id, due_id, source, amount, journal_id, allocated_at) "
                "SELECT :org, allocation_id, due_id, 'credit', amount, :je, now() FROM bench_rows"
            ),
            params,
        )
        s.execute(
            sa.text(
                "INSERT INTO contribution_share (organisation_id, id, allocation_id, due_id, fund_id, member_id, "
                "period_start, period_end, amount, created_at) SELECT :org, gen_random_uuid(), allocation_id, due_id, "
                ":fund, member_id, :ps, :pe, amount, now() FROM bench_rows"
            ),
            params,
        )
    return int(total)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _acknowledge(factory: Any, org: uuid.UUID, batch_id: uuid.UUID) -> tuple[float, int]:
    """Submit the batch and acknowledge every line in one answer, every 100th rejected (the
    set-based path: one UPDATE for the lines, one for the freed shares, one ledger entry)."""
    from app.funds.registry import LineAnswer
    from app.remittances import settlement
    from app.remittances.models import RemittanceLine

    with unit_of_work(factory, org) as s:
        service.submit(s, CLI_ACTOR, batch_id)
        keys = s.scalars(
            sa.select(RemittanceLine.end_to_end_id)
            .where(RemittanceLine.batch_id == batch_id)
            .order_by(RemittanceLine.line_number)
        ).all()
    answers = [
        LineAnswer(k, "rejected", "AC01: wrong affiliation")
        if i % 100 == 0
        else LineAnswer(k, "accepted", None)
        for i, k in enumerate(keys)
    ]
    t0 = time.perf_counter()
    with unit_of_work(factory, org) as s:
        batch, ack = settlement.acknowledge(s, CLI_ACTOR, batch_id, answers, source="json")
        assert batch.status == "acknowledged"
        assert ack.accepted_count + ack.rejected_count == len(keys)
        rejected = ack.rejected_count
    return time.perf_counter() - t0, rejected


def _run(engine: sa.Engine) -> None:
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        org = create_organisation(s, code="BENCH", name="Bench cooperative", currency="DOP").id
    with unit_of_work(factory, org) as s:
        for size in SIZES:
            create_fund(
                s,
                CLI_ACTOR,
                FundCreate(
                    code=f"F{size}",
                    name=f"Fund {size}",
                    kind="social_security",
                    currency="DOP",
                    adapter="pain001",
                    settlement_account={"iban": "DO28BAGR00000001212453611324"},
                ),
            )
    first = 1
    results = []
    for size in SIZES:
        t0 = time.perf_counter()
        expected = _owe(engine, org, f"F{size}", size, first)
        first += size
        _say(f"set-up: {size:,} members owing fund F{size} in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        with unit_of_work(factory, org) as s:
            batch = service.create_batch(s, CLI_ACTOR, fund_code=f"F{size}", through=PERIOD[1])
            batch_id = batch.id
            assert (batch.line_count, batch.control_sum) == (size, expected)
        t_create = time.perf_counter() - t0

        t0 = time.perf_counter()
        with unit_of_work(factory, org) as s:
            service.seal(s, CLI_ACTOR, batch_id)
        t_seal = time.perf_counter() - t0

        # Timed export (tracemalloc would slow it several times over), RSS sampled per chunk.
        rss_before = rss_top = _rss_mb()
        t0 = time.perf_counter()
        path = os.path.join(tempfile.mkdtemp(), f"F{size}.xml")
        written = 0
        with open(path, "wb") as out:
            for n, chunk in enumerate(
                service.stream_file(factory, org, batch_id, pain001.render, {})
            ):
                out.write(chunk)
                written += len(chunk)
                if n % 10 == 0:
                    rss_top = max(rss_top, _rss_mb())
        t_export = time.perf_counter() - t0
        rss_after = max(rss_top, _rss_mb())
        # Memory pass: the same export under tracemalloc, for the peak of Python allocations.
        tracemalloc.start()
        for _chunk in service.stream_file(factory, org, batch_id, pain001.render, {}):
            pass
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        schema = etree.XMLSchema(etree.parse(str(pain001.XSD_PATH)))
        parser = etree.XMLParser(schema=schema, huge_tree=True)
        root = etree.parse(path, parser).getroot()  # raises if the document is not valid
        ns = {"p": pain001.NAMESPACE}
        assert root.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=ns) == str(size)
        assert len(root.findall(".//p:CdtTrfTxInf", ns)) == size
        del root
        os.remove(path)
        total = t_create + t_seal + t_export
        t_ack, rejected = _acknowledge(factory, org, batch_id)
        _say(
            f"{size:,} lines: submitted, then acknowledged in one answer ({rejected:,} rejected) "
            f"in {t_ack:.2f} s"
        )
        results.append(
            (size, t_create, t_seal, t_export, total, peak / 2**20, rss_after - rss_before)
        )
        _say(
            f"{size:,} lines: create {t_create:.2f} s, seal {t_seal:.2f} s, pain.001 export "
            f"{t_export:.2f} s ({written / 2**20:.1f} MiB) = {total:.2f} s; export peak Python "
            f"memory (tracemalloc) {peak / 2**20:.1f} MiB, RSS {rss_before:.0f} -> peak {rss_after:.0f} MiB "
            f"(process peak RSS so far {peak_rss:.0f} MiB); valid against the official XSD"
        )
    _say(
        "size, create s, seal s, export s, total s, export peak MiB (tracemalloc), RSS growth during export MiB"
    )
    for row in results:
        _say(", ".join(f"{v:,}" if isinstance(v, int) else f"{v:.2f}" for v in row))
