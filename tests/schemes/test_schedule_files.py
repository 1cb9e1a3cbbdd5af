"""Schedule files: the shipped examples load; bad files get every error with its field path,
over the API and on the command line; versions are immutable and effective-dated."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core.settings import get_settings
from tests.schemes.books import (
    SCHEDULES,
    TRANSPORT_FUNDS,
    count,
    load_file,
    load_scheme,
    make_funds,
)

SHIPPED = {
    "transport-daily.yaml": ("DOP", TRANSPORT_FUNDS, "daily_per_unit", 2),
    "harvest.yaml": ("CRC", ("CCSS",), "per_harvest", 1),
    "harvest-quarterly.yaml": ("CRC", ("CCSS",), "per_harvest", 1),
    "monthly.yaml": ("XOF", ("CNSS", "MUTUELLE"), "monthly", 1),
    "monthly-fixed.yaml": ("KES", ("NHIF", "NSSF"), "monthly", 1),
}

BROKEN = """\
code: broken
name: A file with many mistakes
kind: monthly
currency: DOP
colour: blue
versions:
  - effective_from: 2026-01-01
    amount: "300.001"
    rest_days: [sunday]
    grace_days: 30
    fee: {percent: 5.5}
    split:
      - {fund: PENSION, percent: "60"}
      - {fund: HEALTH, percent: "30"}
  - effective_from: 2025-12-01
    amount: {percent_of_income: "5.5", minimum: "500.00", maximum: "100.00"}
    due_day: 31
    split:
      - {fund: NOSUCH, percent: "100"}
