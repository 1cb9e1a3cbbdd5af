"""Test harness: the same suite on SQLite and on PostgreSQL.

- SQLite: a database file migrated once per worker, copied afresh for each test.
- PostgreSQL: set COOPLEDGER_TEST_POSTGRES_URL (`.ci/run` does) to a server where we may
  create databases; each worker makes its own database, migrates it with Alembic, truncates
  it after each test and drops it at the end. Unset, that half is skipped, loudly.
  With COOPLEDGER_REQUIRE_POSTGRES=1 an unreachable server fails the run instead.

Every test that takes `db_url` (or anything built on it: `app`, `client`, `org`) runs once
per database.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, make_engine, make_session_factory, unit_of_work
from app.core.migrations import upgrade
from app.core.settings import Settings
from app.models import load_all_models

PG_ENV = "COOPLEDGER_TEST_POSTGRES_URL"
REQUIRE_PG_ENV = "COOPLEDGER_REQUIRE_POSTGRES"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"

load_all_models()


def _pg_admin_url() -> str | None:
    raw = os.environ.get(PG_ENV, "").strip()
    if not raw:
        return None
    url = make_url(raw)
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def pytest_configure(config: pytest.Config) -> None:
    admin = _pg_admin_url()
    if admin is None:
        if os.environ.get(REQUIRE_PG_ENV) == "1":
            pytest.exit(f"{REQUIRE_PG_ENV}=1 but {PG_ENV} is not set", returncode=1)
        return
    try:
        engine = sa.create_engine(admin, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        pytest.exit(f"PostgreSQL at {PG_ENV} is unreachable: {exc}", returncode=1)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    perf = config.rootpath / "tests" / "perf"  # benchmarks make their own PostgreSQL database
    benchmarks_only = bool(config.args) and all(
        Path(arg.split("::")[0]).resolve().is_relative_to(perf) for arg in config.args
    )
    if _pg_admin_url() is None and not hasattr(config, "workerinput") and not benchmarks_only:
        bar = "!" * 78
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line(
            f"!! PostgreSQL HALF SKIPPED: {PG_ENV} is not set, so only SQLite was tested.",
            red=True,
            bold=True,
        )
        terminalreporter.write_line(
            f"!! Run e.g. {PG_ENV}=postgresql://postgres@127.0.0.1:5432/test make test",
            red=True,
            bold=True,
        )
        terminalreporter.write_line(bar, red=True, bold=True)


# -- databases ----------------------------------------------------------------------------------


class _SqliteTemplate:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"
        upgrade(f"sqlite:///{self.template}")
        self.n = 0

    def fresh_url(self) -> str:
        self.n += 1
        path = self.root / f"t{self.n}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"


class _PgDatabase:
    def __init__(self, admin_url: str) -> None:
        self.admin = sa.create_engine(
            admin_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
        )
        self.name = f"coopledger_test_{_worker()}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)
        upgrade(self.url)
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            tables = (
                conn.execute(
                    sa.text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version'"
                    )
                )
                .scalars()
                .all()
            )
        engine.dispose()
        self.truncate_sql = (
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )

    def clean(self) -> None:
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text(self.truncate_sql))
        engine.dispose()

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> _SqliteTemplate:
    return _SqliteTemplate(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[_PgDatabase | None]:
    admin = _pg_admin_url()
    if admin is None:
        yield None
        return
    db = _PgDatabase(admin)
    yield db
    db.drop()


BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(_pg_admin_url() is None, reason=f"{PG_ENV} not set"),
    ),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("postgres_only")
    if marker and request.param != "postgresql":
        pytest.skip("PostgreSQL only")
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield request.getfixturevalue("_sqlite_template").fresh_url()
        return
    pg: _PgDatabase = request.getfixturevalue("_pg_database")
    yield pg.url
    pg.clean()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        DATABASE_URL=db_url,
        COOPLEDGER_ENV="test",
        COOPLEDGER_SECRET_KEY=TEST_SECRET,
        # the test fund servers listen on loopback (tests/remittances/fund_server.py), which
        # fund adapters may not reach unless the operator allows it (app/funds/outbound.py)
        COOPLEDGER_ADAPTER_ALLOWED_HOSTS="127.0.0.1",
    )


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url, pool_size=5)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: sa.Engine):  # type: ignore[no-untyped-def]
    return make_session_factory(engine)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    from app.main import create_app

    return create_app(settings)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


# -- organisations and callers ------------------------------------------------------------------


@dataclass
class OrgHandle:
    """An organisation made for a test, with an API key per role (fast: no Argon2)."""

    id: uuid.UUID
    code: str
    currency: str
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str = "treasurer", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}", **extra}


@pytest.fixture
def make_org(session_factory):  # type: ignore[no-untyped-def]
    """make_org(code, currency) -> OrgHandle with keys for every role (fund_office bound to FUND)."""
    from app.identity.service import create_api_key, create_organisation

    def make(code: str = "AMUSSOL", currency: str = "DOP", fund_code: str = "FUND") -> OrgHandle:
        with unit_of_work(session_factory) as session:
            org = create_organisation(session, code=code, name=f"{code} test", currency=currency)
            handle = OrgHandle(org.id, org.code, org.currency)
            bind_organisation(session, org.id)
            for role in ("admin", "treasurer", "collector", "auditor", "fund_office"):
                made = create_api_key(
                    session,
                    CLI_ACTOR,
                    name=f"{role} key",
                    role=role,
                    fund_code=fund_code if role == "fund_office" else None,
                )
                handle.keys[role] = made.secret
        return handle

    return make


@pytest.fixture
def org(make_org) -> OrgHandle:  # type: ignore[no-untyped-def]
    return make_org()


# -- a real server on loopback ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app served by uvicorn on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


# -- the real browser (Debian's chromium through Playwright; `make browser` installs it) ---------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    path = os.environ.get("COOPLEDGER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium per test session (per xdist worker), for every package's browser tests:
    `playwright install` (which downloads a browser) is never used."""
    path = chromium_path()
    if not Path(path).exists():
        pytest.fail(
            f"no chromium at {path}: run `make browser` (installs Debian's chromium package)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
