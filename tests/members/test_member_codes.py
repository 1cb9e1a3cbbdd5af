"""Members, units and the member import refuse with a stable code and its parameters
(problem+json `code`, `params`; each field error and each rejected row its own)."""

from __future__ import annotations

import uuid

from tests.members.test_member_import import upload
from tests.schemes.books import add_member, add_unit, count


def test_a_taken_member_number_or_registration_says_which(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    add_member(client, org, "M-0001")
    r = client.post(
        "/api/v1/members",
        json={"member_number": "M-0001", "full_name": "X", "joined_on": "2026-01-01"},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 409, r.text
    body = r.json()
    assert (body["code"], body["params"]) == ("member.number_taken", {"number": "M-0001"})
    assert body["detail"] == "member number M-0001 is taken"
    add_unit(client, org, "A123456")
    r = client.post(
        "/api/v1/units",
        json={"registration": "A123456", "kind": "minibus"},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 409, r.text
    assert (r.json()["code"], r.json()["params"]) == (
        "unit.registration_taken",
        {"registration": "A123456"},
    )
    assert count(engine, "member") == 1 and count(engine, "transport_unit") == 1


def test_crew_and_lookup_refusals_have_codes(client, org) -> None:  # type: ignore[no-untyped-def]
    a = add_member(client, org, "M-1")
    b = add_member(client, org, "M-2")
    headers = org.headers("treasurer")
    crew = [{"member_id": a["id"], "role": "owner"}, {"member_id": b["id"], "role": "owner"}]
    r = client.post(
        "/api/v1/units", json={"registration": "X1", "kind": "bus", "crew": crew}, headers=headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0] == {
        "field": "crew[1].role",
        "message": "a unit has one owner",
        "code": "unit.two_owners",
    }
    stranger = [{"member_id": str(uuid.uuid4()), "role": "driver"}]
    r = client.post(
        "/api/v1/units",
        json={"registration": "X1", "kind": "bus", "crew": stranger},
        headers=headers,
    )
    assert (r.json()["code"], r.json()["errors"][0]["field"]) == (
        "member.not_in_organisation",
        "crew[0].member_id",
    )
    missing = uuid.uuid4()
    r = client.get(f"/api/v1/members/{missing}", headers=headers)
    assert (r.status_code, r.json()["code"], r.json()["params"]) == (
        404,
        "member.not_found",
        {"id": str(missing)},
    )
    r = client.patch(f"/api/v1/members/{a['id']}", json={"status": None}, headers=headers)
    assert (r.status_code, r.json()["code"]) == (422, "field.null")
    r = client.patch(
        f"/api/v1/members/{a['id']}", json={"affiliations": {"NOFUND": "1"}}, headers=headers
    )
    assert (r.json()["code"], r.json()["params"]) == ("affiliation.no_fund", {"code": "NOFUND"})


def test_each_rejected_row_of_an_import_has_its_code(client, org) -> None:  # type: ignore[no-untyped-def]
    add_member(client, org, "M-OLD")
    content = (
        "member_number,full_name,joined_on\n"
        "M-OLD,Old,2026-01-01\n"
        ",,\n"
        "M-1,Ana,2026-01-01,extra\n"
        "M-2,Bea,2026-01-01\n"
        "M-2,Bea again,2026-01-01\n"
    )
    r = upload(client, org, content, dry_run=True)
    assert r.status_code == 200, r.text
    rows = {row["row"]: row for row in r.json()["results"]}
    said = {
        line: [(e["code"], e.get("params")) for e in rows[line]["errors"] or []] for line in rows
    }
    assert rows[2]["status"] == "duplicate"
    assert said[2] == [("member_import.exists", None)]
    assert said[3] == [("member_import.empty_row", None)]
    assert said[4] == [("member_import.too_many_values", None)]
    assert rows[5]["status"] == "valid" and said[5] == []
    assert said[6] == [("member_import.number_repeated", {"number": "M-2", "line": "5"})]
    r = upload(client, org, "member_number,full_name,joined_on,colour\n")
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["params"]) == (
        "member_import.unknown_columns",
        {
            "columns": "'colour'",
            "allowed": "member_number, full_name, joined_on, national_id, phone, sector, "
            "status, affiliation:FUND",
        },
    )
    assert r.json()["detail"].startswith("file: unknown column(s) 'colour'; allowed: ")
