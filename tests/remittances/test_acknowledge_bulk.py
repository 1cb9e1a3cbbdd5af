"""A big acknowledgement is written set-based and gets every line, the ledger and the next
batch right."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from tests.remittances.conftest import balance, count, remittance_breaches
from tests.remittances.factories import make_fund, make_member, owe_daily

LINES = 3000
FIRST = date(2018, 1, 1)
AMOUNT = 250  # 2.50 per daily line


def _lines(client, h, bid: str) -> list[dict]:  # type: ignore[no-untyped-def]
    out: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/api/v1/remittances/{bid}/lines", params=params, headers=h).json()
        out += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def test_thousands_of_lines_acknowledged_in_one_answer(
    client, org, books, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        fund = make_fund(s, "CNSS")
        ana = make_member(s, "M-001", affiliations={"CNSS": "SS-1"})
        owe_daily(s, ana, fund, FIRST, LINES, AMOUNT)
    h = org.headers("treasurer")
    last = (FIRST + timedelta(days=LINES - 1)).isoformat()
    r = client.post("/api/v1/remittances", json={"fund_code": "CNSS", "through": last}, headers=h)
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    assert r.json()["line_count"] == LINES
    for step in ("seal", "submit"):
        assert client.post(f"/api/v1/remittances/{bid}/{step}", headers=h).status_code == 200
    lines = _lines(client, h, bid)
    assert len(lines) == LINES
    # every 7th line rejected, with its own reason; the others accepted
    rejected = {ln["end_to_end_id"] for i, ln in enumerate(lines) if i % 7 == 3}
    answer = [
        {"end_to_end_id": ln["end_to_end_id"], "status": "rejected", "reason": f"R{i}"}
        if ln["end_to_end_id"] in rejected
        else {"end_to_end_id": ln["end_to_end_id"], "status": "accepted"}
        for i, ln in enumerate(lines)
    ]
    r = client.post(f"/api/v1/remittances/{bid}/acknowledgement", json={"lines": answer}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    n_rej = len(rejected)
    assert (body["accepted"], body["rejected"]) == (LINES - n_rej, n_rej)
    assert body["rejected_sum"] == f"{n_rej * AMOUNT / 100:.2f}"
    assert body["batch"]["status"] == "acknowledged"
    assert body["batch"]["pending_count"] == 0

    # each line carries its own decision and reason, and the acknowledgement that made it
    after = {ln["end_to_end_id"]: ln for ln in _lines(client, h, bid)}
    for i, ln in enumerate(lines):
        got = after[ln["end_to_end_id"]]
        if ln["end_to_end_id"] in rejected:
            assert (got["status"], got.get("reason")) == ("rejected", f"R{i}"), got
        else:
            assert got["status"] == "accepted" and got.get("reason") is None, got
    with engine.connect() as conn:
        decided = conn.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT acknowledgement_id), min(decided_at) IS NOT NULL "
                "FROM remittance_line WHERE acknowledgement_id IS NOT NULL"
            )
        ).one()
    assert tuple(decided) == (LINES, 1, True)

    # the rejected lines' money is owed again, in one entry, and goes into the next batch
    assert count(engine, "journal_entry", "kind = 'remittance.rejection'") == 1
    assert balance(client, org, "FUND:CNSS:OWED") == f"{n_rej * AMOUNT / 100:.2f}"
    assert balance(client, org, "FUND:CNSS:TRANSIT") == f"{(LINES - n_rej) * AMOUNT / 100:.2f}"
    assert count(engine, "remittance_share", "released_at IS NOT NULL") == n_rej
    again = client.post(
        "/api/v1/remittances", json={"fund_code": "CNSS", "through": last}, headers=h
    )
    assert again.status_code == 201 and again.json()["line_count"] == n_rej
    # the same answer again changes nothing; the opposite decision on a line is 409
    assert (
        client.post(
            f"/api/v1/remittances/{bid}/acknowledgement", json={"lines": answer}, headers=h
        ).json()["accepted"]
        == 0
    )
    flip = [{"end_to_end_id": sorted(rejected)[0], "status": "accepted"}]
    assert (
        client.post(
            f"/api/v1/remittances/{bid}/acknowledgement", json={"lines": flip}, headers=h
        ).status_code
        == 409
    )
    assert remittance_breaches(session_factory, org.id) == []
