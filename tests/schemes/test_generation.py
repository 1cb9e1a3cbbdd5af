"""Dues generation: daily per unit (rest days skipped), monthly (prorated), across a month
boundary and a rate change; incremental and idempotent; the dues-created hook."""

from __future__ import annotations

import pytest

from app.schemes import service as schemes_service
from tests.schemes.books import (
    TRANSPORT_FUNDS,
    add_member,
    add_unit,
    all_dues,
    count,
    enrol,
    generate,
    load_file,
    load_scheme,
    make_funds,
)


def brief(dues):  # type: ignore[no-untyped-def]
    return [
        (d["period_start"], d["period_end"], d["due_on"], d["amount"], d["scheme_version"])
        for d in dues
    ]


def test_daily_dues_across_a_month_boundary_and_a_rate_change(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, *TRANSPORT_FUNDS)
    load_file(client, org, "transport-daily.yaml")
    driver = add_member(client, org, "D-1")
    unit = add_unit(client, org, "A123456", crew=[{"member_id": driver["id"], "role": "driver"}])
    e = enrol(
        client, org, unit_id=unit["id"], scheme_code="transport-daily", starts_on="2026-06-25"
    )

    made = generate(client, org, "2026-07-04")
    assert made == {"through": "2026-07-04", "created": 9, "enrolments": 1, "payers": 1}
    dues = all_dues(client, org, unit_id=unit["id"])
    # Thursday 25 June to Saturday 4 July, without Sunday 28 June; 55.00 from 1 July (version 2)
    assert brief(dues) == [
        (day, day, day, amount, version)
        for day, amount, version in [
            ("2026-06-25", "50.00", 1),
            ("2026-06-26", "50.00", 1),
            ("2026-06-27", "50.00", 1),
            ("2026-06-29", "50.00", 1),
            ("2026-06-30", "50.00", 1),
            ("2026-07-01", "55.00", 2),
            ("2026-07-02", "55.00", 2),
            ("2026-07-03", "55.00", 2),
            ("2026-07-04", "55.00", 2),
        ]
    ]
    assert all(d["unit_id"] == unit["id"] and d["member_id"] is None for d in dues)
    assert all(d["enrolment_id"] == e["id"] and d["status"] == "open" for d in dues)
    assert (
        client.get(f"/api/v1/enrolments/{e['id']}", headers=org.headers("auditor")).json()[
            "generated_through"
        ]
        == "2026-07-04"
    )

    # again, or with an earlier date: nothing new
    assert generate(client, org, "2026-07-04")["created"] == 0
    assert generate(client, org, "2026-06-01")["created"] == 0
    assert count(engine, "due") == 9
    # Sunday 5 July has no due; Monday 6 July has
    assert generate(client, org, "2026-07-06")["created"] == 1
    assert brief(all_dues(client, org))[-1] == (
        "2026-07-06",
        "2026-07-06",
        "2026-07-06",
        "55.00",
        2,
    )
    events = count(engine, "audit_event", "action = 'dues.generate'")
    assert events == 4


def test_monthly_dues_are_prorated_for_a_mid_month_join_and_exit(client, make_org, engine) -> None:  # type: ignore[no-untyped-def]
    org = make_org("VENDORS", "KES")
    make_funds(client, org, "NHIF", "NSSF")
    load_file(client, org, "monthly-fixed.yaml")
    m = add_member(client, org, "V-1")
    enrol(
        client,
        org,
        member_id=m["id"],
        scheme_code="monthly-fixed",
        starts_on="2026-01-15",
        ends_on="2026-03-10",
    )

    # February's period ends after 15 February: not made yet
    assert generate(client, org, "2026-02-15")["created"] == 1
    assert generate(client, org, "2026-04-30")["created"] == 2
    assert brief(all_dues(client, org, member_id=m["id"])) == [
        # 17 of January's 31 days: 500.00 x 17 / 31 = 274.1935... -> 274.19; due 9 February
        ("2026-01-15", "2026-01-31", "2026-02-09", "274.19", 1),
        ("2026-02-01", "2026-02-28", "2026-03-09", "500.00", 1),
        # 10 of March's 31 days: 161.2903... -> 161.29
        ("2026-03-01", "2026-03-10", "2026-04-09", "161.29", 1),
    ]
    assert generate(client, org, "2026-12-31")["created"] == 0


