"""Per-harvest dues, and contribution quotes for prospective members."""

from __future__ import annotations

import uuid

from app.schemes import service as schemes_service
from tests.schemes.books import TRANSPORT_FUNDS, add_member, count, enrol, load_file, make_funds


def harvest(client, org, member_id, on, value=None, scheme="harvest", key=None):  # type: ignore[no-untyped-def]
    body = {"member_id": member_id, "scheme_code": scheme, "harvested_on": on}
    if value is not None:
        body["declared_value"] = value
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/harvests", json=body, headers=org.headers("treasurer", **extra))


def farm(client, make_org):  # type: ignore[no-untyped-def]
    org = make_org("COOPEAGRI", "CRC")
    make_funds(client, org, "CCSS")
    load_file(client, org, "harvest.yaml")
    load_file(client, org, "harvest-quarterly.yaml")
    member = add_member(client, org, "F-1")["id"]
    enrol(client, org, member_id=member, scheme_code="harvest", starts_on="2026-01-01")
    enrol(client, org, member_id=member, scheme_code="harvest-quarterly", starts_on="2026-01-01")
    return org, member


def test_a_recorded_harvest_creates_its_due(client, make_org, engine) -> None:  # type: ignore[no-untyped-def]
    org, member = farm(client, make_org)
    calls = []
    schemes_service.DUES_CREATED_HOOKS.append(lambda s, a, payers: calls.append(set(payers)))
    try:
        r = harvest(client, org, member, "2026-07-15", "1000000.00")
    finally:
        schemes_service.DUES_CREATED_HOOKS.pop()
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["declared_value"] == "1000000.00" and body["scheme_code"] == "harvest"
    due = body["due"]
    # 3.5% of 1,000,000.00; covers the six months up to the harvest; due 30 days after it
    assert (due["amount"], due["period_start"], due["period_end"], due["due_on"]) == (
        "35000.00",
        "2026-01-16",
        "2026-07-15",
        "2026-08-14",
    )
    assert (
        due["member_id"] == member
        and due["harvest_id"] == body["id"]
        and due["enrolment_id"] is None
    )
    assert calls == [{("member", uuid.UUID(member))}]

    small = harvest(client, org, member, "2026-03-01", "100000.00").json()["due"]
    assert small["amount"] == "15000.00"  # 3,500.00 is below the minimum
    assert small["period_start"] == "2026-01-01"  # not before the enrolment
    quarterly = harvest(client, org, member, "2026-04-30", scheme="harvest-quarterly").json()["due"]
    assert (quarterly["amount"], quarterly["period_start"], quarterly["due_on"]) == (
        "9500.00",
        "2026-01-31",
        "2026-05-15",
    )

    # the same harvest again: 409, nothing new
    again = harvest(client, org, member, "2026-07-15", "999.00")
    assert again.status_code == 409
    assert count(engine, "harvest") == 3 and count(engine, "due") == 3
    standing = client.get(
        f"/api/v1/members/{member}/standing?as_of=2026-08-01", headers=org.headers("auditor")
    ).json()
    # overdue on 1 August: the March harvest's due (31 March) and the quarterly one (15 May)
    assert standing["arrears"] == "24500.00"
    assert standing["coverage"][0]["fund_code"] == "CCSS"


def test_bad_harvests_are_refused_naming_the_field(client, make_org, engine) -> None:  # type: ignore[no-untyped-def]
    org, member = farm(client, make_org)
    stranger = add_member(client, org, "F-2")["id"]
    cases = [
        (
            dict(member_id=member, on="2025-12-31", value="1000.00"),
            "harvested_on",
        ),  # before the enrolment
        (
            dict(member_id=stranger, on="2026-05-01", value="1000.00"),
            "harvested_on",
        ),  # not enrolled
        (dict(member_id=member, on="2026-05-01"), "declared_value"),  # a share of nothing
        (dict(member_id=member, on="2026-05-01", value="10.001"), "declared_value"),
        (dict(member_id=member, on="2026-05-01", value="-5.00"), "declared_value"),
        (dict(member_id=str(uuid.uuid4()), on="2026-05-01", value="10.00"), "member_id"),
        (dict(member_id=member, on="2026-13-01", value="10.00"), "harvested_on"),
    ]
    for kw, field in cases:
        r = harvest(client, org, kw["member_id"], kw["on"], kw.get("value"))
        assert r.status_code == 422, (kw, r.text)
        assert r.json()["errors"][0]["field"] == field, (kw, r.json())
    r = harvest(client, org, member, "2026-05-01", "1.00", scheme="nope")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scheme_code"
    assert count(engine, "harvest") == 0 and count(engine, "due") == 0
    r = client.post(
        "/api/v1/harvests",
        json={
            "member_id": member,
            "scheme_code": "harvest",
            "harvested_on": "2026-05-01",
            "declared_value": "1.00",
        },
        headers=org.headers("collector"),
    )
    assert r.status_code == 403


