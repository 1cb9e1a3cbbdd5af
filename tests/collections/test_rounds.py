"""Rounds (the payers a collector's app keeps offline), the collector's own day, and sheets that
name a payer by number or plate (issue 13)."""

from __future__ import annotations

from datetime import date, timedelta

from app.core import clock
from app.core.database import unit_of_work
from tests.collections.factories import add_dues, make_member, standard_book
from tests.collections.test_receipts_api import count
from tests.collections.test_sheets import item


def _collector_id(client, org) -> str:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/collectors/me", headers=org.headers("collector"))
    assert r.status_code == 200, r.text
    return r.json()["id"]


def test_a_round_set_by_a_treasurer_reaches_the_collector_with_what_each_owes(
    client, org, session_factory
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    today = clock.today("UTC")
    bus = book.units["BUS-1"]
    # four days: two overdue, today's, tomorrow's; the first partly paid below
    add_dues(session_factory, book, "transport-daily", ("unit", bus), today - timedelta(2), 4, 5000)
    with unit_of_work(session_factory, org.id) as session:
        m3 = make_member(session, book, "M-003")
    add_dues(session_factory, book, "monthly", ("member", m3), date(2026, 1, 1), 1, 20000)
    cid = _collector_id(client, org)

    empty = client.get("/api/v1/collectors/me/round", headers=org.headers("collector"))
    assert empty.status_code == 200 and empty.json()["items"] == []

    body = {"member_ids": [str(m3)], "unit_ids": [str(bus)]}
    r = client.put(f"/api/v1/collectors/{cid}/round", json=body, headers=org.headers())
    assert r.status_code == 200, r.text
    # the same round again changes nothing
    again = client.put(f"/api/v1/collectors/{cid}/round", json=body, headers=org.headers())
    assert again.json()["items"] == r.json()["items"]

    mine = client.get("/api/v1/collectors/me/round", headers=org.headers("collector")).json()
    assert mine["as_of"] == str(today) and mine["currency"] == "DOP"
    unit, member = mine["items"]  # units by plate first, then members by number
    assert unit["kind"] == "unit" and unit["registration"] == "BUS-1"
    assert unit["unit_id"] == str(bus) and unit["member_id"] is None
    assert (unit["due_today"], unit["arrears"]) == ("50.00", "100.00")
    assert unit["paid_through"] is None  # the first day is unpaid
    assert member["member_number"] == "M-003" and member["arrears"] == "200.00"

    # paying the two overdue days moves paid_through to yesterday and clears arrears
    sheet = {
        "collected_on": str(today),
        "receipts": [
            item("r1", {"unit_id": str(bus)}, "100.00", received_at=f"{today}T08:00:00+00:00")
        ],
    }
    posted = client.post("/api/v1/collection-sheets", json=sheet, headers=org.headers("collector"))
    assert posted.json()["results"][0]["status"] == "created", posted.text
    unit = client.get("/api/v1/collectors/me/round", headers=org.headers("collector")).json()[
        "items"
    ][0]
    assert (unit["due_today"], unit["arrears"]) == ("50.00", "0.00")
    assert unit["paid_through"] == str(today - timedelta(1))

    # the collector's day on the server: the receipt, the cash it holds
    me = client.get("/api/v1/collectors/me", headers=org.headers("collector")).json()
    assert me["today"] == {"on": str(today), "receipts": 1, "total": "100.00"}
    assert me["cash_balance"] == "100.00" and me["last_handover"] is None
    assert me["organisation"]["code"] == org.code and me["organisation"]["time_zone"] == "UTC"

    # emptied
    r = client.put(f"/api/v1/collectors/{cid}/round", json={}, headers=org.headers())
    assert r.status_code == 200 and r.json()["items"] == []


def test_a_group_round_is_shared_by_every_collector_of_the_group(
    client, org, session_factory
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    cid = _collector_id(client, org)
    m1, bus = book.units["BUS-1"], book.members["M-001"]
    put = client.put(
        "/api/v1/collector-groups/north/round",
        json={"unit_ids": [str(m1)]},
        headers=org.headers(),
    )
    assert put.status_code == 200 and put.json()["group"] == "north"
    client.put(
        f"/api/v1/collectors/{cid}/round", json={"member_ids": [str(bus)]}, headers=org.headers()
    )
    names = {
        x["registration"] or x["member_number"]
        for x in client.get("/api/v1/collectors/me/round", headers=org.headers("collector")).json()[
            "items"
        ]
    }
    assert names == {"M-001"}  # not in the group yet
    client.patch(f"/api/v1/collectors/{cid}", json={"group": "north"}, headers=org.headers())
    names = {
        x["registration"] or x["member_number"]
        for x in client.get("/api/v1/collectors/me/round", headers=org.headers("collector")).json()[
            "items"
        ]
    }
    assert names == {"M-001", "BUS-1"}
    seen = client.get("/api/v1/collector-groups/north/round", headers=org.headers("auditor"))
    assert [x["registration"] for x in seen.json()["items"]] == ["BUS-1"]


def test_setting_a_round_refuses_unknown_payers_and_other_roles(
    client, org, make_org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    other = make_org("OTHER")
    other_book = standard_book(session_factory, other)
    cid = _collector_id(client, org)
    body = {
        "member_ids": [str(book.members["M-001"]), str(other_book.members["M-001"])],
        "unit_ids": [],
    }
    r = client.put(f"/api/v1/collectors/{cid}/round", json=body, headers=org.headers())
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        ("member_ids[1]", "member.not_found")
    ]
    assert count(engine, "round_payer") == 0
    r = client.put(f"/api/v1/collectors/{cid}/round", json={}, headers=org.headers("collector"))
    assert r.status_code == 403
    assert client.get("/api/v1/collectors/me", headers=org.headers()).status_code == 403
    # another organisation's collector is not found
    other_cid = _collector_id(client, other)
    r = client.put(f"/api/v1/collectors/{other_cid}/round", json={}, headers=org.headers())
    assert r.status_code == 404


def test_search_finds_any_active_payer_by_number_plate_or_name(
    client, org, session_factory
) -> None:  # type: ignore[no-untyped-def]
    standard_book(session_factory, org)
    hits = client.get(
        "/api/v1/collectors/me/payers", params={"q": "bus 1"}, headers=org.headers("collector")
    ).json()["items"]
    assert [x["registration"] for x in hits] == ["BUS-1"]
    hits = client.get(
        "/api/v1/collectors/me/payers", params={"q": "m-00"}, headers=org.headers("collector")
    ).json()["items"]
    assert [x["member_number"] for x in hits] == ["M-001", "M-002"]
    r = client.get(
        "/api/v1/collectors/me/payers", params={"q": ""}, headers=org.headers("collector")
    )
    assert r.status_code == 422


def test_a_sheet_item_may_name_its_payer_by_number_or_plate(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    bus = book.units["BUS-1"]
    add_dues(session_factory, book, "transport-daily", ("unit", bus), date(2026, 11, 1), 3, 5000)
    with unit_of_work(session_factory, org.id) as session:
        make_member(session, book, "BUS1")  # reads as the plate BUS-1 once dashes go
        make_member(session, book, "M-003")
    sheet = {
        "collected_on": "2026-11-20",
        "receipts": [
            item("a", {"payer": " bus-1 "}, "50.00"),  # ambiguous: BUS-1 and member BUS1
            item("b", {"payer": "m 003"}, "10.00"),
            item("c", {"payer": "ZZ-999"}, "10.00"),
            item("d", {"payer": "M-003", "member_id": str(book.members["M-001"])}, "1.00"),
            item("e", {"unit_id": str(bus)}, "70.00"),
            item("f", {"payer": "ZZ-999"}, "1.001"),
        ],
    }
    r = client.post("/api/v1/collection-sheets", json=sheet, headers=org.headers("collector"))
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == [
        "rejected",
        "created",
        "rejected",
        "rejected",
        "created",
        "rejected",
    ]
    assert res[0]["errors"][0]["code"] == "sheet.ambiguous_payer"
    assert res[2]["errors"] == [
        {
            "field": "payer",
            "message": "no member or transport unit has the number or plate ZZ-999",
            "code": "sheet.unknown_payer",
            "params": {"payer": "ZZ-999"},
        }
    ]
    assert res[3]["errors"][0]["code"] == "sheet.payer_and_id"
    # an unknown payer and a bad amount: both said
    assert [e["field"] for e in res[5]["errors"]] == ["payer", "amount"]
    # what each posted receipt paid, for the payer's slip
    assert res[1]["periods"] == []  # M-003 has no dues: all credit
    # the payer as the server resolved the typed text
    assert res[1]["payer"] == {
        "kind": "member",
        "member_id": str(book.members["M-003"]),
        "unit_id": None,
        "number": "M-003",
        "name": "Member M-003",
    }
    assert res[4]["payer"]["number"] == "BUS-1" and res[2].get("payer") is None
    assert res[4]["periods"] == [
        {"period_start": "2026-11-01", "period_end": "2026-11-01", "amount": "50.00"},
        {"period_start": "2026-11-02", "period_end": "2026-11-02", "amount": "20.00"},
    ]
    # sent again: duplicates carry the same periods
    again = client.post("/api/v1/collection-sheets", json=sheet, headers=org.headers("collector"))
    assert again.json()["results"][4]["status"] == "duplicate"
    assert again.json()["results"][4]["periods"] == res[4]["periods"]
    # an item resent with another amount (edited after its answer was lost) answers with the
    # receipt's own
    changed = {**sheet, "receipts": [{**sheet["receipts"][4], "amount": "99.00"}]}
    third = client.post("/api/v1/collection-sheets", json=changed, headers=org.headers("collector"))
    assert third.json()["results"][0]["status"] == "duplicate"
    assert third.json()["results"][0]["amount"] == "70.00" and res[4]["amount"] == "70.00"
    assert count(engine, "receipt") == 2
