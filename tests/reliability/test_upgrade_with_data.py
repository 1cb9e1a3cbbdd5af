"""Upgrading from the first migration to head with data in place: an organisation, users,
an API key, accounts, balanced entries and audit events written at revision 0001 are all
there at head, the audit trail gets chained, and the books verify and keep working."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app.core import verify
from app.core.database import make_engine, make_session_factory, unit_of_work
from app.core.ids import uuid7
from app.core.migrations import upgrade
from app.core.security import hash_api_key, hash_password, new_api_key
from app.core.settings import Settings
from tests.conftest import TEST_SECRET


def _empty_database(backend: str, db_url: str, tmp_path):  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}", lambda: None
    name = f"coopledger_upgrade_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(db_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(db_url).set(database=name).render_as_string(hide_password=False), drop


def _write_at_0001(url: str, key: str) -> uuid.UUID:
    """Rows as release 0001 wrote them (plain SQL: today's models have more columns)."""
    md = sa.MetaData()
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    md.reflect(engine)
    t = md.tables
    for table in t.values():  # reflected SQLite columns are CHAR(32): write them as Uuid does
        for column in table.columns:
            if column.name == "id" or (
                column.name.endswith("_id") and column.name not in ("request_id", "object_id")
            ):
                column.type = sa.Uuid()
    org = uuid7()
    now = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    bank, fees = uuid7(), uuid7()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(t["organisation"]).values(
                id=org,
                code="OLDCOOP",
                name="Coopérative «ancienne»",
                currency="XOF",
                created_at=now,
            )
        )
        conn.execute(
            sa.insert(t["app_user"]).values(
                organisation_id=org,
                id=uuid7(),
                username="awa",
                password_hash=hash_password("old-password-1234"),
                role="treasurer",
                fund_code=None,
                locale="fr",
                is_active=True,
                created_at=now,
            )
        )
        conn.execute(
            sa.insert(t["api_key"]).values(
                organisation_id=org,
                id=uuid7(),
                name="app",
                prefix=key[:12],
                key_hash=hash_api_key(key),
                role="treasurer",
                fund_code=None,
                created_at=now,
                revoked_at=None,
            )
        )
        for acc, code, kind in ((bank, "BANK", "asset"), (fees, "FEES", "income")):
            conn.execute(
                sa.insert(t["account"]).values(
                    organisation_id=org,
                    id=acc,
                    code=code,
                    name=code,
                    type=kind,
                    currency="XOF",
                    created_at=now,
                    created_by="cli",
                )
            )
        total = 0
        for i, amount in enumerate((5000, 2500, 125)):
            entry_id, at = uuid7(), now + timedelta(minutes=i)
            conn.execute(
                sa.insert(t["posting"]),
                [
                    {
                        "organisation_id": org,
                        "id": uuid7(),
                        "entry_id": entry_id,
                        "account_id": bank,
                        "currency": "XOF",
                        "amount": amount,
                        "effective_on": date(2026, 11, 1),
                        "recorded_at": at,
                    },
                    {
                        "organisation_id": org,
                        "id": uuid7(),
                        "entry_id": entry_id,
                        "account_id": fees,
                        "currency": "XOF",
                        "amount": -amount,
                        "effective_on": date(2026, 11, 1),
                        "recorded_at": at,
                    },
                ],
            )
            conn.execute(
                sa.insert(t["journal_entry"]).values(
                    organisation_id=org,
                    id=entry_id,
                    description=f"cotisation {i}",
                    effective_on=date(2026, 11, 1),
                    recorded_at=at,
                    kind="manual",
                    reverses_id=None,
                    reason=None,
                    created_by="user:awa",
                )
            )
            total += amount
        conn.execute(
            sa.insert(t["account_balance"]),
            [
                {"organisation_id": org, "account_id": bank, "shard": 0, "balance": total},
                {"organisation_id": org, "account_id": fees, "shard": 0, "balance": -total},
            ],
        )
        for i, action in enumerate(("organisation.create", "user.create", "journal.post")):
            conn.execute(
                sa.insert(t["audit_event"]).values(
                    organisation_id=org,
                    id=uuid7(),
                    occurred_at=now + timedelta(seconds=i),
                    actor="cli",
                    action=action,
                    object_type="x",
                    object_id=str(i),
                    remote_addr=None,
                    request_id=None,
                    details={"note": "Zoë", "i": i},
                )
            )
    engine.dispose()
    return org