def test_a_retried_harvest_answers_the_same(client, make_org, engine) -> None:  # type: ignore[no-untyped-def]
    org, member = farm(client, make_org)
    first = harvest(client, org, member, "2026-06-30", "500000.00", key="harvest-F-1-june")
    again = harvest(client, org, member, "2026-06-30", "500000.00", key="harvest-F-1-june")
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    assert count(engine, "due") == 1


def test_quotes(client, make_org) -> None:  # type: ignore[no-untyped-def]
    xof = make_org("MUFEDE", "XOF")
    make_funds(client, xof, "CNSS", "MUTUELLE")
    load_file(client, xof, "monthly.yaml")
    h = xof.headers("collector")
    q = client.get("/api/v1/schemes/monthly/quote?declared_income=100000&months=12", headers=h)
    assert q.status_code == 200, q.text
    body = q.json()
    assert body["period"] == "month" and body["periods"] == 12 and body["version"] == 1
    assert body["per_period"] == {
        "amount": "5500",
        "fee": "0",
        "funds": [
            {"fund_code": "CNSS", "amount": "4400"},
            {"fund_code": "MUTUELLE", "amount": "1100"},
        ],
    }
    assert body["total"]["amount"] == "66000"
    low = client.get("/api/v1/schemes/monthly/quote?declared_income=10000", headers=h).json()
    assert low["per_period"]["amount"] == "1500" and low["periods"] == 1  # the minimum
    for params, field in [
        ("", "declared_income"),
        ("?declared_income=12.5", "declared_income"),
        ("?declared_income=1&months=0", "months"),
    ]:
        r = client.get(f"/api/v1/schemes/monthly/quote{params}", headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (params, r.text)
    assert client.get("/api/v1/schemes/nope/quote", headers=h).status_code == 404
    assert (
        client.get(
            "/api/v1/schemes/monthly/quote?declared_income=1", headers=xof.headers("fund_office")
        ).status_code
        == 403
    )

    dop = make_org("AMUSSOL", "DOP")
    make_funds(client, dop, *TRANSPORT_FUNDS)
    load_file(client, dop, "transport-daily.yaml")
    q = client.get(
        "/api/v1/schemes/transport-daily/quote?months=1&as_of=2026-11-02",
        headers=dop.headers("treasurer"),
    ).json()
    # 2 November to 1 December without its four Sundays: 26 days at 55.00 (version 2)
    assert (q["period"], q["periods"], q["version"]) == ("day", 26, 2)
    assert q["per_period"] == {
        "amount": "55.00",
        "fee": "2.75",
        "funds": [
            {"fund_code": "PENSION", "amount": "31.35"},
            {"fund_code": "HEALTH", "amount": "18.29"},
            {"fund_code": "ACCIDENT", "amount": "2.61"},
        ],
    }
    assert q["total"] == {
        "amount": "1430.00",
        "fee": "71.50",
        "funds": [
            {"fund_code": "PENSION", "amount": "815.10"},
            {"fund_code": "HEALTH", "amount": "475.54"},
            {"fund_code": "ACCIDENT", "amount": "67.86"},
        ],
    }

    crc, _member = farm(client, make_org)
    q = client.get(
        "/api/v1/schemes/harvest/quote?declared_income=1000000.00&months=12",
        headers=crc.headers("auditor"),
    ).json()
    assert (q["period"], q["periods"], q["per_period"]["amount"], q["total"]["amount"]) == (
        "harvest",
        2,
        "35000.00",
        "70000.00",
    )
