"""Concurrent writers against a real server: retries, hot accounts and double reversals.

A uvicorn server on loopback, many threads with their own HTTP connections, one PostgreSQL
database: what a union's collectors retrying over a poor connection actually do. SQLite
serialises writers with its lock, so this is shown on PostgreSQL.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa

from app.core import verify
from app.core.database import unit_of_work
from app.core.money import format_minor

pytestmark = pytest.mark.postgres_only

T = TypeVar("T")


def all_at_once(n: int, work: Callable[[int, httpx.Client], T]) -> list[T]:
    """Run `work(i, client)` in n threads released together, each with its own connection."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        with httpx.Client(timeout=60) as client:
            barrier.wait(timeout=30)
            return work(i, client)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def open_account(base: str, org: Any, code: str, type_: str) -> str:
    r = httpx.post(
        f"{base}/api/v1/accounts",
        json={"code": code, "name": code.title(), "type": type_, "currency": org.currency},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def entry(description: str, debit: str, credits: dict[str, int]) -> dict[str, Any]:
    total = sum(credits.values())
    return {
        "description": description,
        "effective_on": "2026-11-20",
        "postings": [
            {"account_id": debit, "amount": format_minor(total, "DOP"), "direction": "debit"},
            *(
                {"account_id": acc, "amount": format_minor(amount, "DOP"), "direction": "credit"}
                for acc, amount in credits.items()
            ),
        ],
    }


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_twenty_retries_of_one_request_post_once(live_server, org, engine) -> None:  # type: ignore[no-untyped-def]
    cash = open_account(live_server, org, "CASH", "asset")
    owed = open_account(live_server, org, "OWED", "liability")
    body = entry("sheet 7, item 3", cash, {owed: 15000})
    headers = org.headers("treasurer", **{"Idempotency-Key": "sheet-7-item-3"})

    def send(_: int, client: httpx.Client) -> httpx.Response:
        return client.post(f"{live_server}/api/v1/journal", json=body, headers=headers)

    responses = all_at_once(20, send)
    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert count(engine, "journal_entry") == 1 and count(engine, "posting") == 2
    assert count(engine, "idempotency_record") == 1
    balance = httpx.get(
        f"{live_server}/api/v1/accounts/{cash}/balance", headers=org.headers("treasurer")
    ).json()
    assert balance["balance"] == "150.00"


def test_concurrent_writers_on_the_same_accounts_lose_nothing(
    live_server, org, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    cash = open_account(live_server, org, "CASH", "asset")
    owed = open_account(live_server, org, "OWED", "liability")
    fees = open_account(live_server, org, "FEES", "income")
    writers, per_writer = 8, 25
    plans = [
        [(rng.randint(1, 500_000), rng.randint(0, 5_000)) for _ in range(per_writer)]
        for rng in (random.Random(seed) for seed in range(writers))
    ]

    def write(i: int, client: httpx.Client) -> list[int]:
        statuses = []
        for n, (to_fund, fee) in enumerate(plans[i]):
            credits = {owed: to_fund, **({fees: fee} if fee else {})}
            r = client.post(
                f"{live_server}/api/v1/journal",
                json=entry(f"writer {i} receipt {n}", cash, credits),
                headers=org.headers("treasurer", **{"Idempotency-Key": f"w{i}-r{n}"}),
            )
            statuses.append(r.status_code)
        return statuses

    statuses = Counter(s for per in all_at_once(writers, write) for s in per)
    assert statuses == {201: writers * per_writer}

    to_funds = sum(t for plan in plans for t, _ in plan)
    fee_total = sum(f for plan in plans for _, f in plan)
    h = org.headers("auditor")
    got = {
        acc: httpx.get(f"{live_server}/api/v1/accounts/{acc}/balance", headers=h).json()["balance"]
        for acc in (cash, owed, fees)
    }
    assert got == {
        cash: format_minor(to_funds + fee_total, "DOP"),
        owed: format_minor(to_funds, "DOP"),
        fees: format_minor(fee_total, "DOP"),
    }
    assert count(engine, "journal_entry") == writers * per_writer
    with engine.connect() as conn:
        posted = conn.execute(sa.text("SELECT sum(amount) FROM posting WHERE amount > 0")).scalar()
    assert posted == to_funds + fee_total
    with unit_of_work(session_factory) as session:
        assert verify.run(session) == []


def test_ten_concurrent_reversals_of_one_entry_reverse_it_once(live_server, org, engine) -> None:  # type: ignore[no-untyped-def]
    cash = open_account(live_server, org, "CASH", "asset")
    owed = open_account(live_server, org, "OWED", "liability")
    h = org.headers("treasurer")
    original = httpx.post(
        f"{live_server}/api/v1/journal", json=entry("receipt", cash, {owed: 2500}), headers=h
    ).json()

    def reverse(i: int, client: httpx.Client) -> httpx.Response:
        return client.post(
            f"{live_server}/api/v1/journal/{original['id']}/reverse",
            json={"reason": f"duplicate, clerk {i}"},
            headers=h,
        )

    responses = all_at_once(10, reverse)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 9}, [r.text for r in responses]
    for r in responses:
        if r.status_code == 409:
            assert r.headers["content-type"] == "application/problem+json"
            assert "already reversed" in r.json()["detail"]
    (winner,) = [r.json() for r in responses if r.status_code == 201]
    assert winner["reverses_id"] == original["id"]
    assert count(engine, "journal_entry") == 2 and count(engine, "posting") == 4
    balance = httpx.get(f"{live_server}/api/v1/accounts/{cash}/balance", headers=h).json()
    assert balance["balance"] == "0.00"
