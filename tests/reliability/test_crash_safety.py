"""Crash safety: the real server (uvicorn, a separate process, on PostgreSQL) is killed with
SIGKILL while it takes a large collection sheet; it is started again and the collector's app
retries the same sheet. Every receipt exists exactly once, receipt numbers have no gap, the
stored balances match the postings and `coopledger verify` is clean.

PostgreSQL only: this is about a server process dying mid-transaction. `make test` runs one
round of 1,000 items; `make soak` runs 4 rounds of 2,000 (COOPLEDGER_CRASH_ROUNDS, _ITEMS),
each killed at a different moment after the request's transaction began, and the kills
inside a batch seal and an adapter push (COOPLEDGER_SOAK=1).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import TEST_SECRET, free_port
from tests.remittances.fund_server import serve_fund  # noqa: F401 - the fund_server fixture

ROUNDS = int(os.environ.get("COOPLEDGER_CRASH_ROUNDS", "1"))
SHEET_ITEMS = int(os.environ.get("COOPLEDGER_CRASH_ITEMS", "1000"))
SOAK = pytest.mark.skipif(
    os.environ.get("COOPLEDGER_SOAK") != "1",
    reason="long (two server starts and a batch set-up): `make soak` runs it",
)
DELAYS = (0.0, 0.25, 0.6, 1.2, 0.1, 0.4)  # after the server's transaction is seen to start


def wait_for_other_backend(
    engine: sa.Engine, condition: str, what: str, timeout: float = 60
) -> None:
    """Block until another backend of this database meets `condition` (a pg_stat_activity
    predicate): the server's request has reached the point where the test kills it."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        f"AND pid <> pg_backend_pid() AND {condition}"
    )
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            found = conn.execute(query).scalar_one()
            conn.rollback()
            if found:
                return
            time.sleep(0.005)
    raise RuntimeError(f"the server never {what}")


def wait_for_server_transaction(engine: sa.Engine) -> None:
    """Block until the request's transaction has started."""
    wait_for_other_backend(engine, "xact_start IS NOT NULL", "started a transaction")


class Server:
    """`uvicorn app.main:app` in its own process, as production runs it."""

    def __init__(self, database_url: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "COOPLEDGER_ENV": "test",
            "COOPLEDGER_SECRET_KEY": TEST_SECRET,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's log, shown if it fails

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
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
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 180  # a loaded CI machine imports slowly
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.log.seek(0)
        raise RuntimeError(f"the server did not become ready: {self.log.read()[-3000:]!r}")

    def tail(self) -> str:
        """The end of the server's log (JSON lines), to show with a failure."""
        self.log.seek(0)
        return self.log.read()[-4000:].decode("utf-8", "replace")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        self.log.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.mark.postgres_only
def test_sigkill_during_a_large_sheet_loses_and_doubles_nothing(
    backend, db_url, make_org, engine
) -> None:  # type: ignore[no-untyped-def]
    org = make_org("AMUSSOL", "DOP")
    server = Server(db_url)
    server.start()
    try:
        h = org.headers("treasurer")
        members = []
        for i in range(20):
            r = httpx.post(
                f"{server.url}/api/v1/members",
                json={
                    "member_number": f"M-{i:04}",
                    "full_name": f"Member {i}",
                    "joined_on": "2026-01-05",
                },
                headers=h,
                timeout=30,
            )
            assert r.status_code == 201, r.text
            members.append(r.json()["id"])
        faults = retried = interrupted = 0
        expected_total = 0
        for round_no in range(ROUNDS):
            sheet = {
                "collected_on": "2026-11-20",
                "receipts": [
                    {
                        "client_id": f"r{round_no}-{i}",
                        "member_id": members[i % len(members)],
                        "amount": f"{100 + i % 50}.{i % 100:02}",
                        "currency": "DOP",
                        "received_at": "2026-11-20T09:30:00-04:00",
                        "channel": "cash",
                    }
                    for i in range(SHEET_ITEMS)
                ],
            }
            expected_total += sum((100 + i % 50) * 100 + i % 100 for i in range(SHEET_ITEMS))
            outcome: dict[str, object] = {}

            def send(sheet=sheet, outcome=outcome) -> None:  # type: ignore[no-untyped-def]
                try:
                    outcome["response"] = httpx.post(
                        f"{server.url}/api/v1/collection-sheets",
                        json=sheet,
                        headers=org.headers("collector"),
                        timeout=120,
                    )
                except httpx.HTTPError as exc:
                    outcome["error"] = exc

            sender = threading.Thread(target=send)
            sender.start()
            wait_for_server_transaction(engine)
            time.sleep(DELAYS[round_no % len(DELAYS)])  # a different moment each round
            server.kill()
            faults += 1
            sender.join(timeout=120)
            interrupted += "response" not in outcome  # the kill came before the answer
            server.start()
            # the collector's app retries the same sheet until it gets an answer
            for _attempt in range(5):
                retried += 1
                r = httpx.post(
                    f"{server.url}/api/v1/collection-sheets",
                    json=sheet,
                    headers=org.headers("collector"),
                    timeout=120,
                )
                if r.status_code == 200 or r.status_code == 201:
                    break
            body = r.json()
            if r.status_code not in (200, 201):
                print("SERVER LOG:", server.tail())
            assert r.status_code in (200, 201), (r.status_code, body)
            assert body["rejected"] == 0, body
            assert body["created"] + body["duplicates"] == SHEET_ITEMS
            statuses = {x["status"] for x in body["results"]}
            assert statuses <= {"created", "duplicate"}
            # and once more: everything is a duplicate now, nothing new is written
            again = httpx.post(
                f"{server.url}/api/v1/collection-sheets",
                json=sheet,
                headers=org.headers("collector"),
                timeout=120,
            ).json()
            retried += 1
            assert again["duplicates"] == SHEET_ITEMS and again["created"] == 0

        with engine.connect() as conn:
            n, total = conn.execute(sa.text("SELECT count(*), sum(amount) FROM receipt")).one()
            numbers = (
                conn.execute(sa.text("SELECT receipt_number FROM receipt ORDER BY receipt_number"))
                .scalars()
                .all()
            )
        assert n == ROUNDS * SHEET_ITEMS and int(total) == expected_total
        assert numbers == list(range(numbers[0], numbers[0] + n)), "receipt numbers have a gap"
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "verify"],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        print(
            f"faults injected: {faults} ({interrupted} before the answer), "
            f"sheet requests retried: {retried}, receipts: {n}, lost: 0, doubled: 0"
        )
        assert interrupted >= 1, "no kill landed inside a request: the test proved nothing"
    finally:
        server.stop()


