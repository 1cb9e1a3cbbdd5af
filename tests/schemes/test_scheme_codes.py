"""Schemes, schedule files, enrolments, harvests and quotes refuse with a stable code and its
parameters (problem+json `code`, `params`; each field error its own), the English unchanged."""

from __future__ import annotations

import uuid
from typing import Any

from tests.schemes.books import add_member, add_unit, enrol, load_file, make_funds
from tests.schemes.test_schedule_files import BROKEN


def _codes(body: dict[str, Any]) -> dict[str, tuple[str, dict[str, str]]]:
    return {e["field"]: (e["code"], e.get("params", {})) for e in body["errors"]}


def test_each_mistake_of_a_schedule_file_has_its_code(client, org) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, "PENSION", "HEALTH")
    r = client.post(
        "/api/v1/schemes",
        content=BROKEN.encode(),
        headers=org.headers("treasurer", **{"Content-Type": "application/yaml"}),
    )
    assert r.status_code == 422, r.text
    body = r.json()
    codes = _codes(body)
    assert codes["colour"] == (
        "schedule.unknown_field_of",
        {"fields": "code, name, kind, currency, versions"},
    )
    assert codes["versions[0].fee.percent"] == ("schedule.percent_not_text", {})
    assert codes["versions[1].grace_days"] == ("schedule.field_missing", {})
    assert codes["versions[1].due_day"] == ("field.less_than_equal", {"le": "28"})
    first = body["errors"][0]
    assert body["code"] == first["code"]  # the problem's code is its first mistake's
    more = len(body["errors"]) - 1
    assert body["detail"] == (
        f"request body: {first['field']}: {first['message']} (and {more} more errors)"
    )

    fixed = (
        BROKEN.replace("colour: blue\n", "")
        .replace("{percent: 5.5}", '{percent: "5.5"}')
        .replace("due_day: 31", "due_day: 10\n    grace_days: 0")
        .replace('"30"}\n  - effective', '"40"}\n  - effective')
    )
    r = client.post("/api/v1/schemes", content=fixed.encode(), headers=org.headers("treasurer"))
    assert r.status_code == 422, r.text
    assert _codes(r.json()) == {
        "versions[0].amount": ("money.too_many_decimals", {"currency": "DOP", "count": "2"}),
        "versions[0].rest_days": (
            "schedule.field_not_used",
            {"kind": "monthly", "kinds": "daily_per_unit"},
        ),
        "versions[0].due_day": ("schedule.field_required", {"kind": "monthly"}),
        "versions[1].amount.maximum": ("schedule.maximum_below_minimum", {}),
        "versions[1].effective_from": (
            "schedule.versions_out_of_order",
            {"index": "0", "day": "2026-01-01"},
        ),
        "versions[1].split[0].fund": (
            "schedule.no_fund",
            {"fund": "NOSUCH", "funds": "HEALTH, PENSION"},
        ),
    }


def test_a_percent_refused_by_the_files_validator_keeps_its_code(client, org) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, "PENSION", "HEALTH")
    bad = (
        BROKEN.replace("colour: blue\n", "")
        .replace("{percent: 5.5}", '{percent: "5.55555"}')
        .replace("rest_days: [sunday]", "rest_days: [someday]")
    )
    r = client.post("/api/v1/schemes", content=bad.encode(), headers=org.headers("treasurer"))
    assert r.status_code == 422, r.text
    codes = _codes(r.json())
    assert codes["versions[0].fee.percent"] == (
        "schedule.not_a_percent",
        {"text": "'5.55555'", "count": "4"},
    )
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert errors["versions[0].fee.percent"] == (
        '\'5.55555\' is not a percent such as "5" or "5.5" (at most 4 decimals)'
    )
    assert codes["versions[0].rest_days[0]"][0] == "schedule.not_a_weekday"
    assert errors["versions[0].rest_days[0]"] == (
        "a weekday name: monday, tuesday, wednesday, thursday, friday, saturday, sunday"
    )