def test_monthly_share_of_income_with_floor_and_ceiling(client, make_org) -> None:  # type: ignore[no-untyped-def]
    org = make_org("MUFEDE", "XOF")
    make_funds(client, org, "CNSS", "MUTUELLE")
    load_file(client, org, "monthly.yaml")
    incomes = {"LOW": "10000", "MID": "100000", "HIGH": "1000000"}
    ids = {}
    for number, income in incomes.items():
        ids[number] = add_member(client, org, number)["id"]
        enrol(
            client,
            org,
            member_id=ids[number],
            scheme_code="monthly",
            starts_on="2026-01-01",
            declared_income=income,
        )
    late = add_member(client, org, "LATE")["id"]
    enrol(
        client,
        org,
        member_id=late,
        scheme_code="monthly",
        starts_on="2026-02-10",
        declared_income="100000",
    )
    assert generate(client, org, "2026-02-28")["created"] == 7
    by_member = {}
    for d in all_dues(client, org):
        by_member.setdefault(d["member_id"], []).append(
            (d["period_start"], d["amount"], d["due_on"])
        )
    assert by_member[ids["LOW"]] == [
        ("2026-01-01", "1500", "2026-02-10"),
        ("2026-02-01", "1500", "2026-03-10"),
    ]
    assert by_member[ids["MID"]] == [
        ("2026-01-01", "5500", "2026-02-10"),
        ("2026-02-01", "5500", "2026-03-10"),
    ]
    assert by_member[ids["HIGH"]][0][1] == "25000"
    # 19 of February's 28 days of 5,500: 3732.14... -> 3732
    assert by_member[late] == [("2026-02-10", "3732", "2026-03-10")]

    # enrolling in an income-based scheme without the income is refused, naming the field
    r = client.post(
        "/api/v1/enrolments",
        json={"member_id": late, "scheme_code": "monthly", "starts_on": "2026-06-01"},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "declared_income"
    # a new declared income counts for the dues generated after it
    enrolment = client.get(
        f"/api/v1/enrolments?member_id={ids['MID']}", headers=org.headers("auditor")
    ).json()["items"][0]
    r = client.patch(
        f"/api/v1/enrolments/{enrolment['id']}",
        json={"declared_income": "200000"},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 200 and r.json()["declared_income"] == "200000"
    generate(client, org, "2026-03-31")
    assert [d["amount"] for d in all_dues(client, org, member_id=ids["MID"])] == [
        "5500",
        "5500",
        "11000",
    ]


MONTHLY_RATE_CHANGE = """
code: monthly-dop
name: Monthly, pesos
kind: monthly
currency: DOP
versions:
  - effective_from: 2026-01-01
    amount: "300.00"
    due_day: 5
    grace_days: 30
    split: [{fund: PENSION, percent: "100"}]
  - effective_from: 2026-03-15
    amount: "400.00"
    due_day: 5
    grace_days: 30
    split: [{fund: PENSION, percent: "100"}]
"""


def test_a_monthly_rate_change_applies_from_the_first_period_starting_after_it(client, org) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, "PENSION")
    load_scheme(client, org, MONTHLY_RATE_CHANGE)
    a = add_member(client, org, "A")["id"]
    b = add_member(client, org, "B")["id"]
    enrol(client, org, member_id=a, scheme_code="monthly-dop", starts_on="2026-02-01")
    enrol(client, org, member_id=b, scheme_code="monthly-dop", starts_on="2026-03-20")
    generate(client, org, "2026-04-30")
    assert brief(all_dues(client, org, member_id=a)) == [
        ("2026-02-01", "2026-02-28", "2026-03-05", "300.00", 1),
        ("2026-03-01", "2026-03-31", "2026-04-05", "300.00", 1),  # March began under version 1
        ("2026-04-01", "2026-04-30", "2026-05-05", "400.00", 2),
    ]
    assert brief(all_dues(client, org, member_id=b)) == [
        # 12 of 31 days at the new rate: 400.00 x 12 / 31 = 154.838... -> 154.84
        ("2026-03-20", "2026-03-31", "2026-04-05", "154.84", 2),
        ("2026-04-01", "2026-04-30", "2026-05-05", "400.00", 2),
    ]


def test_ending_and_moving_an_enrolment_never_rewrites_dues(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, *TRANSPORT_FUNDS, "PENSION") if False else make_funds(
        client, org, *TRANSPORT_FUNDS
    )
    load_file(client, org, "transport-daily.yaml")
    load_scheme(client, org, MONTHLY_RATE_CHANGE)
    unit = add_unit(client, org, "B-1")
    daily = enrol(
        client, org, unit_id=unit["id"], scheme_code="transport-daily", starts_on="2026-09-01"
    )
    member = add_member(client, org, "M")["id"]
    monthly = enrol(
        client, org, member_id=member, scheme_code="monthly-dop", starts_on="2026-09-01"
    )
    generate(client, org, "2026-09-30")
    h = org.headers("treasurer")

    # an end before dues already made: refused, nothing changed
    r = client.patch(f"/api/v1/enrolments/{daily['id']}", json={"ends_on": "2026-09-15"}, headers=h)
    assert r.status_code == 409 and "2026-09-30" in r.json()["detail"]
    r = client.patch(f"/api/v1/enrolments/{daily['id']}", json={"ends_on": "2026-08-01"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "ends_on"
    # ending later: the dues stop on that day
    r = client.patch(f"/api/v1/enrolments/{daily['id']}", json={"ends_on": "2026-10-03"}, headers=h)
    assert r.status_code == 200 and r.json()["ends_on"] == "2026-10-03"
    r = client.patch(
        f"/api/v1/enrolments/{monthly['id']}", json={"ends_on": "2026-10-10"}, headers=h
    )
    assert r.status_code == 200
    generate(client, org, "2026-12-31")
    assert [
        d["period_start"]
        for d in all_dues(client, org, unit_id=unit["id"], **{"from": "2026-10-01"})
    ] == [
        "2026-10-01",
        "2026-10-02",
        "2026-10-03",
    ]
    assert brief(all_dues(client, org, member_id=member))[-1] == (
        "2026-10-01",
        "2026-10-10",
        "2026-11-05",
        "129.03",
        2,  # 400.00 x 10 / 31
    )
    # moving the end later would leave October's due cut short: refused
    r = client.patch(f"/api/v1/enrolments/{monthly['id']}", json={"ends_on": None}, headers=h)
    assert r.status_code == 409 and "prorated" in r.json()["detail"]
    # the daily enrolment may be reopened: its days were whole
    r = client.patch(f"/api/v1/enrolments/{daily['id']}", json={"ends_on": None}, headers=h)
    assert r.status_code == 200
    assert generate(client, org, "2026-10-06")["created"] == 2  # 5 and 6 October; 4th is a Sunday


def test_enrolment_validation(client, org, make_org) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, *TRANSPORT_FUNDS)
    load_file(client, org, "transport-daily.yaml")
    m = add_member(client, org, "M")
    u = add_unit(client, org, "U")
    h = org.headers("treasurer")
    other = make_org("OTHER")
    stranger = add_member(client, other, "S")
    cases = [
        (
            {"member_id": m["id"], "scheme_code": "transport-daily", "starts_on": "2026-02-01"},
            "unit_id",
        ),
        ({"unit_id": u["id"], "scheme_code": "nope", "starts_on": "2026-02-01"}, "scheme_code"),
        (
            {"unit_id": u["id"], "scheme_code": "transport-daily", "starts_on": "2025-12-31"},
            "starts_on",
        ),
        (
            {
                "unit_id": u["id"],
                "scheme_code": "transport-daily",
                "starts_on": "2026-02-01",
                "ends_on": "2026-01-01",
            },
            "ends_on",
        ),
        (
            {
                "unit_id": u["id"],
                "member_id": m["id"],
                "scheme_code": "transport-daily",
                "starts_on": "2026-02-01",
            },
            "body",
        ),
        (
            {
                "unit_id": stranger["id"],
                "scheme_code": "transport-daily",
                "starts_on": "2026-02-01",
            },
            "unit_id",
        ),
        (
            {
                "unit_id": u["id"],
                "scheme_code": "transport-daily",
                "starts_on": "2026-02-01",
                "declared_income": "100.00",
            },
            "declared_income",
        ),
    ]
    for body, field in cases:
        r = client.post("/api/v1/enrolments", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == field, (body, r.json())
    enrol(
        client,
        org,
        unit_id=u["id"],
        scheme_code="transport-daily",
        starts_on="2026-02-01",
        ends_on="2026-03-31",
    )
    r = client.post(
        "/api/v1/enrolments",
        json={"unit_id": u["id"], "scheme_code": "transport-daily", "starts_on": "2026-03-01"},
        headers=h,
    )
    assert r.status_code == 409 and "owed twice" in r.json()["detail"]
    enrol(client, org, unit_id=u["id"], scheme_code="transport-daily", starts_on="2026-04-01")
    for role in ("collector", "auditor", "fund_office"):
        r = client.post(
            "/api/v1/enrolments",
            json={"unit_id": u["id"], "scheme_code": "transport-daily", "starts_on": "2027-01-01"},
            headers=org.headers(role),
        )
        assert r.status_code == 403
    assert client.get("/api/v1/enrolments", headers=other.headers("admin")).json()["items"] == []
    assert (
        client.post(
            "/api/v1/dues/generate", json={"through": "2026-05-01"}, headers=org.headers("auditor")
        ).status_code
        == 403
    )


def test_the_dues_created_hook_is_called_once_with_the_payers(client, org) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, *TRANSPORT_FUNDS)
    load_file(client, org, "transport-daily.yaml")
    load_scheme(client, org, MONTHLY_RATE_CHANGE.replace("fund: PENSION", "fund: HEALTH"))
    units = [add_unit(client, org, f"U{i}") for i in range(3)]
    member = add_member(client, org, "M")
    for u in units:
        enrol(client, org, unit_id=u["id"], scheme_code="transport-daily", starts_on="2026-05-01")
    enrol(client, org, member_id=member["id"], scheme_code="monthly-dop", starts_on="2026-05-01")
    calls = []

    def hook(session, actor, payers):  # type: ignore[no-untyped-def]
        calls.append((actor.name, set(payers)))

    schemes_service.DUES_CREATED_HOOKS.append(hook)
    try:
        generate(client, org, "2026-05-20")  # May's monthly period has not ended: units only
        generate(client, org, "2026-05-31")
        generate(client, org, "2026-05-31")  # nothing new: no call
    finally:
        schemes_service.DUES_CREATED_HOOKS.remove(hook)
    import uuid

    unit_payers = {("unit", uuid.UUID(u["id"])) for u in units}
    assert calls == [
        ("key:treasurer key", unit_payers),
        ("key:treasurer key", unit_payers | {("member", uuid.UUID(member["id"]))}),
    ]


def test_idempotency_key_replays_generation(client, org) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, *TRANSPORT_FUNDS)
    load_file(client, org, "transport-daily.yaml")
    enrol(
        client,
        org,
        unit_id=add_unit(client, org, "U")["id"],
        scheme_code="transport-daily",
        starts_on="2026-03-02",
    )
    h = org.headers("treasurer", **{"Idempotency-Key": "gen-march"})
    first = client.post("/api/v1/dues/generate", json={"through": "2026-03-07"}, headers=h)
    again = client.post("/api/v1/dues/generate", json={"through": "2026-03-07"}, headers=h)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content and first.json()["created"] == 6
    assert again.headers.get("Idempotency-Replayed") == "true"
    other = client.post("/api/v1/dues/generate", json={"through": "2026-03-08"}, headers=h)
    assert other.status_code == 409


@pytest.mark.parametrize("through", ["2026-13-01", "1999-12-31", "soon"])
def test_bad_dates_are_refused(client, org, through) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/dues/generate", json={"through": through}, headers=org.headers("treasurer")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "through"


def test_cli_generates_with_progress(client, org, cli_db) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from app.cli import cli

    make_funds(client, org, *TRANSPORT_FUNDS)
    load_file(client, org, "transport-daily.yaml")
    for i in range(3):
        enrol(
            client,
            org,
            unit_id=add_unit(client, org, f"U{i}")["id"],
            scheme_code="transport-daily",
            starts_on="2026-03-02",
        )
    result = CliRunner().invoke(
        cli, ["dues", "generate", "--org", org.code, "--through", "2026-03-07"]
    )
    assert result.exit_code == 0, result.output
    assert "dues: 3/3 enrolments" in result.output
    assert "18 dues created through 2026-03-07 for 3 enrolments" in result.output
    again = CliRunner().invoke(
        cli, ["dues", "generate", "--org", org.code, "--through", "2026-03-07"]
    )
    assert "0 dues created" in again.output
    bad = CliRunner().invoke(cli, ["dues", "generate", "--org", org.code, "--through", "March"])
    assert bad.exit_code == 2 and "--through" in bad.output
    assert len(all_dues(client, org)) == 18


@pytest.mark.postgres_only
def test_concurrent_runs_make_each_due_once(client, org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    import threading

    from app.core.audit import CLI_ACTOR
    from app.core.database import unit_of_work
    from app.schemes.generation import generate_dues

    make_funds(client, org, *TRANSPORT_FUNDS)
    load_file(client, org, "transport-daily.yaml")
    for i in range(20):
        enrol(
            client,
            org,
            unit_id=add_unit(client, org, f"U{i}")["id"],
            scheme_code="transport-daily",
            starts_on="2026-03-02",
        )
    results: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def run() -> None:
        try:
            start.wait()
            with unit_of_work(session_factory, org.id) as s:
                results.append(
                    generate_dues(
                        s, CLI_ACTOR, __import__("datetime").date(2026, 3, 31), chunk=7
                    ).created
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # 26 working days in March 2026 (five Sundays) for each of 20 units, made by one run only
    assert sorted(results) == [0, 0, 520]
    assert count(engine, "due") == 520