"""


def test_every_shipped_schedule_loads(client, make_org) -> None:  # type: ignore[no-untyped-def]
    assert sorted(p.name for p in SCHEDULES.glob("*.yaml")) == sorted(SHIPPED)
    kinds = set()
    for i, (name, (currency, funds, kind, versions)) in enumerate(SHIPPED.items()):
        org = make_org(f"ORG{i}", currency)
        make_funds(client, org, *funds)
        loaded = load_file(client, org, name)
        assert loaded["created"] is True and loaded["kind"] == kind
        assert loaded["added_versions"] == list(range(1, versions + 1))
        assert loaded["currency"] == currency
        kinds.add(kind)
        again = client.get(f"/api/v1/schemes/{loaded['code']}", headers=org.headers("collector"))
        assert again.status_code == 200 and len(again.json()["versions"]) == versions
    assert kinds == {"daily_per_unit", "per_harvest", "monthly"}


def test_rules_are_stored_in_the_files_words(client, org) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, *TRANSPORT_FUNDS)
    loaded = load_file(client, org, "transport-daily.yaml")
    v1 = loaded["versions"][0]
    assert v1["version"] == 1 and v1["effective_from"] == "2026-01-01"
    assert v1["rules"] == {
        "effective_from": "2026-01-01",
        "amount": "50.00",
        "rest_days": ["sunday"],
        "due_after_days": 0,
        "grace_days": 30,
        "fee": {"percent": "5"},
        "split": [
            {"fund": "PENSION", "percent": "60"},
            {"fund": "HEALTH", "percent": "35"},
            {"fund": "ACCIDENT", "percent": "5"},
        ],
        "penalty": {"percent_per_month": "1", "after_days": 30},
    }


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_cli_check_passes_every_shipped_file_without_a_database(
    name, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # no database at all: the URL points at a directory that does not exist
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/absent/x.db")
    result = CliRunner().invoke(cli, ["schemes", "check", str(SCHEDULES / name)])
    assert result.exit_code == 0, result.output
    assert ": ok: scheme " in result.output


def _broken_errors() -> dict[str, str]:
    return {
        "colour": "unknown field (expected one of: code, name, kind, currency, versions)",
        "versions[0].fee.percent": 'a percent is a quoted decimal string such as "5.5"',
        "versions[1].grace_days": "required field is missing",
        "versions[1].due_day": "Input should be less than or equal to 28",
    }


def test_a_broken_file_reports_every_error_over_the_api(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, "PENSION", "HEALTH")
    r = client.post(
        "/api/v1/schemes",
        content=BROKEN.encode(),
        headers=org.headers("treasurer", **{"Content-Type": "application/yaml"}),
    )
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    for field, message in _broken_errors().items():
        assert errors[field] == message, (field, errors)
    assert "versions[0].split" in errors and "sum to 90" in errors["versions[0].split"]
    assert r.json()["detail"].startswith("request body: ")
    assert count(engine, "scheme") == 0 and count(engine, "scheme_version") == 0

    # with the structure right, the meaning is checked: every error, with its path
    fixed = (
        BROKEN.replace("colour: blue\n", "")
        .replace("{percent: 5.5}", '{percent: "5.5"}')
        .replace("due_day: 31", "due_day: 10\n    grace_days: 0")
        .replace('"30"}\n  - effective', '"40"}\n  - effective')
    )
    r = client.post("/api/v1/schemes", content=fixed.encode(), headers=org.headers("treasurer"))
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert errors == {
        "versions[0].amount": "DOP allows at most 2 decimals",
        "versions[0].rest_days": "not used by a monthly scheme (only daily_per_unit)",
        "versions[0].due_day": "required for a monthly scheme",
        "versions[1].amount.maximum": "must not be less than minimum",
        "versions[1].effective_from": "must be after versions[0].effective_from (2026-01-01): "
        "versions are listed in date order",
        "versions[1].split[0].fund": "no fund NOSUCH in this organisation (funds: HEALTH, PENSION)",
    }
    assert count(engine, "scheme") == 0


def test_a_broken_file_reports_every_error_on_the_command_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = CliRunner().invoke(cli, ["schemes", "check", str(path)])
    assert result.exit_code == 1
    for field, message in _broken_errors().items():
        assert f"{path}: {field}: {message}" in result.output
    assert "Traceback" not in result.output

    path.write_text("code: x\nversions: [\n  - {")
    result = CliRunner().invoke(cli, ["schemes", "check", str(path)])
    assert result.exit_code == 1 and f"{path}: line 3, column" in result.output
    assert "not valid YAML" in result.output

    result = CliRunner().invoke(cli, ["schemes", "check", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1 and "no such file" in result.output


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            ('"50.00"', "50.5"),
            "versions[0].amount",
            'an amount is a quoted decimal string such as "50.00"',
        ),
        (('"50.00"', '"0.00"'), "versions[0].amount", "must be greater than zero"),
        (('"50.00"', '"1000000001.00"'), "versions[0].amount", "at most 1000000000.00 DOP"),
        (
            ("kind: daily_per_unit", "kind: hourly"),
            "kind",
            "Input should be 'daily_per_unit', 'per_harvest' or 'monthly'",
        ),
        (
            ("currency: DOP", "currency: XXX"),
            "currency",
            "'XXX' is not a currency this service supports",
        ),
        (
            ("[sunday]", "[sundae]"),
            "versions[0].rest_days[0]",
            "a weekday name: monday, tuesday, wednesday, thursday, friday, saturday, sunday",
        ),
        (
            ('percent: "5"}', 'percent: "100"}'),
            "versions[0].fee.percent",
            "the fee must be less than 100 percent",
        ),
        (
            ('percent: "60"', 'percent: "60.00001"'),
            "versions[0].split[0].percent",
            '\'60.00001\' is not a percent such as "5" or "5.5" (at most 4 decimals)',
        ),
        (("fund: HEALTH", "fund: PENSION"), "versions[0].split[1].fund", "PENSION is named twice"),
        (
            ('"50.00"', '{percent_of_income: "5"}'),
            "versions[0].amount",
            'a daily_per_unit scheme has a fixed amount such as "50.00"',
        ),
        (
            ("due_after_days: 0", "due_day: 3"),
            "versions[0].due_day",
            "not used by a daily_per_unit scheme (only monthly)",
        ),
    ],
)
def test_each_mistake_names_its_field(change, field, message, tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = (SCHEDULES / "transport-daily.yaml").read_text()
    old, new = change
    assert old in text
    path = tmp_path / "one.yaml"
    path.write_text(text.replace(old, new, 1))
    result = CliRunner().invoke(cli, ["schemes", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert f"{path}: {field}: {message}" in result.output, result.output


def test_cli_check_with_org_checks_funds_and_currency(
    tmp_path, monkeypatch, session_factory, db_url, make_org, backend
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", db_url)

    get_settings.cache_clear() if hasattr(get_settings, "cache_clear") else None
    make_org("XOFORG", "XOF")
    result = CliRunner().invoke(
        cli, ["schemes", "check", str(SCHEDULES / "transport-daily.yaml"), "--org", "XOFORG"]
    )
    assert result.exit_code == 1
    assert "versions[0].split[0].fund: no fund PENSION in this organisation" in result.output


VERSION_2 = """
  - effective_from: {day}
    amount: "60.00"
    rest_days: [sunday]
    grace_days: 30
    split: [{{fund: PENSION, percent: "100"}}]