def test_enrolment_refusals_say_the_scheme_kind_and_dates_as_parameters(client, make_org) -> None:  # type: ignore[no-untyped-def]
    org = make_org("VENDORS", "KES")
    make_funds(client, org, "NHIF", "NSSF")
    load_file(client, org, "monthly-fixed.yaml")
    member = add_member(client, org, "M-1")
    unit = add_unit(client, org, "KBX 123")
    headers = org.headers("treasurer")

    r = client.post(
        "/api/v1/enrolments",
        json={"unit_id": unit["id"], "scheme_code": "monthly-fixed", "starts_on": "2026-02-01"},
        headers=headers,
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "enrolment.scheme_enrols_members"
    assert body["params"] == {"scheme": "monthly-fixed", "kind": "monthly"}
    assert body["detail"] == "member_id: monthly-fixed is monthly: it enrols members"

    both = {"member_id": member["id"], "unit_id": unit["id"]}
    r = client.post(
        "/api/v1/enrolments",
        json={**both, "scheme_code": "monthly-fixed", "starts_on": "2026-02-01"},
        headers=headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "enrolment.one_subject"

    first = enrol(
        client, org, member_id=member["id"], scheme_code="monthly-fixed", starts_on="2026-02-01"
    )
    r = client.post(
        "/api/v1/enrolments",
        json={"member_id": member["id"], "scheme_code": "monthly-fixed", "starts_on": "2026-05-01"},
        headers=headers,
    )
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "enrolment.overlaps"
    assert r.json()["params"] == {
        "scheme": "monthly-fixed",
        "start": "2026-02-01",
        "id": first["id"],
    }

    r = client.post(
        "/api/v1/harvests",
        json={
            "member_id": member["id"],
            "scheme_code": "monthly-fixed",
            "harvested_on": "2026-03-01",
        },
        headers=headers,
    )
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["params"]) == (
        "harvest.scheme_not_per_harvest",
        {"scheme": "monthly-fixed", "kind": "monthly"},
    )

    missing = uuid.uuid4()
    r = client.get(f"/api/v1/enrolments/{missing}", headers=headers)
    assert (r.status_code, r.json()["code"]) == (404, "enrolment.not_found")
    assert r.json()["params"] == {"id": str(missing)}
    r = client.get("/api/v1/schemes/nope", headers=headers)
    assert (r.json()["code"], r.json()["params"]) == ("scheme.not_found", {"code": "nope"})


def test_a_quote_and_a_harvest_missing_the_declared_value_say_which(client, make_org) -> None:  # type: ignore[no-untyped-def]
    org = make_org("COOPEAGRI", "CRC")
    make_funds(client, org, "CCSS")
    load_file(client, org, "harvest.yaml")
    member = add_member(client, org, "F-1")
    enrol(client, org, member_id=member["id"], scheme_code="harvest", starts_on="2026-01-01")
    headers = org.headers("treasurer")
    r = client.get("/api/v1/schemes/harvest/quote", headers=headers)
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["params"]) == (
        "quote.expected_value_missing",
        {"scheme": "harvest"},
    )
    r = client.get(
        "/api/v1/schemes/harvest/quote", params={"declared_income": "1e9"}, headers=headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "declared_income"
    assert r.json()["code"] == "money.not_decimal"
    harvest = {"member_id": member["id"], "scheme_code": "harvest", "harvested_on": "2026-03-01"}
    r = client.post("/api/v1/harvests", json=harvest, headers=headers)
    assert (r.json()["code"], r.json()["errors"][0]["field"]) == (
        "harvest.declared_value_missing",
        "declared_value",
    )
    r = client.post("/api/v1/harvests", json={**harvest, "declared_value": "0"}, headers=headers)
    assert r.json()["code"] == "field.not_positive"
    r = client.post(
        "/api/v1/harvests", json={**harvest, "declared_value": "10000000000"}, headers=headers
    )
    assert (r.json()["code"], r.json()["params"]) == (
        "scheme.amount_too_large",
        {"amount": "1000000000.00"},
    )
    assert r.json()["detail"] == "declared_value: at most 1000000000.00"
