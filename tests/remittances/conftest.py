from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.remittances.factories import Books


@pytest.fixture
def books(session_factory, org):  # type: ignore[no-untyped-def]
    return Books(session_factory, org.id)


def count(engine, table: str, where: str = "") -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(conn.execute(sa.text(sql)).scalar_one())


def balance(client, org, code: str) -> str:  # type: ignore[no-untyped-def]
    """The balance of the account with this code, on its normal side."""
    h = org.headers("treasurer")
    cursor = None
    while True:
        page = client.get(
            "/api/v1/accounts",
            params={"limit": 500, **({"cursor": cursor} if cursor else {})},
            headers=h,
        ).json()
        for a in page["items"]:
            if a["code"] == code:
                return client.get(f"/api/v1/accounts/{a['id']}/balance", headers=h).json()[
                    "balance"
                ]
        cursor = page["next_cursor"]
        if cursor is None:
            raise AssertionError(f"no account {code}")
