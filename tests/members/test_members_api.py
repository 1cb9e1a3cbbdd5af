"""Members and transport units over HTTP: creation with their credit accounts, search, status,
affiliations, crews; roles and tenancy."""

from __future__ import annotations

import sqlalchemy as sa

from tests.schemes.books import add_member, add_unit, count, make_funds


def test_create_member_opens_its_credit_account(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, "PENSION")
    m = add_member(
        client,
        org,
        "M-0001",
        full_name="Ana Pérez",
        national_id="402-1234567-8",
        phone="+1 809 555 0101",
        sector="transport",
        affiliations={"PENSION": "SS-99812"},
    )
    assert m["member_number"] == "M-0001" and m["status"] == "active"
    assert m["affiliations"] == {"PENSION": "SS-99812"}
    with engine.connect() as conn:
        type_, currency, account_id = conn.execute(
            sa.text("SELECT type, currency, id FROM account WHERE code = 'MEMBER:M-0001:CREDIT'")
        ).one()
    assert (type_, currency) == ("liability", "DOP")
    assert m["credit_account_id"].replace("-", "") == str(account_id).replace("-", "")
    assert count(engine, "audit_event", "action = 'member.create'") == 1
    # the member number is the organisation's: 409 the second time, nothing written
    r = client.post(
        "/api/v1/members",
        json={"member_number": "M-0001", "full_name": "X", "joined_on": "2026-01-01"},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 409
    assert count(engine, "member") == 1 and count(engine, "account", "code LIKE 'MEMBER:%'") == 1


def test_bad_members_are_refused_naming_the_field(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    good = {"member_number": "M-1", "full_name": "Ana", "joined_on": "2026-01-01"}
    cases = [
        ({**good, "member_number": ""}, "member_number"),
        ({**good, "member_number": "M 1"}, "member_number"),
        ({**good, "joined_on": "2026-02-30"}, "joined_on"),
        ({**good, "joined_on": "1850-01-01"}, "joined_on"),
        ({**good, "status": "dead"}, "status"),
        ({**good, "phone": "call me"}, "phone"),
        ({**good, "affiliations": {"NOFUND": "1"}}, "affiliations.NOFUND"),
        ({**good, "colour": "red"}, "colour"),
        ({k: v for k, v in good.items() if k != "full_name"}, "full_name"),
    ]
    for body, field in cases:
        r = client.post("/api/v1/members", json=body, headers=org.headers("treasurer"))
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == field, (body, r.json())
    assert count(engine, "member") == 0 and count(engine, "account", "code LIKE 'MEMBER:%'") == 0


def test_search_by_name_number_national_id_and_phone(client, org) -> None:  # type: ignore[no-untyped-def]
    add_member(
        client,
        org,
        "M-001",
        full_name="María Rodríguez",
        national_id="001-111",
        phone="+18095550001",
    )
    add_member(
        client, org, "M-002", full_name="José Martínez", national_id="002-222", phone="+18095550002"
    )
    add_member(
        client,
        org,
        "M-003",
        full_name="Mariana Gómez",
        national_id="003-333",
        phone="+18295550003",
        status="suspended",
    )
    h = org.headers("collector")

    def numbers(**params: str) -> list[str]:
        r = client.get("/api/v1/members", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [m["member_number"] for m in r.json()["items"]]

    assert numbers(q="mari") == ["M-001", "M-003"]  # case and accents aside, anywhere in the name
    assert numbers(q="MARTÍNEZ") == ["M-002"] and numbers(q="martinez") == ["M-002"]
    assert numbers(q="m-002") == ["M-002"]
    assert numbers(q="003-333") == ["M-003"]
    assert numbers(q="8295") == ["M-003"]
    assert numbers(q="809 555 0002") == [] and numbers(q="8095550002") == ["M-002"]
    assert numbers(q="nobody") == []
    assert numbers(q="mari", status="active") == ["M-001"]
    assert numbers(q="%") == []  # a wildcard is a character like any other
    page = client.get("/api/v1/members?limit=2", headers=h).json()
    assert [m["member_number"] for m in page["items"]] == ["M-001", "M-002"]
    rest = client.get(f"/api/v1/members?limit=2&cursor={page['next_cursor']}", headers=h).json()
    assert [m["member_number"] for m in rest["items"]] == ["M-003"] and rest["next_cursor"] is None
    assert client.get("/api/v1/members?cursor=garbage", headers=h).status_code == 422


def test_status_changes_and_affiliations(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    make_funds(client, org, "PENSION", "HEALTH")
    m = add_member(client, org, "M-1", affiliations={"PENSION": "P-1"})
    h = org.headers("treasurer")
    r = client.patch(
        f"/api/v1/members/{m['id']}",
        json={"status": "suspended", "affiliations": {"HEALTH": "H-9"}},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "suspended"
    assert r.json()["affiliations"] == {"PENSION": "P-1", "HEALTH": "H-9"}
    r = client.patch(
        f"/api/v1/members/{m['id']}",
        json={"affiliations": {"PENSION": None, "HEALTH": "H-10"}},
        headers=h,
    )
    assert r.json()["affiliations"] == {"HEALTH": "H-10"}
    r = client.patch(f"/api/v1/members/{m['id']}", json={"status": "retired"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"
    r = client.patch(f"/api/v1/members/{m['id']}", json={"member_number": "M-2"}, headers=h)
    assert r.status_code == 422  # a member number never changes
    r = client.patch(f"/api/v1/members/{m['id']}", json={"full_name": None}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "full_name"
    got = client.get(f"/api/v1/members/{m['id']}", headers=org.headers("auditor")).json()
    assert got["status"] == "suspended" and got["affiliations"] == {"HEALTH": "H-10"}
    assert count(engine, "audit_event", "action = 'member.update'") == 2


def test_units_with_crews(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    owner = add_member(client, org, "O-1")
    driver = add_member(client, org, "D-1")
    conductor = add_member(client, org, "C-1")
    unit = add_unit(
        client,
        org,
        "A123456",
        owner_member_id=owner["id"],
        crew=[
            {"member_id": driver["id"], "role": "driver"},
            {"member_id": conductor["id"], "role": "conductor", "covered": False},
        ],
    )
    assert unit["owner_member_id"] == owner["id"]
    assert unit["crew"] == [
        {"member_id": owner["id"], "role": "owner", "covered": True},
        {"member_id": driver["id"], "role": "driver", "covered": True},
        {"member_id": conductor["id"], "role": "conductor", "covered": False},
    ]
    assert count(engine, "account", "code = 'UNIT:A123456:CREDIT'") == 1
    h = org.headers("treasurer")
    # the crew is replaced as a whole
    r = client.patch(
        f"/api/v1/units/{unit['id']}",
        json={"crew": [{"member_id": driver["id"], "role": "owner"}]},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["owner_member_id"] == driver["id"]
    assert r.json()["crew"] == [{"member_id": driver["id"], "role": "owner", "covered": True}]
    r = client.patch(
        f"/api/v1/units/{unit['id']}", json={"status": "retired", "kind": "motoconcho"}, headers=h
    )
    assert r.json()["status"] == "retired" and r.json()["kind"] == "motoconcho"
    found = client.get("/api/v1/units?q=a123", headers=org.headers("collector")).json()["items"]
    assert [u["registration"] for u in found] == ["A123456"]
    mine = client.get(
        f"/api/v1/units?member_id={driver['id']}", headers=org.headers("collector")
    ).json()["items"]
    assert [u["id"] for u in mine] == [unit["id"]]


def test_bad_crews_are_refused(client, org, make_org, engine) -> None:  # type: ignore[no-untyped-def]
    a = add_member(client, org, "A")
    b = add_member(client, org, "B")
    stranger = add_member(client, make_org("OTHER"), "S")
    cases = [
        ({"crew": [{"member_id": stranger["id"], "role": "driver"}]}, "crew[0].member_id"),
        (
            {
                "crew": [
                    {"member_id": a["id"], "role": "driver"},
                    {"member_id": a["id"], "role": "conductor"},
                ]
            },
            "crew[1].member_id",
        ),
        (
            {
                "crew": [
                    {"member_id": a["id"], "role": "owner"},
                    {"member_id": b["id"], "role": "owner"},
                ]
            },
            "crew[1].role",
        ),
        (
            {"owner_member_id": b["id"], "crew": [{"member_id": a["id"], "role": "owner"}]},
            "owner_member_id",
        ),
        ({"owner_member_id": stranger["id"]}, "owner_member_id"),
        ({"crew": [{"member_id": a["id"], "role": "pilot"}]}, "crew.0.role"),
        ({"registration": ""}, "registration"),
    ]
    for over, field in cases:
        body = {"registration": "R-1", "kind": "minibus", **over}
        r = client.post("/api/v1/units", json=body, headers=org.headers("treasurer"))
        assert r.status_code == 422, (over, r.text)
        assert r.json()["errors"][0]["field"] == field, (over, r.json())
    assert count(engine, "transport_unit") == 0 and count(engine, "unit_crew") == 0
    add_unit(client, org, "R-1")
    r = client.post(
        "/api/v1/units",
        json={"registration": "R-1", "kind": "minibus"},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 409


def test_roles_and_tenancy(client, make_org) -> None:  # type: ignore[no-untyped-def]
    a, b = make_org("COOPA"), make_org("COOPB")
    m = add_member(client, a, "M-1")
    u = add_unit(client, a, "U-1")
    body = {"member_number": "M-2", "full_name": "X", "joined_on": "2026-01-01"}
    for role in ("collector", "auditor", "fund_office"):
        assert client.post("/api/v1/members", json=body, headers=a.headers(role)).status_code == 403
        assert (
            client.patch(
                f"/api/v1/members/{m['id']}", json={"full_name": "Y"}, headers=a.headers(role)
            ).status_code
            == 403
        )
    assert client.post("/api/v1/members", json=body, headers=a.headers("admin")).status_code == 201
    for role in ("collector", "auditor", "treasurer", "admin"):
        assert client.get(f"/api/v1/members/{m['id']}", headers=a.headers(role)).status_code == 200
        assert client.get(f"/api/v1/units/{u['id']}", headers=a.headers(role)).status_code == 200
    assert client.get("/api/v1/members", headers=a.headers("fund_office")).status_code == 403
    assert client.get("/api/v1/units", headers=a.headers("fund_office")).status_code == 403
    # B sees none of A's
    assert client.get(f"/api/v1/members/{m['id']}", headers=b.headers("admin")).status_code == 404
    assert client.get(f"/api/v1/units/{u['id']}", headers=b.headers("admin")).status_code == 404
    assert (
        client.patch(
            f"/api/v1/members/{m['id']}", json={"full_name": "Y"}, headers=b.headers("admin")
        ).status_code
        == 404
    )
    assert client.get("/api/v1/members", headers=b.headers("admin")).json()["items"] == []
    # B may use the same member number
    add_member(client, b, "M-1")
    assert client.get("/api/v1/members/not-a-uuid", headers=a.headers("admin")).status_code == 422