def wait_for_lock_waiter(engine: sa.Engine) -> None:
    """Block until the request waits for the row lock the test holds."""
    wait_for_other_backend(engine, "wait_event_type = 'Lock'", "reached the held row")


@SOAK
@pytest.mark.postgres_only
def test_sigkill_during_a_batch_seal_leaves_no_half_sealed_batch(
    backend, db_url, make_org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from tests.remittances.factories import make_fund, make_member, owe

    org = make_org("AMUSSOL", "DOP")
    lines = int(os.environ.get("COOPLEDGER_CRASH_BATCH_LINES", "150"))
    from app.core.database import unit_of_work

    with unit_of_work(session_factory, org.id) as session:
        fund = make_fund(session, "CNSS")
        for i in range(lines):
            member = make_member(session, f"B-{i:05}", affiliations={"CNSS": f"SS-{i}"})
            owe(session, member, fund, 150_00, date(2026, 10, 1), date(2026, 10, 31))
    server = Server(db_url)
    server.start()
    try:
        h = org.headers("treasurer")
        made = httpx.post(
            f"{server.url}/api/v1/remittances",
            json={"fund_code": "CNSS", "through": "2026-10-31"},
            headers={**h, "Idempotency-Key": "batch-2026-10"},
            timeout=120,
        )
        assert made.status_code == 201, made.text
        batch = made.json()
        assert batch["line_count"] == lines
        outcome: dict[str, object] = {}
        seal_headers = {**h, "Idempotency-Key": "seal-2026-10"}

        def seal() -> None:
            try:
                outcome["response"] = httpx.post(
                    f"{server.url}/api/v1/remittances/{batch['id']}/seal",
                    headers=seal_headers,
                    timeout=120,
                )
            except httpx.HTTPError as exc:
                outcome["error"] = exc

        # Hold the batch's row: the seal's transaction runs until it needs that row and
        # waits there, mid-way; that is where the server dies.
        with engine.connect() as holder:
            holder.execute(
                sa.text("SELECT id FROM remittance_batch WHERE id = :id FOR UPDATE"),
                {"id": uuid.UUID(batch["id"])},
            )
            sender = threading.Thread(target=seal)
            sender.start()
            wait_for_lock_waiter(engine)
            server.kill()
            holder.rollback()
        sender.join(timeout=120)
        assert "response" not in outcome, "the seal finished before the kill: nothing was shown"
        with engine.connect() as conn:  # after the crash: still a draft, nothing moved
            status = conn.execute(sa.text("SELECT status FROM remittance_batch")).scalar_one()
            moved = conn.execute(
                sa.text("SELECT count(*) FROM journal_entry WHERE description ILIKE '%seal%'")
            ).scalar_one()
        assert status == "draft" and moved == 0
        server.start()
        retried = httpx.post(
            f"{server.url}/api/v1/remittances/{batch['id']}/seal", headers=seal_headers, timeout=120
        )
        assert retried.status_code == 200, retried.text
        again = httpx.post(
            f"{server.url}/api/v1/remittances/{batch['id']}/seal", headers=seal_headers, timeout=120
        )
        assert again.status_code == 200 and again.content == retried.content
        sealed = retried.json()
        assert sealed["status"] == "sealed" and sealed["line_count"] == lines
        assert sealed["control_sum"] == f"{lines * 150}.00"
        with engine.connect() as conn:
            statuses = conn.execute(
                sa.text("SELECT status, count(*) FROM remittance_batch GROUP BY status")
            ).all()
        assert statuses == [("sealed", 1)]
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "verify"],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        print(
            f"seal: 1 SIGKILL inside the seal's transaction, 2 retries, {lines} lines sealed once"
        )
    finally:
        server.stop()