"""


def test_versions_are_immutable_and_effective_dated(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    from tests.schemes.books import add_unit, enrol, generate

    make_funds(client, org, *TRANSPORT_FUNDS)
    text = (SCHEDULES / "transport-daily.yaml").read_text()
    load_scheme(client, org, text)
    again = load_scheme(client, org, text, expect=200)
    assert again["created"] is False and again["added_versions"] == []
    assert count(engine, "scheme_version") == 2

    # a loaded version may not change
    changed = text.replace('amount: "55.00"', 'amount: "56.00"')
    r = client.post("/api/v1/schemes", content=changed.encode(), headers=org.headers("treasurer"))
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "versions[1]"
    assert "versions never change" in r.json()["errors"][0]["message"]

    # a new version after the last: added as version 3, the old ones untouched
    added = load_scheme(client, org, text + VERSION_2.format(day="2027-01-01"))
    assert added["added_versions"] == [3]
    assert [v["rules"]["amount"] for v in added["versions"]] == ["50.00", "55.00", "60.00"]

    # once dues exist through a date, a new version must start after it
    unit = add_unit(client, org, "A-1")
    enrol(client, org, unit_id=unit["id"], scheme_code="transport-daily", starts_on="2027-01-01")
    generate(client, org, "2027-02-10")
    late = text + VERSION_2.format(day="2027-01-01") + VERSION_2.format(day="2027-02-01")
    r = client.post("/api/v1/schemes", content=late.encode(), headers=org.headers("treasurer"))
    assert r.status_code == 409
    assert [{k: e[k] for k in ("field", "message")} for e in r.json()["errors"]] == [
        {
            "field": "versions[3].effective_from",
            "message": "dues of transport-daily exist through 2027-02-10; a new version must be "
            "effective after that, so that it never rewrites an old due",
        }
    ]
    assert count(engine, "scheme_version") == 3

    # the scheme's kind never changes
    r = client.post(
        "/api/v1/schemes",
        content=text.replace("kind: daily_per_unit", "kind: monthly").encode(),
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 422


def test_json_bodies_roles_and_tenancy(client, make_org) -> None:  # type: ignore[no-untyped-def]
    a, b = make_org("COOPA"), make_org("COOPB")
    make_funds(client, a, "PENSION")
    body = {
        "code": "monthly-dop",
        "name": "Monthly in pesos",
        "kind": "monthly",
        "currency": "DOP",
        "versions": [
            {
                "effective_from": "2026-01-01",
                "amount": "300.00",
                "due_day": 5,
                "grace_days": 30,
                "split": [{"fund": "PENSION", "percent": "100"}],
            }
        ],
    }
    for role in ("collector", "auditor", "fund_office"):
        assert client.post("/api/v1/schemes", json=body, headers=a.headers(role)).status_code == 403
    r = client.post("/api/v1/schemes", json=body, headers=a.headers("admin"))
    assert r.status_code == 201, r.text
    assert client.get("/api/v1/schemes", headers=a.headers("fund_office")).status_code == 403
    listed = client.get("/api/v1/schemes", headers=a.headers("collector")).json()
    assert [s["code"] for s in listed["items"]] == ["monthly-dop"]
    assert client.get("/api/v1/schemes/monthly-dop", headers=b.headers("admin")).status_code == 404
    assert client.get("/api/v1/schemes", headers=b.headers("admin")).json()["items"] == []
    # B has no PENSION fund: its load fails naming the fund
    r = client.post("/api/v1/schemes", json=body, headers=b.headers("admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "versions[0].split[0].fund"


def test_cli_load_adds_versions_once(client, make_org, cli_db, tmp_path, engine) -> None:  # type: ignore[no-untyped-def]
    org = make_org("AMUSSOL")
    path = str(SCHEDULES / "transport-daily.yaml")
    # the funds must exist first: the error names the field and the fund
    result = CliRunner().invoke(cli, ["schemes", "load", path, "--org", "AMUSSOL"])
    assert result.exit_code == 1
    assert (
        f"{path}: versions[0].split[0].fund: no fund PENSION in this organisation" in result.output
    )
    make_funds(client, org, *TRANSPORT_FUNDS)
    result = CliRunner().invoke(cli, ["schemes", "load", path, "--org", "AMUSSOL"])
    assert result.exit_code == 0, result.output
    assert "scheme transport-daily created in AMUSSOL with version(s) 1, 2" in result.output
    again = CliRunner().invoke(cli, ["schemes", "load", path, "--org", "AMUSSOL"])
    assert again.exit_code == 0 and "nothing new" in again.output
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        (SCHEDULES / "transport-daily.yaml").read_text().replace('"55.00"', '"56.00"')
    )
    refused = CliRunner().invoke(cli, ["schemes", "load", str(changed), "--org", "AMUSSOL"])
    assert refused.exit_code == 1 and f"{changed}: versions[1]: version 2" in refused.output
    assert count(engine, "scheme_version") == 2
    # the installed command, as an admin runs it: an unknown organisation is a clear error
    unknown = subprocess.run(
        [sys.executable, "-m", "app.cli", "schemes", "load", path, "--org", "NOPE"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": cli_db},
        check=False,
    )
    assert unknown.returncode == 2 and "error: no organisation NOPE" in unknown.stderr
    assert "Traceback" not in unknown.stderr
