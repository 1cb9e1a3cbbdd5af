"""Helpers for the schemes, members and funds tests: set an organisation up over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

SCHEDULES = Path(__file__).resolve().parents[2] / "schedules"

FUND_KINDS = {
    "PENSION": "pension",
    "HEALTH": "health_mutual",
    "ACCIDENT": "accident",
    "CCSS": "social_security",
    "CNSS": "social_security",
    "MUTUELLE": "health_mutual",
    "NHIF": "health_mutual",
    "NSSF": "social_security",
}


def make_funds(client, org, *codes: str) -> None:  # type: ignore[no-untyped-def]
    for code in codes:
        r = client.post(
            "/api/v1/funds",
            json={
                "code": code,
                "name": f"{code} fund",
                "kind": FUND_KINDS.get(code, "other"),
                "currency": org.currency,
                "adapter": "csv",
            },
            headers=org.headers("admin"),
        )
        assert r.status_code == 201, r.text


def load_scheme(client, org, text: str, expect: int = 201) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/schemes",
        content=text.encode(),
        headers=org.headers("treasurer", **{"Content-Type": "application/yaml"}),
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


def load_file(client, org, name: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return load_scheme(client, org, (SCHEDULES / name).read_text())


def add_member(client, org, number: str, **over: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {"member_number": number, "full_name": f"Member {number}", "joined_on": "2026-01-01"}
    body.update(over)
    r = client.post("/api/v1/members", json=body, headers=org.headers("treasurer"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def add_unit(
    client, org, registration: str, crew: list[dict[str, Any]] | None = None, **over: Any
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {"registration": registration, "kind": "minibus", "crew": crew or []}
    body.update(over)
    r = client.post("/api/v1/units", json=body, headers=org.headers("treasurer"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def enrol(client, org, expect: int = 201, **body: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/enrolments", json=body, headers=org.headers("treasurer"))
    assert r.status_code == expect, r.text
    return dict(r.json())


def generate(client, org, through: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/dues/generate", json={"through": through}, headers=org.headers("treasurer")
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def all_dues(client, org, **params: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        q = {**params, "limit": "500", **({"cursor": cursor} if cursor else {})}
        r = client.get("/api/v1/dues", params=q, headers=org.headers("auditor"))
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


def count(engine, table: str, where: str = "1=1") -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(
            conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()
        )


def pay(engine, due_id: str, paid_minor: int) -> None:  # type: ignore[no-untyped-def]
    """Set what has been allocated to a due, as collections' allocation would."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE due SET paid = :p WHERE id = :i").bindparams(
                sa.bindparam("i", type_=sa.Uuid())
            ),
            {"p": paid_minor, "i": __import__("uuid").UUID(due_id)},
        )


TRANSPORT_FUNDS = ("PENSION", "HEALTH", "ACCIDENT")