@SOAK
@pytest.mark.postgres_only
def test_sigkill_during_an_adapter_push_delivers_the_batch_once(
    backend, db_url, make_org, session_factory, engine, fund_server
) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from app.core.database import unit_of_work
    from tests.remittances.factories import make_fund, make_member, owe

    org = make_org("AMUSSOL", "DOP")
    fund_server.script = ["lost"]  # the fund takes the batch, its answer is slow to come
    fund_server.slow_seconds = 8
    fund_server.duplicate = "same"  # the fund answers a repeated key as it did the first time
    with unit_of_work(session_factory, org.id) as session:
        fund = make_fund(
            session,
            "CNSS",
            adapter="http_json",
            config={"url": f"{fund_server.url}/batches", "timeout_seconds": 30},
        )
        for i in range(40):
            member = make_member(session, f"P-{i:04}", affiliations={"CNSS": f"SS-{i}"})
            owe(session, member, fund, 150_00, date(2026, 10, 1), date(2026, 10, 31))
    server = Server(db_url)
    server.start()
    try:
        h = org.headers("treasurer")
        batch = httpx.post(
            f"{server.url}/api/v1/remittances",
            json={"fund_code": "CNSS", "through": "2026-10-31"},
            headers=h,
            timeout=120,
        ).json()
        sealed = httpx.post(
            f"{server.url}/api/v1/remittances/{batch['id']}/seal", headers=h, timeout=120
        )
        assert sealed.status_code == 200, sealed.text
        push_headers = {**h, "Idempotency-Key": "push-2026-10"}
        outcome: dict[str, object] = {}

        def push() -> None:
            try:
                outcome["response"] = httpx.post(
                    f"{server.url}/api/v1/remittances/{batch['id']}/submit",
                    headers=push_headers,
                    timeout=120,
                )
            except httpx.HTTPError as exc:
                outcome["error"] = exc

        sender = threading.Thread(target=push)
        sender.start()
        deadline = time.monotonic() + 60
        while not fund_server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fund_server.requests, "the push never reached the fund"
        server.kill()  # the fund has the batch; our server dies before hearing back
        sender.join(timeout=120)
        assert "response" not in outcome
        server.start()
        retried = httpx.post(
            f"{server.url}/api/v1/remittances/{batch['id']}/submit",
            headers=push_headers,
            timeout=120,
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] in {"submitted", "acknowledged"}
        again = httpx.post(
            f"{server.url}/api/v1/remittances/{batch['id']}/submit",
            headers=push_headers,
            timeout=120,
        )
        assert again.status_code == 200 and again.content == retried.content
        keys = {r["key"] for r in fund_server.requests}
        assert len(keys) == 1 and len(fund_server.stored) == 1  # one batch at the fund
        with engine.connect() as conn:
            n = conn.execute(sa.text("SELECT count(*) FROM remittance_batch")).scalar_one()
        assert n == 1
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "verify"],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        print(
            f"push: 1 SIGKILL while the fund held the batch, {len(fund_server.requests)} deliveries, 1 batch at the fund"
        )
    finally:
        server.stop()
