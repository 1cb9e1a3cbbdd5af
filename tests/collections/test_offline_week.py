"""The issue's "done when": a union collector's offline week.

Seven daily sheets, some resent whole, one half-sent then resent, some items bad, monthly dues
generated mid-week (they take the prepaid credit), one hand-over at the end with a shortfall.
Every good receipt is posted once, allocated oldest first to the right dues, the collector's
cash equals their sum, and the books verify.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import sqlalchemy as sa

from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from app.identity.service import create_user
from tests.collections.factories import add_dues, make_member, make_unit, standard_book
from tests.collections.test_cash_and_reports import open_bank
from tests.collections.test_receipts_api import balance
from tests.collections.test_reversal_and_credit import clean_books

MONDAY = date(2026, 11, 9)


def test_a_collectors_offline_week(client, org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    with unit_of_work(session_factory, org.id) as session:
        create_user(
            session, CLI_ACTOR, username="juan", password="juan-the-collector", role="collector"
        )
        crew = [make_member(session, book, f"D-{i}") for i in range(4)]
        make_unit(
            session,
            book,
            "BUS-2",
            [(crew[0], "owner", True), (crew[1], "conductor", True)],
            owner=crew[0],
        )
        make_unit(session, book, "MOTO-7", [(crew[2], "driver", True)], owner=crew[3])
        # members who pay for themselves: crew of no unit (a crew member's contributions are
        # owed on the unit, and a receipt in their own name is refused)
        for number in ("S-001", "S-002"):
            make_member(session, book, number)
    token = client.post(
        "/api/v1/auth/token",
        data={"username": f"{org.code}/juan", "password": "juan-the-collector"},
    )
    assert token.status_code == 200, token.text
    juan = {"Authorization": f"Bearer {token.json()['access_token']}"}
    units = {reg: book.units[reg] for reg in ("BUS-1", "BUS-2", "MOTO-7")}
    members = {n: book.members[n] for n in ("S-001", "S-002")}
    dues: dict[tuple[str, str], list] = {}
    for reg, uid in units.items():
        dues[("unit", reg)] = add_dues(
            session_factory, book, "transport-daily", ("unit", uid), MONDAY, 7, 5000
        )

    def items_for(day: int) -> list[dict]:
        at = f"{MONDAY + timedelta(days=day)}T{7 + day:02d}:15:00-04:00"
        out = []
        for k, (reg, uid) in enumerate(units.items()):
            amount = "100.00" if (day + k) % 3 == 0 else "50.00"  # some pay two days at once
            out.append(
                {
                    "client_id": f"d{day}-{reg}",
                    "unit_id": str(uid),
                    "amount": amount,
                    "currency": "DOP",
                    "received_at": at,
                    "channel": "cash",
                }
            )
        for number, mid in members.items():
            out.append(
                {
                    "client_id": f"d{day}-{number}",
                    "member_id": str(mid),
                    "amount": f"{40 + 5 * day}.50",
                    "currency": "DOP",
                    "received_at": at,
                    "channel": "cash",
                }
            )
        # bad items: too many decimals, an unknown member, no client id
        out.append(
            {
                "client_id": f"d{day}-bad1",
                "member_id": str(members["S-001"]),
                "amount": "1.005",
                "currency": "DOP",
                "received_at": at,
                "channel": "cash",
            }
        )
        out.append(
            {
                "client_id": f"d{day}-bad2",
                "member_id": str(org.id),
                "amount": "5.00",
                "currency": "DOP",
                "received_at": at,
                "channel": "cash",
            }
        )
        out.append(
            {
                "member_id": str(members["S-002"]),
                "amount": "5.00",
                "currency": "DOP",
                "received_at": at,
                "channel": "cash",
            }
        )
        return out

    good_total = 0
    good_by_payer: dict[str, int] = defaultdict(int)
    created_ids: set[str] = set()
    for day in range(7):
        items = items_for(day)
        sheet = {"collected_on": str(MONDAY + timedelta(days=day)), "receipts": items}
        if day == 4:  # the connection dropped after the first three items went through
            half = client.post(
                "/api/v1/collection-sheets", json={**sheet, "receipts": items[:3]}, headers=juan
            )
            assert half.status_code == 200 and half.json()["created"] == 3
        r = client.post("/api/v1/collection-sheets", json=sheet, headers=juan)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["rejected"] == 3 and body["created"] + body["duplicates"] == 5
        assert body["created"] == (2 if day == 4 else 5)
        assert len(body["results"]) == len(items)
        for res in body["results"]:
            if res["status"] in {"created", "duplicate"}:
                created_ids.add(res["receipt_id"])
        if day in (2, 6):  # sent again later: nothing twice
            again = client.post("/api/v1/collection-sheets", json=sheet, headers=juan).json()
            assert (again["created"], again["duplicates"], again["rejected"]) == (0, 5, 3)
            assert [x["receipt_id"] for x in again["results"]] == [
                x["receipt_id"] for x in body["results"]
            ]
        for it in items[:5]:
            minor = int(it["amount"].replace(".", ""))
            good_total += minor
            good_by_payer[it.get("unit_id") or it["member_id"]] += minor
        if day == 3:  # monthly dues generated mid-week take what the members prepaid
            for number, mid in members.items():
                dues[("member", number)] = add_dues(
                    session_factory, book, "monthly", ("member", mid), date(2026, 10, 1), 1, 30000
                )
                dues[("member", number)] += add_dues(
                    session_factory, book, "monthly", ("member", mid), date(2026, 11, 1), 1, 30000
                )

    assert len(created_ids) == 35
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM receipt")).scalar_one() == 35
        paid = {
            str(i).replace("-", ""): int(p)
            for i, p in conn.execute(sa.text("SELECT id, paid FROM due"))
        }
    # each payer's money fills its dues oldest first, whatever the order it came in
    for (kind, key), due_ids in dues.items():
        payer = str(units[key] if kind == "unit" else members[key])
        money = good_by_payer[payer]
        amount = 5000 if kind == "unit" else 30000
        for due_id in due_ids:
            expected = min(amount, money)
            money -= expected
            assert paid[str(due_id).replace("-", "")] == expected, (key, due_id)

    collectors = client.get("/api/v1/collectors", headers=org.headers("treasurer")).json()["items"]
    (juan_row,) = [c for c in collectors if c["name"] == "juan"]
    assert int(juan_row["cash_balance"].replace(".", "")) == good_total
    clean_books(session_factory, org)

    bank = open_bank(client, org)
    cash = f"{good_total // 100}.{good_total % 100:02d}"
    counted = good_total - 500
    r = client.post(
        "/api/v1/handovers",
        json={
            "collector_id": juan_row["id"],
            "amount": cash,
            "counted_amount": f"{counted // 100}.{counted % 100:02d}",
            "currency": "DOP",
            "to_account_id": bank,
            "handed_over_at": "2026-11-15T18:00:00-04:00",
            "reference": "week 46",
        },
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 201 and r.json()["difference"] == "-5.00", r.text
    assert balance(client, org, juan_row["cash_account_id"]) == "0.00"
    clean_books(session_factory, org)