def test_upgrade_from_first_migration_with_data(backend, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url, drop = _empty_database(backend, db_url, tmp_path)
    key = new_api_key()
    try:
        upgrade(url, "0001")
        org = _write_at_0001(url, key)
        upgrade(url, "head")

        engine = make_engine(url, pool_size=2)
        factory = make_session_factory(engine)
        with unit_of_work(factory) as session:
            assert verify.run(session) == []
        with engine.connect() as conn:
            seqs = conn.execute(sa.text("SELECT seq FROM audit_event ORDER BY seq")).scalars().all()
        assert seqs == [1, 2, 3]

        from app.main import create_app

        settings = Settings(
            DATABASE_URL=url, COOPLEDGER_ENV="test", COOPLEDGER_SECRET_KEY=TEST_SECRET
        )  # type: ignore[call-arg]
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            h = {"Authorization": f"Bearer {key}"}
            accounts = {
                a["code"]: a["id"]
                for a in client.get("/api/v1/accounts", headers=h).json()["items"]
            }
            assert (
                client.get(f"/api/v1/accounts/{accounts['BANK']}/balance", headers=h).json()[
                    "balance"
                ]
                == "7625"
            )
            signed = client.post(
                "/api/v1/auth/token",
                data={"username": "OLDCOOP/awa", "password": "old-password-1234"},
            )
            assert signed.status_code == 200, signed.text
            posted = client.post(
                "/api/v1/journal",
                headers=h,
                json={
                    "description": "after the upgrade",
                    "effective_on": "2026-11-22",
                    "postings": [
                        {"account_id": accounts["BANK"], "amount": "1000", "direction": "debit"},
                        {"account_id": accounts["FEES"], "amount": "1000", "direction": "credit"},
                    ],
                },
            )
            assert posted.status_code == 201, posted.text
            trail = client.get("/api/v1/verify", headers=h)
            assert trail.status_code == 403  # a treasurer is not the auditor
        with unit_of_work(factory) as session:
            assert verify.run(session) == []
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT max(seq) FROM audit_event")).scalar_one() == 4
            assert conn.execute(sa.text("SELECT count(*) FROM journal_entry")).scalar_one() == 4
        engine.dispose()
        assert org is not None
    finally:
        drop()


def test_this_releases_migrations_go_down_and_up_again_with_the_demo_in_place(
    backend, db_url, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """0010-0012 (owners, per-caller keys, time zones) downgrade with a month of data in place
    (a batch copy of `organisation` failed on SQLite: every table refers to it), and the
    upgrade back fills the owners in again: the books verify."""
    from alembic import command

    from app.core.database import bind_organisation
    from app.core.migrations import alembic_config
    from app.demo import seed_demo
    from app.identity.models import Organisation

    url, drop = _empty_database(backend, db_url, tmp_path)
    try:
        upgrade(url, "head")
        engine = make_engine(url, pool_size=2)
        factory = make_session_factory(engine)
        with unit_of_work(factory) as session:
            assert seed_demo(session) is not None
        command.downgrade(alembic_config(url), "0009")
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("organisation")}
            entries = conn.execute(sa.text("SELECT count(*) FROM journal_entry")).scalar_one()
        assert "time_zone" not in columns and entries > 0
        upgrade(url, "head")
        with unit_of_work(factory) as session:
            assert verify.run(session) == []
            org = session.scalar(sa.select(Organisation))
            assert org is not None and org.time_zone == "UTC"  # what the days were before
            bind_organisation(session, org.id)
            owners = session.execute(
                sa.text("SELECT DISTINCT owner FROM journal_entry ORDER BY owner")
            ).scalars()
            assert {"receipt", "handover"} <= set(owners)
        engine.dispose()
    finally:
        drop()
