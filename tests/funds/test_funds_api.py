"""Funds over HTTP: creation opens the fund's accounts; validation; roles; tenancy; updates."""

from __future__ import annotations

import sqlalchemy as sa


def fund_body(code: str = "PENSION", **over):  # type: ignore[no-untyped-def]
    body = {
        "code": code,
        "name": f"{code.title()} fund",
        "kind": "pension",
        "currency": "DOP",
        "adapter": "csv",
        "adapter_config": {},
        "settlement_account": {"iban": "DO28BAGR00000001212453611324", "bic": "BAGRDOSD"},
    }
    body.update(over)
    return body


def rows(engine, sql: str, **params):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def test_create_fund_opens_its_accounts(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/funds", json=fund_body(custody=True), headers=org.headers("admin"))
    assert r.status_code == 201, r.text
    fund = r.json()
    assert fund["code"] == "PENSION" and fund["custody"] is True
    assert fund["adapter_config"] == {"delimiter": ","}  # normalised by the csv adapter
    accounts = {
        code: (type_, currency)
        for code, type_, currency in rows(
            engine, "SELECT code, type, currency FROM account WHERE code LIKE 'FUND:%'"
        )
    }
    assert accounts == {
        "FUND:PENSION:OWED": ("liability", "DOP"),
        "FUND:PENSION:TRANSIT": ("liability", "DOP"),
        "FUND:PENSION:CUSTODY": ("liability", "DOP"),
    }
    ids = rows(engine, "SELECT id, code FROM account WHERE code LIKE 'FUND:%'")
    by_code = {code: str(i).replace("-", "") for i, code in ids}
    assert fund["owed_account_id"].replace("-", "") == by_code["FUND:PENSION:OWED"]
    assert fund["custody_account_id"].replace("-", "") == by_code["FUND:PENSION:CUSTODY"]
    assert rows(engine, "SELECT action, actor FROM audit_event WHERE action = 'fund.create'") == [
        ("fund.create", "key:admin key")
    ]

    plain = client.post("/api/v1/funds", json=fund_body("HEALTH"), headers=org.headers("admin"))
    assert plain.status_code == 201 and plain.json()["custody_account_id"] is None
    assert len(rows(engine, "SELECT id FROM account WHERE code LIKE 'FUND:HEALTH:%'")) == 2

    listed = client.get("/api/v1/funds?limit=1", headers=org.headers("auditor")).json()
    assert [f["code"] for f in listed["items"]] == ["HEALTH"] and listed["next_cursor"]
    page2 = client.get(
        f"/api/v1/funds?limit=1&cursor={listed['next_cursor']}", headers=org.headers("treasurer")
    ).json()
    assert [f["code"] for f in page2["items"]] == ["PENSION"] and page2["next_cursor"] is None


def test_bad_funds_are_refused_and_write_nothing(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    h = org.headers("admin")
    cases = [
        (fund_body(currency="XOF"), "currency", "organisation's"),
        (fund_body(adapter="fax"), "adapter", "no fund adapter named 'fax'"),
        (fund_body(adapter_config={"colour": "red"}), "adapter_config", "unknown key"),
        (fund_body(kind="casino"), "kind", ""),
        (fund_body(code="pension fund"), "code", ""),
        (
            fund_body(adapter="http_json", adapter_config={"url": "ftp://x"}),
            "adapter_config.url",
            "url",
        ),
    ]
    for body, field, why in cases:
        r = client.post("/api/v1/funds", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"][0]["field"] == field and why in r.json()["detail"], r.text
    assert rows(engine, "SELECT id FROM fund") == []
    assert rows(engine, "SELECT id FROM account WHERE code LIKE 'FUND:%'") == []

    assert client.post("/api/v1/funds", json=fund_body(), headers=h).status_code == 201
    again = client.post("/api/v1/funds", json=fund_body(name="other"), headers=h)
    assert again.status_code == 409
    assert len(rows(engine, "SELECT id FROM account WHERE code LIKE 'FUND:%'")) == 2


def test_roles_and_tenancy(client, make_org) -> None:  # type: ignore[no-untyped-def]
    a, b = make_org("COOPA", "DOP"), make_org("COOPB", "DOP")
    for role in ("treasurer", "collector", "auditor", "fund_office"):
        r = client.post("/api/v1/funds", json=fund_body(), headers=a.headers(role))
        assert r.status_code == 403, role
    assert (
        client.post("/api/v1/funds", json=fund_body(), headers=a.headers("admin")).status_code
        == 201
    )
    assert client.get("/api/v1/funds/PENSION", headers=a.headers("auditor")).status_code == 200
    assert client.get("/api/v1/funds/PENSION", headers=a.headers("collector")).status_code == 403
    assert client.get("/api/v1/funds", headers=a.headers("fund_office")).status_code == 403
    # another organisation's fund is not there for B
    assert client.get("/api/v1/funds/PENSION", headers=b.headers("admin")).status_code == 404
    r = client.patch("/api/v1/funds/PENSION", json={"name": "x"}, headers=b.headers("admin"))
    assert r.status_code == 404
    # B may use the same code for its own fund
    assert (
        client.post("/api/v1/funds", json=fund_body(), headers=b.headers("admin")).status_code
        == 201
    )


def test_update_fund(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    h = org.headers("admin")
    client.post("/api/v1/funds", json=fund_body(), headers=h)
    r = client.patch(
        "/api/v1/funds/PENSION",
        json={
            "name": "Pension (new name)",
            "adapter": "http_json",
            "adapter_config": {"url": "https://fund.example/api", "token": "s3cr3t"},
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Pension (new name)" and body["adapter"] == "http_json"
    assert body["adapter_config"]["token"] == "***"  # credentials never come back out
    (stored,) = rows(engine, "SELECT adapter_config FROM fund")
    assert "s3cr3t" in str(stored[0])
    audit = rows(engine, "SELECT details FROM audit_event WHERE action = 'fund.update'")
    assert len(audit) == 1 and "s3cr3t" not in str(audit[0][0])

    # bad config on update: 422 and nothing changed
    r = client.patch("/api/v1/funds/PENSION", json={"adapter": "fax"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "adapter"
    assert client.get("/api/v1/funds/PENSION", headers=h).json()["adapter"] == "http_json"
    r = client.patch("/api/v1/funds/PENSION", json={"currency": "XOF"}, headers=h)
    assert r.status_code == 422  # not a field that changes

    # custody on opens the custody account; off again is allowed while it holds nothing
    r = client.patch("/api/v1/funds/PENSION", json={"custody": True}, headers=h)
    assert r.status_code == 200 and r.json()["custody_account_id"]
    assert rows(engine, "SELECT code FROM account WHERE code = 'FUND:PENSION:CUSTODY'")
    r = client.patch("/api/v1/funds/PENSION", json={"custody": False}, headers=h)
    assert r.status_code == 200 and r.json()["custody"] is False
