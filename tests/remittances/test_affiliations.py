"""Affiliations: a batch of members to register, the fund's answer, numbers and commission."""

from __future__ import annotations

import csv
import io

from tests.remittances.conftest import balance, count
from tests.remittances.factories import make_fund, make_member


def test_affiliation_batch_records_numbers_and_books_commission(client, org, books, engine) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        make_fund(s, "FUND", config={"commission_per_affiliation": "250.00"})
        ana, luis, old = (
            make_member(s, "M-1"),
            make_member(s, "M-2"),
            make_member(s, "M-3", affiliations={"FUND": "F-9"}),
        )
        ids = [str(ana.id), str(luis.id)]
        old_id = str(old.id)
    h = org.headers("treasurer")
    bad = client.post(
        "/api/v1/affiliations",
        json={"fund_code": "FUND", "member_ids": [ids[0], old_id]},
        headers=h,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "member_ids.1"
    assert "already affiliated" in bad.json()["detail"]
    assert (
        client.post(
            "/api/v1/affiliations", json={"fund_code": "NOPE", "member_ids": ids}, headers=h
        ).json()["errors"][0]["field"]
        == "fund_code"
    )
    r = client.post(
        "/api/v1/affiliations", json={"fund_code": "FUND", "member_ids": ids}, headers=h
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    assert (batch["reference"], batch["status"], batch["line_count"]) == ("AF000001", "open", 2)
    again = client.post(
        "/api/v1/affiliations", json={"fund_code": "FUND", "member_ids": [ids[1]]}, headers=h
    )
    assert again.status_code == 409 and "AF000001" in again.json()["detail"]

    fo = org.headers("fund_office")  # bound to FUND: this is its batch
    text = client.get(f"/api/v1/affiliations/{batch['id']}/file?format=csv", headers=fo).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["HEADER", "AF000001", org.code, "FUND"] and rows[-1] == ["TRAILER", "2"]
    assert [r[4] for r in rows[2:4]] == ["Member M-1", "Member M-2"]
    assert (
        len(
            client.get(f"/api/v1/affiliations/{batch['id']}/file?format=json", headers=fo).json()[
                "lines"
            ]
        )
        == 2
    )

    bad_ack = {"lines": [{"member_id": ids[0], "status": "accepted"}]}
    r = client.post(f"/api/v1/affiliations/{batch['id']}/acknowledgement", json=bad_ack, headers=fo)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lines.0.affiliation_number"
    ack = {
        "lines": [
            {"member_id": ids[0], "status": "accepted", "affiliation_number": "F-100"},
            {"member_id": ids[1], "status": "rejected", "reason": "no national id"},
        ]
    }
    r = client.post(f"/api/v1/affiliations/{batch['id']}/acknowledgement", json=ack, headers=fo)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["status"],
        body["accepted_count"],
        body["rejected_count"],
        body["commission_total"],
    ) == (
        "acknowledged",
        1,
        1,
        "250.00",
    )
    assert [ln["commission"] for ln in body["lines"]] == ["250.00", None]
    member = client.get(f"/api/v1/members/{ids[0]}", headers=h).json()
    assert member["affiliations"] == {"FUND": "F-100"}
    assert balance(client, org, "FUND:FUND:COMMISSION_RECEIVABLE") == "250.00"
    assert balance(client, org, "FUND:FUND:COMMISSION_INCOME") == "250.00"
    # the same answer again books nothing more
    r = client.post(f"/api/v1/affiliations/{batch['id']}/acknowledgement", json=ack, headers=fo)
    assert r.status_code == 200 and r.json()["commission_total"] == "250.00"
    assert count(engine, "journal_entry", "kind = 'affiliation.commission'") == 1
    # a rejected member may be sent again
    r = client.post(
        "/api/v1/affiliations", json={"fund_code": "FUND", "member_ids": [ids[1]]}, headers=h
    )
    assert r.status_code == 201 and r.json()["reference"] == "AF000002"
