"""Standing, arrears, aging, penalties, prepaid credit and coverage for paid, partly paid and
unpaid members; a unit's dues count toward its covered crew only."""

from __future__ import annotations

import re

from tests.schemes.books import (
    TRANSPORT_FUNDS,
    add_member,
    add_unit,
    all_dues,
    enrol,
    generate,
    load_file,
    load_scheme,
    make_funds,
    pay,
)
from tests.schemes.test_generation import MONTHLY_RATE_CHANGE

ZERO_AGING = {"0-30": "0.00", "31-60": "0.00", "61-90": "0.00", "90+": "0.00"}


def standing(client, org, member_id: str, as_of: str, role: str = "treasurer"):  # type: ignore[no-untyped-def]
    r = client.get(f"/api/v1/members/{member_id}/standing?as_of={as_of}", headers=org.headers(role))
    assert r.status_code == 200, r.text
    return r.json()


def setup_monthly(client, org):  # type: ignore[no-untyped-def]
    make_funds(client, org, *TRANSPORT_FUNDS)
    load_scheme(
        client, org, MONTHLY_RATE_CHANGE
    )  # 300.00 a month, due the 5th of the next, grace 30
    members = {}
    for name in ("PAID", "PARTIAL", "UNPAID"):
        members[name] = add_member(client, org, name)["id"]
        enrol(
            client, org, member_id=members[name], scheme_code="monthly-dop", starts_on="2026-01-01"
        )
    generate(client, org, "2026-03-31")
    dues = {m: all_dues(client, org, member_id=i) for m, i in members.items()}
    return members, dues


