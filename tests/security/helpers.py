"""Helpers shared by the security tests: users with passwords, row counts of every table."""

from __future__ import annotations

import sqlalchemy as sa

from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work

PASSWORD = "correct horse battery staple 42"


def make_user(
    session_factory, org, username: str, role: str = "treasurer", password: str = PASSWORD
):  # type: ignore[no-untyped-def]
    from app.identity.service import create_user

    with unit_of_work(session_factory) as session:
        bind_organisation(session, org.id)
        create_user(
            session,
            CLI_ACTOR,
            username=username,
            password=password,
            role=role,
            fund_code="FUND" if role == "fund_office" else None,
        )


def sign_in(client, username: str, password: str = PASSWORD, headers=None, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password, **extra},
        headers=headers,
    )


def table_counts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Rows in every application table: compare before and after to prove nothing was written."""
    with engine.connect() as conn:
        names = [
            t
            for t in sa.inspect(conn).get_table_names()
            if t not in {"alembic_version"} and not t.startswith("sqlite_")
        ]
        return {
            t: int(conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one())
            for t in sorted(names)
        }
