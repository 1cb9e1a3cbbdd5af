"""The issue's "done when", through the API only: two months of a cooperative's receipts
across three funds are remitted, some lines rejected and re-remitted, settled; every fund's
owed, in-transit and settled figures agree with the ledger and with `coopledger verify`."""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from app.core import verify
from app.core.database import unit_of_work
from app.funds.adapters.pain001 import XSD_PATH
from tests.remittances.conftest import balance

SCHEME = {
    "code": "vendors-monthly",
    "name": "Vendors, fixed monthly",
    "kind": "monthly",
    "currency": "DOP",
    "versions": [
        {
            "effective_from": "2026-01-01",
            "amount": "1000.00",
            "due_day": 10,
            "grace_days": 30,
            "fee": {"percent": "5"},
            "split": [
                {"fund": "PENSION", "percent": "60"},
                {"fund": "HEALTH", "percent": "35"},
                {"fund": "ACCIDENT", "percent": "5"},
            ],
        }
    ],
}
MEMBERS = 6


def D(text: str) -> Decimal:
    return Decimal(text)


def test_two_months_remitted_rejected_re_remitted_and_settled(
    client, make_org, session_factory
) -> None:  # type: ignore[no-untyped-def]
    org = make_org("COOP", "DOP", "HEALTH")  # the fund office key acts for the health mutual
    t = org.headers("treasurer")
    fo = org.headers("fund_office")

    funds = [
        {
            "code": "PENSION",
            "name": "Pension fund",
            "kind": "pension",
            "adapter": "pain001",
            "adapter_config": {"transactions": "per_line"},
            "settlement_account": {"iban": "DO28BAGR00000001212453611324", "bic": "BAGRDOSDXXX"},
        },
        {
            "code": "HEALTH",
            "name": "Mutuelle santé",
            "kind": "health_mutual",
            "adapter": "custody",
            "custody": True,
        },
        {"code": "ACCIDENT", "name": "Accident insurance", "kind": "accident", "adapter": "csv"},
    ]
    for f in funds:
        r = client.post(
            "/api/v1/funds", json={**f, "currency": "DOP"}, headers=org.headers("admin")
        )
        assert r.status_code == 201, r.text
    r = client.post("/api/v1/schemes", json=SCHEME, headers=t)
    assert r.status_code == 201, r.text
    members = []
    for n in range(MEMBERS):
        affiliations = {"PENSION": f"P-{n}"} if n != 2 else {}
        r = client.post(
            "/api/v1/members",
            json={
                "member_number": f"V-{n:03d}",
                "full_name": f"Vendor {n}",
                "joined_on": "2026-10-01",
                "affiliations": affiliations,
            },
            headers=t,
        )
        assert r.status_code == 201, r.text
        members.append(r.json()["id"])
        r = client.post(
            "/api/v1/enrolments",
            json={
                "member_id": members[-1],
                "scheme_code": "vendors-monthly",
                "starts_on": "2026-10-01",
            },
            headers=t,
        )
        assert r.status_code == 201, r.text
    r = client.post("/api/v1/dues/generate", json={"through": "2026-11-30"}, headers=t)
    assert r.status_code == 200 and r.json()["created"] == 2 * MEMBERS, r.text

    receipts = {}
    for n, member in enumerate(members):
        for month, day in (("10", "28"), ("11", "20")):
            r = client.post(
                "/api/v1/receipts",
                json={
                    "member_id": member,
                    "amount": "1000.00",
                    "currency": "DOP",
                    "received_at": f"2026-{month}-{day}T10:00:00-04:00",
                    "channel": "bank",
                    "reference": f"dep-{n}-{month}",
                },
                headers=org.headers("treasurer", **{"Idempotency-Key": f"r-{n}-{month}"}),
            )
            assert r.status_code == 201, r.text
            receipts[(n, month)] = r.json()["id"]
    # a receipt posted by mistake is reversed before anything is batched: owed to no one
    r = client.post(
        f"/api/v1/receipts/{receipts[(5, '11')]}/reverse", json={"reason": "bounced"}, headers=t
    )
    assert r.status_code == 201 and r.json()["status"] == "reversed", r.text
    # 11 receipts of 1000.00: 5% fee, the rest 60/35/5
    owed = {"PENSION": D("6270.00"), "HEALTH": D("3657.50"), "ACCIDENT": D("522.50")}
    for code, amount in owed.items():
        assert D(balance(client, org, f"FUND:{code}:OWED")) == amount, code

    def remit(code: str) -> dict:  # type: ignore[type-arg]
        r = client.post(
            "/api/v1/remittances", json={"fund_code": code, "through": "2026-11-30"}, headers=t
        )
        assert r.status_code == 201, r.text
        bid = r.json()["id"]
        for step in ("seal", "submit"):
            r = client.post(f"/api/v1/remittances/{bid}/{step}", headers=t)
            assert r.status_code == 200, r.text
        return r.json()

    batches = {code: remit(code) for code in owed}
    for code, batch in batches.items():
        assert D(batch["control_sum"]) == owed[code]
        assert (
            batch["line_count"] == 2 * MEMBERS - 1
        )  # per member per month; the reversed one is gone
    assert batches["HEALTH"]["delivery"]["outcome"] == "held_in_custody"
    # the pension fund takes pain.001
    xml = client.get(
        f"/api/v1/remittances/{batches['PENSION']['id']}/file?format=pain.001", headers=t
    ).content
    schema = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    assert schema.validate(etree.fromstring(xml)), schema.error_log
    # money sealed for a fund cannot be taken back by reversing its receipt
    r = client.post(
        f"/api/v1/receipts/{receipts[(0, '10')]}/reverse", json={"reason": "late"}, headers=t
    )
    assert r.status_code == 409 and "RB0000" in r.json()["detail"], r.text

    # the pension fund rejects member 2's two lines (no affiliation); the accident insurer one
    def lines(bid: str) -> list[dict]:  # type: ignore[type-arg]
        return client.get(f"/api/v1/remittances/{bid}/lines?limit=500", headers=t).json()["items"]

    def acknowledge(bid: str, reject: set[str], headers: dict) -> dict:  # type: ignore[type-arg]
        answers = [
            {
                "end_to_end_id": ln["end_to_end_id"],
                "status": "rejected",
                "reason": "unknown affiliation",
            }
            if ln["member_id"] in reject
            else {"end_to_end_id": ln["end_to_end_id"], "status": "accepted"}
            for ln in lines(bid)
        ]
        r = client.post(
            f"/api/v1/remittances/{bid}/acknowledgement", json={"lines": answers}, headers=headers
        )
        assert r.status_code == 200, r.text
        return r.json()

    pension = acknowledge(batches["PENSION"]["id"], {members[2]}, t)
    assert (pension["rejected"], pension["rejected_sum"]) == (2, "1140.00")
    accident = acknowledge(batches["ACCIDENT"]["id"], {members[4]}, t)
    assert accident["rejected"] == 2
    health = acknowledge(batches["HEALTH"]["id"], set(), fo)  # the mutual's own office
    assert health["batch"]["status"] == "acknowledged"

    # member 2 gets the affiliation number; the rejected lines go out again
    r = client.patch(
        f"/api/v1/members/{members[2]}", json={"affiliations": {"PENSION": "P-2"}}, headers=t
    )
    assert r.status_code == 200, r.text
    again = {code: remit(code) for code in ("PENSION", "ACCIDENT")}
    assert (again["PENSION"]["line_count"], again["PENSION"]["control_sum"]) == (2, "1140.00")
    assert {ln["affiliation_number"] for ln in lines(again["PENSION"]["id"])} == {"P-2"}
    for code in again:
        acknowledge(again[code]["id"], set(), t)
    assert (
        client.post(
            "/api/v1/remittances", json={"fund_code": "PENSION", "through": "2026-11-30"}, headers=t
        ).status_code
        == 409
    )

    # settlement: pension pays 1.00 short (flagged, not absorbed), the rest exactly
    def settle(batch: dict, amount: str, headers: dict) -> dict:  # type: ignore[type-arg]
        r = client.post(
            f"/api/v1/remittances/{batch['id']}/settlement",
            json={
                "amount": amount,
                "settled_on": "2026-12-15",
                "reference": f"STL-{batch['reference']}",
            },
            headers=headers,
        )
        assert r.status_code == 200, r.text
        return r.json()

    first_pension = client.get(f"/api/v1/remittances/{batches['PENSION']['id']}", headers=t).json()
    short = settle(first_pension, str(D(first_pension["accepted_sum"]) - 1), t)
    assert short["settlement"]["flagged"] and short["settlement"]["difference"] == "-1.00"
    for batch in (again["PENSION"], batches["ACCIDENT"], again["ACCIDENT"]):
        b = client.get(f"/api/v1/remittances/{batch['id']}", headers=t).json()
        assert not settle(b, b["accepted_sum"], t)["settlement"]["flagged"]
    h = client.get(f"/api/v1/remittances/{batches['HEALTH']['id']}", headers=fo).json()
    settle(h, h["accepted_sum"], fo)

    # every fund's figures agree with the ledger and with what was collected
    report = {
        f["fund_code"]: f for f in client.get("/api/v1/reports/funds", headers=t).json()["funds"]
    }
    for code, collected in owed.items():
        f = report[code]
        assert D(f["owed"]) == D(balance(client, org, f"FUND:{code}:OWED")) == 0, code
        assert D(f["in_transit"]) == D(balance(client, org, f"FUND:{code}:TRANSIT")), code
        assert D(f["settled"]) + D(f["in_transit"]) == collected, code
    assert (report["PENSION"]["in_transit"], report["PENSION"]["settlement_difference"]) == (
        "1.00",
        "-1.00",
    )
    assert report["PENSION"]["flagged_batches"] == [batches["PENSION"]["reference"]]
    assert report["HEALTH"]["custody_balance"] == "3657.50"
    assert D(balance(client, org, "FUND:HEALTH:CUSTODY")) == owed["HEALTH"]
    fund_view = client.get("/api/v1/funds/HEALTH/remittances?status=settled", headers=fo).json()[
        "items"
    ]
    assert [b["reference"] for b in fund_view] == [batches["HEALTH"]["reference"]]
    # and `coopledger verify` finds the books whole
    with unit_of_work(session_factory, org.id) as s:
        assert [f"{b.invariant}: {b.detail}" for b in verify.run(s)] == []