def test_paid_partly_paid_and_unpaid_members(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    members, dues = setup_monthly(client, org)
    for d in dues["PAID"]:
        pay(engine, d["id"], 30000)
    jan, feb, _mar = dues["PARTIAL"]
    pay(engine, jan["id"], 30000)
    pay(engine, feb["id"], 10000)

    paid = standing(client, org, members["PAID"], "2026-04-10")
    assert paid == {
        "member_id": members["PAID"],
        "as_of": "2026-04-10",
        "currency": "DOP",
        "paid_through": "2026-03-31",
        "arrears": "0.00",
        "aging": ZERO_AGING,
        "oldest_overdue_on": None,
        "penalty": "0.00",
        "credit": "0.00",
        # the last due was due 5 April: covered until 30 days after it
        "coverage": [{"fund_code": "PENSION", "status": "covered", "covered_until": "2026-05-05"}],
    }

    # 20 March: February's 200.00 left is 15 days overdue, March's not due yet (5 April)
    partial = standing(client, org, members["PARTIAL"], "2026-03-20")
    assert partial["paid_through"] == "2026-01-31"
    assert partial["arrears"] == "200.00"
    assert partial["aging"] == {**ZERO_AGING, "0-30": "200.00"}
    assert partial["oldest_overdue_on"] == "2026-03-05"
    assert partial["coverage"] == [
        {"fund_code": "PENSION", "status": "grace", "covered_until": "2026-04-04"}
    ]
    later = standing(client, org, members["PARTIAL"], "2026-04-10")
    assert later["arrears"] == "500.00"
    assert later["aging"] == {**ZERO_AGING, "0-30": "300.00", "31-60": "200.00"}
    assert later["coverage"][0]["status"] == "lapsed"

    unpaid = standing(client, org, members["UNPAID"], "2026-06-20")
    assert unpaid["paid_through"] is None
    assert unpaid["arrears"] == "900.00"
    # due 5 February (135 days), 5 March (107), 5 April (76)
    assert unpaid["aging"] == {**ZERO_AGING, "61-90": "300.00", "90+": "600.00"}
    assert unpaid["coverage"] == [
        {"fund_code": "PENSION", "status": "lapsed", "covered_until": "2026-03-07"}
    ]

    # the member's dues, by status
    h = org.headers("collector")
    got = client.get(f"/api/v1/members/{members['PARTIAL']}/dues?status=partial", headers=h).json()[
        "items"
    ]
    assert [(d["period_start"], d["paid"], d["status"]) for d in got] == [
        ("2026-02-01", "100.00", "partial")
    ]
    got = client.get(f"/api/v1/members/{members['PARTIAL']}/dues?status=open", headers=h).json()[
        "items"
    ]
    assert [d["period_start"] for d in got] == ["2026-03-01"]
    got = client.get(
        f"/api/v1/dues?member_id={members['PAID']}&status=paid", headers=org.headers("auditor")
    ).json()
    assert len(got["items"]) == 3


def test_arrears_report_lists_members_in_arrears_with_aging(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    _members, dues = setup_monthly(client, org)
    for d in dues["PAID"]:
        pay(engine, d["id"], 30000)
    pay(engine, dues["PARTIAL"][0]["id"], 30000)
    pay(engine, dues["PARTIAL"][1]["id"], 10000)
    h = org.headers("auditor")
    report = client.get("/api/v1/reports/arrears?as_of=2026-04-10", headers=h).json()
    lines = {ln["member_number"]: ln for ln in report["items"]}
    assert list(lines) == ["PARTIAL", "UNPAID"]  # by member number; PAID owes nothing
    assert (
        lines["PARTIAL"]["arrears"] == "500.00" and lines["PARTIAL"]["paid_through"] == "2026-01-31"
    )
    assert lines["UNPAID"]["aging"] == {
        **ZERO_AGING,
        "0-30": "300.00",
        "31-60": "300.00",
        "61-90": "300.00",
    }
    page = client.get("/api/v1/reports/arrears?as_of=2026-04-10&limit=1", headers=h).json()
    assert [ln["member_number"] for ln in page["items"]] == ["PARTIAL"]
    rest = client.get(
        f"/api/v1/reports/arrears?as_of=2026-04-10&limit=1&cursor={page['next_cursor']}", headers=h
    ).json()
    assert [ln["member_number"] for ln in rest["items"]] == ["UNPAID"] and rest[
        "next_cursor"
    ] is None
    # before anything was due, nobody is in arrears
    assert client.get("/api/v1/reports/arrears?as_of=2026-02-05", headers=h).json()["items"] == []
    assert (
        client.get("/api/v1/reports/arrears", headers=org.headers("collector")).status_code == 403
    )


def test_unit_dues_count_for_covered_crew_with_penalties(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, *TRANSPORT_FUNDS)
    load_file(client, org, "transport-daily.yaml")
    driver = add_member(client, org, "DRIVER")["id"]
    conductor = add_member(client, org, "CONDUCTOR")["id"]
    unit = add_unit(
        client,
        org,
        "A-1",
        crew=[
            {"member_id": driver, "role": "driver"},
            {"member_id": conductor, "role": "conductor", "covered": False},
        ],
    )
    enrol(
        client,
        org,
        unit_id=unit["id"],
        scheme_code="transport-daily",
        starts_on="2026-06-01",
        ends_on="2026-06-06",
    )
    generate(client, org, "2026-06-30")
    # six working days at 50.00, all unpaid. On 15 August they are 70-75 days overdue: two
    # started months past the 30 penalty-free days, at 1% a month of 300.00 = 6.00
    st = standing(client, org, driver, "2026-08-15", role="collector")
    assert st["arrears"] == "300.00" and st["aging"] == {**ZERO_AGING, "61-90": "300.00"}
    assert st["penalty"] == "6.00"
    assert st["coverage"] == [
        {"fund_code": code, "status": "lapsed", "covered_until": "2026-07-01"}
        for code in ("ACCIDENT", "HEALTH", "PENSION")
    ]
    h = org.headers("collector")
    listed = client.get(f"/api/v1/members/{driver}/dues", headers=h).json()["items"]
    assert len(listed) == 6 and {d["unit_id"] for d in listed} == {unit["id"]}
    assert client.get(f"/api/v1/members/{conductor}/dues", headers=h).json()["items"] == []
    # the uncovered conductor's standing does not carry the unit's dues
    none = standing(client, org, conductor, "2026-08-15")
    assert none["arrears"] == "0.00" and none["coverage"] == [] and none["paid_through"] is None
    # four days paid: the driver is paid through 4 June and owes 100.00
    for d in all_dues(client, org, unit_id=unit["id"])[:4]:
        pay(engine, d["id"], 5000)
    st = standing(client, org, driver, "2026-06-20")
    assert (
        st["paid_through"] == "2026-06-04" and st["arrears"] == "100.00" and st["penalty"] == "0.00"
    )
    assert {c["status"] for c in st["coverage"]} == {"grace"}


def test_prepaid_credit_is_the_credit_account_balance(client, org) -> None:  # type: ignore[no-untyped-def]
    # a payment ahead of any due: the member's prepaid credit (a manual entry may no longer
    # touch a member's credit account; only receipts and the dues that take credit do)
    member = add_member(client, org, "M")
    r = client.post(
        "/api/v1/receipts",
        json={
            "member_id": member["id"],
            "amount": "25.00",
            "currency": "DOP",
            "received_at": "2026-05-02T10:00:00-04:00",
            "channel": "cash",
        },
        headers={**org.headers("collector"), "Idempotency-Key": "advance-1"},
    )
    assert r.status_code == 201 and r.json()["credit"] == "25.00", r.text
    st = standing(client, org, member["id"], "2026-05-03")
    assert st["credit"] == "25.00" and st["arrears"] == "0.00" and st["coverage"] == []


def test_standing_roles_and_tenancy(client, make_org) -> None:  # type: ignore[no-untyped-def]
    a, b = make_org("COOPA"), make_org("COOPB")
    m = add_member(client, a, "M")
    assert (
        client.get(f"/api/v1/members/{m['id']}/standing", headers=b.headers("admin")).status_code
        == 404
    )
    assert (
        client.get(f"/api/v1/members/{m['id']}/dues", headers=b.headers("admin")).status_code == 404
    )
    assert (
        client.get(
            f"/api/v1/members/{m['id']}/standing", headers=a.headers("fund_office")
        ).status_code
        == 403
    )
    r = client.get(
        f"/api/v1/members/{m['id']}/standing?as_of=2026-02-31", headers=a.headers("admin")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "as_of"


def test_a_units_arrears_count_once_in_what_is_owed(client, org, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Issue 11: the report's total counted a unit's arrears once per covered crew member
    (9,075.00 against the dashboard's 4,620 on the demo). The lines keep each member's
    standing; the total, the dashboard and the web report count every due once."""
    from app.core.audit import CLI_ACTOR
    from app.core.database import bind_organisation, unit_of_work
    from app.identity.service import create_user
    from tests.web.conftest import PASSWORD, WebClient

    make_funds(client, org, *TRANSPORT_FUNDS)
    load_file(client, org, "transport-daily.yaml")
    load_scheme(client, org, MONTHLY_RATE_CHANGE)
    driver = add_member(client, org, "DRIVER")["id"]
    conductor = add_member(client, org, "CONDUCTOR")["id"]
    unit = add_unit(
        client,
        org,
        "A-1",
        crew=[
            {"member_id": driver, "role": "driver"},
            {"member_id": conductor, "role": "conductor"},
        ],
    )
    enrol(
        client,
        org,
        unit_id=unit["id"],
        scheme_code="transport-daily",
        starts_on="2026-06-01",
        ends_on="2026-06-06",
    )
    # the driver also owes a month of his own: 400.00 for June, due 5 July
    enrol(
        client,
        org,
        member_id=driver,
        scheme_code="monthly-dop",
        starts_on="2026-06-01",
        ends_on="2026-06-30",
    )
    generate(client, org, "2026-06-30")
    h = org.headers("auditor")
    report = client.get("/api/v1/reports/arrears?as_of=2026-08-15", headers=h).json()
    lines = {ln["member_number"]: ln for ln in report["items"]}
    assert lines["DRIVER"]["arrears"] == "700.00"  # his standing: his own and the unit's
    assert lines["DRIVER"]["own_arrears"] == "400.00"
    assert lines["DRIVER"]["through_units"] == [
        {"unit_id": unit["id"], "registration": "A-1", "arrears": "300.00"}
    ]
    assert lines["CONDUCTOR"]["arrears"] == "300.00" and lines["CONDUCTOR"]["own_arrears"] == "0.00"
    # owed in all: 300.00 on the unit, 400.00 of the driver's own, not 1,000.00
    assert report["total"] == "700.00" and report["currency"] == "DOP"
    assert report["total_aging"] == {**ZERO_AGING, "31-60": "400.00", "61-90": "300.00"}

    with unit_of_work(session_factory) as s:
        bind_organisation(s, org.id)
        create_user(s, CLI_ACTOR, username="ana", password=PASSWORD, role="treasurer")
    web = WebClient(client)
    web.get("/web/sign-in")
    r = web.post(
        "/web/sign-in",
        {"organisation": org.code, "username": "ana", "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = web.get("/web/reports/arrears?as_of=2026-08-15").text
    total = re.search(r'scope="row">Total</th><td class="num">([^<]+)</td>', page)
    assert total is not None and "700.00" in total.group(1), page
    assert "A-1" in page
    # the dashboard (today: everything 90+ days late) shows the same 700.00
    dashboard = web.get("/web/").text
    assert "700.00" in dashboard and "1,000.00" not in dashboard
    csv = web.get("/web/reports/arrears?as_of=2026-08-15&format=csv").text
    assert "own_arrears,through_units" in csv and "A-1:300.00" in csv
