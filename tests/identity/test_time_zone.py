"""The organisation's time zone: its day dates entries, reports, statements and imports.

AMUSSOL works in the Dominican Republic (America/Santo_Domingo, UTC-4, no daylight saving):
a receipt taken at 21:00 there is 01:00 UTC the next day, and must land on the local day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from app.core import clock
from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from app.core.errors import ValidationFailed
from app.identity.service import create_organisation
from tests.collections.factories import add_dues, standard_book
from tests.collections.test_receipts_api import receipt
from tests.core.test_cli import run_cli, run_process  # noqa: F401 - fixtures

SANTO_DOMINGO = "America/Santo_Domingo"


def set_zone(client, org, zone: str = SANTO_DOMINGO):  # type: ignore[no-untyped-def]
    r = client.patch("/api/v1/organisation", json={"time_zone": zone}, headers=org.headers("admin"))
    assert r.status_code == 200, r.text
    return r


def effective_on(engine, journal_id: str) -> date:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        value = conn.execute(
            sa.text("SELECT effective_on FROM journal_entry WHERE id = :id"),
            {"id": journal_id.replace("-", "") if engine.dialect.name == "sqlite" else journal_id},
        ).scalar_one()
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# -- the clock itself ----------------------------------------------------------------------------


def test_the_clock_turns_instants_into_the_organisations_days_and_back() -> None:
    at = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)  # 21:00 on 2 November in Santo Domingo
    assert clock.local_date(at, SANTO_DOMINGO) == date(2026, 11, 2)
    assert clock.local_date(at, "UTC") == date(2026, 11, 3)
    start, end = clock.day_bounds(date(2026, 11, 2), SANTO_DOMINGO)
    assert (start, end) == (
        datetime(2026, 11, 2, 4, 0, tzinfo=UTC),
        datetime(2026, 11, 3, 4, 0, tzinfo=UTC),
    )
    # a day with a clock change is 23 hours long; a skipped wall time does not exist
    start, end = clock.day_bounds(date(2026, 3, 8), "America/New_York")
    assert (end - start).total_seconds() == 23 * 3600
    with pytest.raises(clock.NonexistentLocalTime):
        clock.from_local(datetime(2026, 3, 8, 2, 30), "America/New_York")
    assert clock.from_local(datetime(2026, 11, 2, 21, 0), SANTO_DOMINGO) == at
    for bad in ("Mars/Olympus", "", "../etc/passwd", "utc "):
        with pytest.raises(clock.UnknownTimeZone):
            clock.check_zone(bad)


# -- setting it ----------------------------------------------------------------------------------


def test_a_zone_is_given_taken_from_the_country_or_utc(session_factory) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory) as s:
        assert create_organisation(s, code="A1", name="a", currency="DOP").time_zone == "UTC"
    with unit_of_work(session_factory) as s:
        org = create_organisation(s, code="A2", name="a", currency="DOP", country="do")
        assert (org.time_zone, org.country) == (SANTO_DOMINGO, "DO")
    with unit_of_work(session_factory) as s:
        org = create_organisation(
            s, code="A3", name="a", currency="XOF", time_zone="Africa/Dakar", country="SN"
        )
        assert org.time_zone == "Africa/Dakar"
    refusals = [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"country": "US"}, "time_zone"),  # several zones: the zone must be named
        ({"country": "XX"}, "country"),
    ]
    for i, (kw, field) in enumerate(refusals):
        with pytest.raises(ValidationFailed) as caught, unit_of_work(session_factory) as s:
            create_organisation(s, code=f"B{i}", name="b", currency="DOP", **kw)
        assert caught.value.errors and caught.value.errors[0].field == field
    with session_factory() as s:
        codes = set(s.scalars(sa.text("SELECT code FROM organisation")))
    assert codes == {"A1", "A2", "A3"}


def test_get_and_patch_the_organisation(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    for role in ("admin", "treasurer", "collector", "auditor", "fund_office"):
        r = client.get("/api/v1/organisation", headers=org.headers(role))
        assert r.status_code == 200, r.text
        assert r.json() == {
            "code": org.code,
            "name": f"{org.code} test",
            "currency": "DOP",
            "time_zone": "UTC",
            "country": None,
        }
    assert client.get("/api/v1/organisation").status_code == 401
    body = {"time_zone": SANTO_DOMINGO}
    r = client.patch("/api/v1/organisation", json=body, headers=org.headers("treasurer"))
    assert r.status_code == 403
    r = client.patch(
        "/api/v1/organisation", json={"time_zone": "Mars/Olympus"}, headers=org.headers("admin")
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "time_zone"
    assert "Mars/Olympus" in r.json()["detail"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT time_zone FROM organisation")).scalar_one() == "UTC"
    assert set_zone(client, org).json()["time_zone"] == SANTO_DOMINGO
    seen = client.get("/api/v1/organisation", headers=org.headers("collector")).json()
    assert seen["time_zone"] == SANTO_DOMINGO
    with engine.connect() as conn:
        actions = list(
            conn.execute(
                sa.text("SELECT action FROM audit_event WHERE action = 'organisation.time_zone'")
            )
        )
    assert len(actions) == 1


def test_the_cli_takes_a_time_zone_and_refuses_an_unknown_one(run_cli, run_process, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    made = run_cli(
        "orgs", "create", "--code", "AMUSSOL", "--name", "Amussol", "--currency", "DOP",
        "--time-zone", SANTO_DOMINGO,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert SANTO_DOMINGO in made.stdout
    refused = run_process(
        "orgs", "create", "--code", "OTHER", "--name", "Other", "--currency", "DOP",
        "--time-zone", "America/Santo_Domingp",
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().count("\n") == 0, refused.stderr  # one line, no traceback
    assert "unknown time zone 'America/Santo_Domingp'" in refused.stderr
    changed = run_cli("orgs", "set-time-zone", "--org", "AMUSSOL", "America/La_Paz")
    assert changed.exit_code == 0, changed.output
    with engine.connect() as conn:
        rows = list(conn.execute(sa.text("SELECT code, time_zone FROM organisation")))
    assert [tuple(r) for r in rows] == [("AMUSSOL", "America/La_Paz")]


# -- the organisation's day ----------------------------------------------------------------------


def test_a_receipt_at_21_00_lands_on_the_local_day_everywhere(  # type: ignore[no-untyped-def]
    client, org, session_factory, engine
) -> None:
    set_zone(client, org)
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 1, 30000)
    col = org.headers("collector")
    late = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "100.00", received_at="2026-11-02T21:00:00-04:00"),
        headers=col,
    )
    assert late.status_code == 201, late.text
    # the API keeps explicit offsets: as sent, and in UTC when read back
    sent = datetime.fromisoformat(late.json()["received_at"])
    assert sent.utcoffset() is not None and sent == datetime(2026, 11, 3, 1, tzinfo=UTC)
    read = client.get(f"/api/v1/receipts/{late.json()['id']}", headers=col).json()
    assert read["received_at"] in ("2026-11-03T01:00:00Z", "2026-11-03T01:00:00+00:00")
    early = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "50.00", received_at="2026-11-03T04:30:00Z"),
        headers=col,
    )
    assert early.status_code == 201, early.text
    assert effective_on(engine, late.json()["journal_id"]) == date(2026, 11, 2)
    assert effective_on(engine, early.json()["journal_id"]) == date(2026, 11, 3)

    h = org.headers("auditor")
    by_day = client.get("/api/v1/reports/collections?group_by=day", headers=h).json()
    assert [(r["key"], r["receipts"], r["amount"]) for r in by_day["rows"]] == [
        ("2026-11-02", 1, "100.00"),
        ("2026-11-03", 1, "50.00"),
    ]
    one_day = client.get(
        "/api/v1/reports/collections?group_by=collector&from=2026-11-02&to=2026-11-02", headers=h
    ).json()
    assert (one_day["total"], one_day["receipts"]) == ("100.00", 1)
    listed = client.get("/api/v1/receipts?from=2026-11-02&to=2026-11-02", headers=h).json()
    assert [r["id"] for r in listed["items"]] == [late.json()["id"]]

    statement = client.get(f"/api/v1/members/{m1}/statement", headers=h).json()
    days = {ln["receipt_number"]: ln["on"] for ln in statement["lines"] if ln["kind"] == "receipt"}
    assert days == {
        late.json()["receipt_number"]: "2026-11-02",
        early.json()["receipt_number"]: "2026-11-03",
    }
    from_3rd = client.get(f"/api/v1/members/{m1}/statement?from=2026-11-03", headers=h).json()
    assert [ln["kind"] for ln in from_3rd["lines"]][:1] == ["receipt"]
    assert from_3rd["opening_balance"] == "200.00"  # 300.00 due, 100.00 paid on the 2nd


def test_a_sheet_and_an_import_count_the_organisations_day(  # type: ignore[no-untyped-def]
    client, org, session_factory, engine
) -> None:
    set_zone(client, org)
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 1, 30000)
    col = org.headers("collector")
    sheet = client.post(
        "/api/v1/collection-sheets",
        json={
            "collected_on": "2026-11-02",
            "receipts": [
                {
                    "client_id": "phone-1",
                    "member_id": str(m1),
                    "amount": "10.00",
                    "currency": "DOP",
                    "received_at": "2026-11-02T22:15:00-04:00",
                    "channel": "cash",
                }
            ],
        },
        headers=col,
    )
    assert sheet.status_code == 200, sheet.text
    # a date alone in a CSV file is the start of that day of the organisation
    csv = "client_id,member_number,amount,received_at,channel\nrow-1,M-001,20.00,2026-11-04,cash\n"
    imported = client.post(
        "/api/v1/imports/receipts", files={"file": ("r.csv", csv, "text/csv")}, headers=col
    )
    assert imported.status_code == 200, imported.text
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT r.client_id, r.received_at, j.effective_on FROM receipt r "
                "JOIN journal_entry j ON j.organisation_id = r.organisation_id "
                "AND j.id = r.journal_id ORDER BY r.receipt_number"
            )
        ).all()
    got = {
        cid: (
            str(at)[:16].replace("T", " "),
            on if isinstance(on, date) else date.fromisoformat(str(on)),
        )
        for cid, at, on in rows
    }
    assert got == {
        "phone-1": ("2026-11-03 02:15", date(2026, 11, 2)),
        "row-1": ("2026-11-04 04:00", date(2026, 11, 4)),
    }


def test_a_hand_over_at_21_00_is_dated_on_the_local_day(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    set_zone(client, org)
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 1, 30000)
    client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "100.00", received_at="2026-11-02T10:00:00-04:00"),
        headers=org.headers("collector"),
    )
    bank = client.post(
        "/api/v1/accounts",
        json={"code": "BANK:MAIN", "name": "Bank", "type": "asset", "currency": "DOP"},
        headers=org.headers("treasurer"),
    ).json()["id"]
    items = client.get("/api/v1/collectors", headers=org.headers("treasurer")).json()["items"]
    r = client.post(
        "/api/v1/handovers",
        json={
            "collector_id": items[0]["id"],
            "amount": "100.00",
            "counted_amount": "100.00",
            "currency": "DOP",
            "to_account_id": bank,
            "handed_over_at": "2026-11-02T21:00:00-04:00",
            "reference": "evening cash",
        },
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 201, r.text
    assert effective_on(engine, r.json()["journal_id"]) == date(2026, 11, 2)


def test_an_instant_without_an_offset_is_refused_naming_the_field(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    set_zone(client, org)
    book = standard_book(session_factory, org)
    r = client.post(
        "/api/v1/receipts",
        json=receipt(
            {"member_id": str(book.members["M-001"])}, "10.00", received_at="2026-11-02T21:00:00"
        ),
        headers=org.headers("collector"),
    )
    assert r.status_code == 422
    assert "received_at" in r.text
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM receipt")).scalar_one() == 0


def test_an_organisation_keeps_its_zone_through_a_session_without_a_caller(  # type: ignore[no-untyped-def]
    session_factory,
) -> None:
    """CLI commands and jobs read the zone once from the organisation row."""
    with unit_of_work(session_factory) as s:
        org = create_organisation(s, code="DR", name="dr", currency="DOP", time_zone=SANTO_DOMINGO)
    with unit_of_work(session_factory, org.id) as s:
        assert clock.session_zone(s) == SANTO_DOMINGO
        from app.identity.service import set_time_zone

        set_time_zone(s, CLI_ACTOR, s.get(type(org), org.id), "UTC")  # type: ignore[arg-type]
        assert clock.session_zone(s) == "UTC"


def a_zone_where_today_is_not_utc_today() -> str:
    """UTC-12 before noon UTC (still yesterday there), UTC+14 after (already tomorrow)."""
    return "Etc/GMT+12" if datetime.now(UTC).hour < 11 else "Pacific/Kiritimati"


def test_a_reversal_without_a_date_is_dated_the_organisations_today(  # type: ignore[no-untyped-def]
    client, org, session_factory, engine
) -> None:
    zone = a_zone_where_today_is_not_utc_today()
    set_zone(client, org, zone)
    book = standard_book(session_factory, org)
    m1 = book.members["M-001"]
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 1, 30000)
    posted = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(m1)}, "100.00", received_at="2026-11-02T10:00:00Z"),
        headers=org.headers("collector"),
    ).json()
    before = clock.today(zone)
    r = client.post(
        f"/api/v1/receipts/{posted['id']}/reverse",
        json={"reason": "bounced"},
        headers=org.headers("treasurer"),
    )
    assert r.status_code in (200, 201), r.text
    after = clock.today(zone)
    assert before != datetime.now(UTC).date() or after != datetime.now(UTC).date()
    reversal = r.json()["reversal"]["journal_id"]
    assert effective_on(engine, reversal) in (before, after)
