"""One fund affiliation number, one member (issue 11): two people's contributions must never
reach one fund account. Wherever a number is set (members API create and update, member CSV
import, the fund's answer to an affiliation batch, the web member form) a number another
member holds at that fund is refused, naming the holder, and nothing is written; the database
refuses it too (unique constraint of migration 0011)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.core.database import unit_of_work
from app.funds.models import Fund
from app.members.models import MemberAffiliation
from tests.members.test_member_import import upload
from tests.remittances.fund_server import serve_fund  # noqa: F401 - the fund_server fixture
from tests.schemes.books import add_member, count, make_funds
from tests.web.conftest import make_web_org  # noqa: F401 - the fixture, for the web form

TAKEN = "/problems/affiliation-number-taken"


def _problem(r, field: str, holder: str) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"].endswith(TAKEN), body
    assert f"held by member {holder}" in body["detail"], body
    assert [(e["field"], e["holder"]) for e in body["errors"]] == [(field, holder)], body
    assert body["code"] == "affiliation.number_taken", body
    assert body["params"]["holder"] == holder and body["errors"][0]["code"] == body["code"]


def test_create_and_update_refuse_a_number_another_member_holds(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, "PENSION", "HEALTH")
    ana = add_member(client, org, "M-0001", affiliations={"PENSION": "SS-1"})
    h = org.headers("treasurer")
    members, accounts = count(engine, "member"), count(engine, "account")

    r = client.post(
        "/api/v1/members",
        json={
            "member_number": "M-0002",
            "full_name": "Luis",
            "joined_on": "2026-01-01",
            "affiliations": {"PENSION": " SS-1 "},  # the number as stored: trimmed
        },
        headers=h,
    )
    _problem(r, "affiliations.PENSION", "M-0001")
    assert (count(engine, "member"), count(engine, "account")) == (members, accounts)

    # the same number at another fund is another fund's account: allowed
    luis = add_member(client, org, "M-0002", affiliations={"HEALTH": "SS-1"})
    r = client.patch(
        f"/api/v1/members/{luis['id']}", json={"affiliations": {"PENSION": "SS-1"}}, headers=h
    )
    _problem(r, "affiliations.PENSION", "M-0001")
    assert client.get(f"/api/v1/members/{luis['id']}", headers=h).json()["affiliations"] == {
        "HEALTH": "SS-1"
    }
    # the holder may send its own number again; once it lets the number go, it is free
    again = client.patch(
        f"/api/v1/members/{ana['id']}", json={"affiliations": {"PENSION": "SS-1"}}, headers=h
    )
    assert again.status_code == 200, again.text
    freed = client.patch(
        f"/api/v1/members/{ana['id']}", json={"affiliations": {"PENSION": "SS-9"}}, headers=h
    )
    assert freed.status_code == 200, freed.text
    took = client.patch(
        f"/api/v1/members/{luis['id']}", json={"affiliations": {"PENSION": "SS-1"}}, headers=h
    )
    assert took.status_code == 200 and took.json()["affiliations"]["PENSION"] == "SS-1"
    assert count(engine, "member_affiliation", "affiliation_number = 'SS-1'") == 2  # 2 funds


def test_the_import_rejects_a_row_whose_number_is_held(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, "PENSION")
    add_member(client, org, "M-EXIST", affiliations={"PENSION": "SS-1"})
    content = (
        "member_number,full_name,joined_on,affiliation:PENSION\n"
        "M-001,Ana,2026-01-05,SS-1\n"  # held by M-EXIST
        "M-002,Luis,2026-01-05,SS-2\n"
        "M-003,Rosa,2026-01-05,SS-2\n"  # taken by the row above
        "M-004,José,2026-01-05,SS-4\n"
    )
    for dry_run in (True, False):
        r = upload(client, org, content, dry_run=dry_run)
        assert r.status_code == 200, r.text
        rows = {row["member_number"]: row for row in r.json()["results"]}
        assert rows["M-001"]["status"] == rows["M-003"]["status"] == "rejected"
        assert rows["M-001"]["errors"] == [
            {
                "field": "affiliation:PENSION",
                "message": "affiliation number SS-1 at PENSION is held by member M-EXIST",
                "code": "affiliation.number_taken",
                "params": {"number": "SS-1", "fund": "PENSION", "holder": "M-EXIST"},
                "holder": "M-EXIST",
            }
        ]
        assert "held by member M-002" in rows["M-003"]["errors"][0]["message"]
        assert (
            rows["M-002"]["status"]
            == rows["M-004"]["status"]
            == ("valid" if dry_run else "created")
        )
    assert count(engine, "member") == 3
    assert count(engine, "member_affiliation", "affiliation_number = 'SS-1'") == 1
    assert count(engine, "member_affiliation", "affiliation_number = 'SS-2'") == 1


def _affiliation_batch(client, h, fund: str, ids: list[str]) -> str:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/affiliations", json={"fund_code": fund, "member_ids": ids}, headers=h)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_the_funds_answer_may_not_give_a_held_number(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, "PENSION")
    add_member(client, org, "M-0001", affiliations={"PENSION": "SS-1"})
    ids = [add_member(client, org, f"M-000{n}")["id"] for n in (2, 3)]
    h = org.headers("treasurer")
    bid = _affiliation_batch(client, h, "PENSION", ids)
    url = f"/api/v1/affiliations/{bid}/acknowledgement"
    held = [{"member_id": ids[0], "status": "accepted", "affiliation_number": "SS-1"}]
    _problem(
        client.post(url, json={"lines": held}, headers=h), "lines.0.affiliation_number", "M-0001"
    )
    twice = [
        {"member_id": ids[0], "status": "accepted", "affiliation_number": "SS-7"},
        {"member_id": ids[1], "status": "accepted", "affiliation_number": "SS-7"},
    ]
    _problem(
        client.post(url, json={"lines": twice}, headers=h), "lines.1.affiliation_number", "M-0002"
    )
    assert count(engine, "member_affiliation") == 1
    assert count(engine, "affiliation_line", "status = 'pending'") == 2
    good = [
        {"member_id": ids[0], "status": "accepted", "affiliation_number": "SS-2"},
        {"member_id": ids[1], "status": "accepted", "affiliation_number": "SS-3"},
    ]
    r = client.post(url, json={"lines": good}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "acknowledged", r.text
    assert count(engine, "member_affiliation") == 3


def test_the_database_refuses_a_second_holder(org, client, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, "PENSION")
    ana = add_member(client, org, "M-0001", affiliations={"PENSION": "SS-1"})
    luis = add_member(client, org, "M-0002")
    assert ana["id"] != luis["id"]
    with pytest.raises(sa.exc.IntegrityError), unit_of_work(session_factory, org.id) as s:
        fund_id = s.scalar(sa.select(Fund.id).where(Fund.code == "PENSION"))
        s.add(
            MemberAffiliation(
                member_id=uuid.UUID(luis["id"]), fund_id=fund_id, affiliation_number="SS-1"
            )
        )
        s.flush()
    assert count(engine, "member_affiliation") == 1


def test_the_web_member_form_names_the_holder(client, request, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    from app.core.audit import CLI_ACTOR
    from app.members.schemas import MemberCreate
    from app.members.service import create_member
    from tests.remittances.factories import make_fund
    from tests.web.conftest import WebClient
    from tests.web.test_pages import field_errors, form_key

    web_org = request.getfixturevalue("make_web_org")()
    with unit_of_work(session_factory, web_org.id) as s:
        make_fund(s, "PENSION")
        create_member(
            s,
            CLI_ACTOR,
            MemberCreate(
                member_number="M-0001",
                full_name="Ana",
                joined_on="2026-01-01",  # type: ignore[arg-type]
                affiliations={"PENSION": "SS-1"},
            ),
        )
    web = WebClient(client)
    web.sign_in(web_org)
    page = web.get("/web/members/new")
    r = web.post(
        "/web/members/new",
        {
            "form_key": form_key(page),
            "member_number": "M-0002",
            "full_name": "Luis",
            "joined_on": "2026-02-01",
            "status": "active",
            "affiliation:PENSION": "SS-1",
        },
    )
    assert r.status_code == 422, r.text
    assert "held by member M-0001" in field_errors(r)["affiliation:PENSION"]
    assert count(engine, "member") == 1


def test_a_held_number_in_the_funds_pushed_answer_leaves_the_line_pending(
    client, org, session_factory, engine, fund_server
) -> None:  # type: ignore[no-untyped-def]
    """Through `http_json` the fund has the batch already when it answers: a number another
    member holds is not recorded (the line stays pending, the clash is noted with the batch),
    the others are."""
    from tests.remittances.factories import Books, make_fund, make_member

    with Books(session_factory, org.id)() as s:
        config = {"url": f"{fund_server.url}/batches", "timeout_seconds": 2, "max_attempts": 1}
        make_fund(s, "NSSF", adapter="http_json", config=config)
        make_member(s, "M-0", affiliations={"NSSF": "N-M-1"})  # the number the fund will give
        ids = [str(make_member(s, f"M-{n}").id) for n in (1, 2)]
    h = org.headers("treasurer")
    bid = _affiliation_batch(client, h, "NSSF", ids)
    r = client.post(f"/api/v1/affiliations/{bid}/submit", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["accepted_count"]) == ("submitted", 1), body
    assert body["delivery"]["numbers_held_by_other_members"] == [
        {"member_id": ids[0], "affiliation_number": "N-M-1", "holder": "M-0"}
    ]
    assert count(engine, "affiliation_line", "status = 'pending'") == 1
    assert count(engine, "member_affiliation", "affiliation_number = 'N-M-1'") == 1
