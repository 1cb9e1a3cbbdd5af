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


REMITTANCE_INVARIANTS = {
    "a contribution share is in at most one live remittance batch",
    "remittance batch control totals and decisions equal their lines",
    "every remittance line is the sum of the shares it carries",
    "each fund's owed, in-transit and custody accounts agree with its batches",
}


def remittance_breaches(session_factory, org_id) -> list[str]:  # type: ignore[no-untyped-def]
    """What `coopledger verify` finds wrong with this organisation's remittances."""
    from app.core import verify
    from app.core.database import unit_of_work

    with unit_of_work(session_factory, org_id) as s:
        return [
            f"{b.invariant}: {b.detail}"
            for b in verify.run(s)
            if b.invariant in REMITTANCE_INVARIANTS
        ]
