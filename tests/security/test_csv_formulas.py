"""Exported CSVs cannot run as spreadsheet formulas: the fund's batch file and the reports.

A member may be named `=cmd|' /C calc'!A0` or `+SUM(A1)` (names are taken exactly as sent,
see test_hostile_input); whatever CSV the service writes puts an apostrophe in front of such
a cell (`app.core.csvsafe.safe_cell`), and leaves numbers, negative amounts included, alone.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from app.core.csvsafe import safe_cell
from tests.remittances.factories import make_fund, make_member, owe

DDE = "=cmd|' /C calc'!A0"
SUM = "+SUM(A1)"
NOV = (date(2026, 11, 1), date(2026, 11, 30))


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        (DDE, "'" + DDE),
        (SUM, "'" + SUM),
        ("-2+3", "'-2+3"),
        ('@HYPERLINK("http://x")', '\'@HYPERLINK("http://x")'),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-12.50", "-12.50"),  # a negative amount stays a number
        ("-12.50\n=1", "'-12.50\n=1"),  # not a number: the whole text must be one
        ("150.00", "150.00"),
        ("Ana = Pérez", "Ana = Pérez"),  # only the first character matters
        (None, ""),
        (7, "7"),
    ],
)
def test_safe_cell(cell, written) -> None:  # type: ignore[no-untyped-def]
    assert safe_cell(cell) == written


def _rows(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_fund_batch_csv_neutralises_names_and_keeps_its_layout_and_totals(
    client, org, books, delimiter: str
) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        fund = make_fund(s, "CNSS", config={"delimiter": delimiter})
        dde = make_member(s, "M-001", affiliations={"CNSS": "@SS-1"}, name=DDE)
        plus = make_member(s, "M-002", affiliations={"CNSS": "-7"}, name=SUM)
        plain = make_member(s, "M-003", name="Ana Pérez")
        owe(s, dde, fund, 60000, *NOV)
        owe(s, plus, fund, 30000, *NOV)
        owe(s, plain, fund, 12345, *NOV)
    h = org.headers("treasurer")
    r = client.post(
        "/api/v1/remittances", json={"fund_code": "CNSS", "through": "2026-11-30"}, headers=h
    )
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    assert client.post(f"/api/v1/remittances/{bid}/seal", headers=h).status_code == 200
    got = client.get(f"/api/v1/remittances/{bid}/file?format=csv", headers=h)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = _rows(got.text, delimiter)
    # the documented layout: header, column names, one LINE per member, trailer
    assert rows[0][:5] == ["HEADER", "RB000001", org.code, "CNSS", "DOP"]
    assert rows[1] == [
        "record",
        "end_to_end_id",
        "member_number",
        "affiliation_number",
        "full_name",
        "national_id",
        "period_start",
        "period_end",
        "amount",
    ]
    lines = {row[2]: row for row in rows[2:-1]}
    assert [row[0] for row in rows[2:-1]] == ["LINE"] * 3
    assert lines["M-001"][3:5] == ["'@SS-1", "'" + DDE]
    assert lines["M-002"][3:5] == ["-7", "'" + SUM]  # a number stays a number
    assert lines["M-003"][4] == "Ana Pérez"
    # amounts are numbers, untouched, and the trailer's control sum is their sum
    amounts = sorted(row[8] for row in rows[2:-1])
    assert amounts == ["123.45", "300.00", "600.00"]
    assert rows[-1] == ["TRAILER", "3", "1023.45"]
    # no cell of the whole file starts a formula
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), row
            assert not cell.startswith("-") or cell.replace(".", "").lstrip("-").isdigit(), row


def test_affiliation_csv_neutralises_names(client, org, books) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        make_fund(s, "FUND")
        ids = [str(make_member(s, "M-1", name=DDE).id), str(make_member(s, "M-2", name=SUM).id)]
    h = org.headers("treasurer")
    r = client.post(
        "/api/v1/affiliations", json={"fund_code": "FUND", "member_ids": ids}, headers=h
    )
    assert r.status_code == 201, r.text
    text = client.get(f"/api/v1/affiliations/{r.json()['id']}/file?format=csv", headers=h).text
    rows = _rows(text)
    assert sorted(row[4] for row in rows[2:-1]) == sorted(["'" + DDE, "'" + SUM])
    assert rows[-1] == ["TRAILER", "2"]


def test_report_csv_neutralises_member_names(web, web_org, session_factory) -> None:  # type: ignore[no-untyped-def]
    from app.core.database import unit_of_work
    from app.members.models import Member
    from tests.web.book import make_book

    book = make_book(session_factory, web_org.id)
    with unit_of_work(session_factory, web_org.id) as s:
        for number, name in (("M-0001", DDE), ("M-0002", SUM)):
            member = s.get(Member, (web_org.id, book.members[number]))
            assert member is not None
            member.full_name = name
    web.sign_in(web_org)
    got = web.c.get("/web/reports/arrears?format=csv")
    assert got.status_code == 200, got.text
    rows = _rows(got.text.lstrip("\ufeff"))
    names = {row[0]: row[1] for row in rows[1:]}
    assert names == {"M-0001": "'" + DDE, "M-0002": "'" + SUM}
    for row in rows[1:]:
        assert all(not c.startswith(("=", "+", "@")) for c in row), row
