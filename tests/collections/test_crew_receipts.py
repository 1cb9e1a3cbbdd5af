"""Issue 11: a receipt in the name of a crew member whose contributions are owed on their
transport unit used to land whole in the member's prepaid credit, which no due would ever take,
while the unit stayed in arrears (statement, standing and dashboard disagreeing). Such a
receipt is now refused with a pointer to the unit, on every path that posts receipts."""

from __future__ import annotations

import uuid

from tests.schemes.books import (
    TRANSPORT_FUNDS,
    add_member,
    add_unit,
    count,
    enrol,
    generate,
    load_file,
    load_scheme,
    make_funds,
)
from tests.schemes.test_generation import MONTHLY_RATE_CHANGE

AT = "2026-06-10T09:00:00-04:00"


def crew_book(client, org):  # type: ignore[no-untyped-def]
    make_funds(client, org, *TRANSPORT_FUNDS)
    load_file(client, org, "transport-daily.yaml")
    driver = add_member(client, org, "DRIVER")["id"]
    saver = add_member(client, org, "SAVER")["id"]  # crew of no unit, enrolled in nothing yet
    unit = add_unit(client, org, "A-1", crew=[{"member_id": driver, "role": "driver"}])
    enrol(client, org, unit_id=unit["id"], scheme_code="transport-daily", starts_on="2026-06-01")
    generate(client, org, "2026-06-06")
    return driver, saver, unit


def receipt(payer: dict, amount: str = "50.00") -> dict:
    return {**payer, "amount": amount, "currency": "DOP", "received_at": AT, "channel": "cash"}


def test_a_crew_members_receipt_is_pointed_to_the_unit(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    driver, saver, unit = crew_book(client, org)
    h = org.headers("collector")
    before = count(engine, "receipt")
    r = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": driver}),
        headers={**h, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["errors"][0]["field"] == "member_id"
    assert "unit A-1" in problem["detail"] and "unit_id" in problem["detail"]
    assert count(engine, "receipt") == before  # nothing written
    # the unit's receipt pays the unit's oldest day
    ok = client.post(
        "/api/v1/receipts",
        json=receipt({"unit_id": unit["id"]}),
        headers={**h, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert ok.status_code == 201, ok.text
    assert len(ok.json()["allocations"]) == 1 and ok.json()["credit"] == "0.00"
    # a member with no unit may still pay ahead (prepaid credit, taken by later dues)
    ahead = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": saver}),
        headers={**h, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert ahead.status_code == 201 and ahead.json()["credit"] == "50.00", ahead.text


def test_a_crew_member_with_an_enrolment_of_their_own_keeps_credit(client, org) -> None:  # type: ignore[no-untyped-def]
    driver, _saver, _unit = crew_book(client, org)
    load_scheme(client, org, MONTHLY_RATE_CHANGE)
    r = client.post(
        "/api/v1/enrolments",
        json={"member_id": driver, "scheme_code": "monthly-dop", "starts_on": "2026-07-01"},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 201, r.text
    ok = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": driver}),
        headers={**org.headers("collector"), "Idempotency-Key": str(uuid.uuid4())},
    )
    # his own July dues will take it
    assert ok.status_code == 201 and ok.json()["credit"] == "50.00", ok.text


def test_a_sheet_rejects_only_the_crew_members_item(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    driver, saver, unit = crew_book(client, org)
    items = [
        {"client_id": "a", **receipt({"member_id": driver})},
        {"client_id": "b", **receipt({"unit_id": unit["id"]})},
        {"client_id": "c", **receipt({"member_id": saver})},
    ]
    r = client.post(
        "/api/v1/collection-sheets",
        json={"collected_on": "2026-06-10", "receipts": items},
        headers=org.headers("collector"),
    )
    assert r.status_code in (200, 201), r.text
    results = {x["client_id"]: x for x in r.json()["results"]}
    assert results["a"]["status"] == "rejected"
    assert results["a"]["errors"][0]["field"] == "member_id"
    assert "unit A-1" in results["a"]["errors"][0]["message"]
    assert results["b"]["status"] == "created" and results["c"]["status"] == "created"
    assert count(engine, "receipt") == 2
