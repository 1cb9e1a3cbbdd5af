"""A batch's life over HTTP: create, seal, files, submit, acknowledge, re-remit, settle."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from lxml import etree

from app.funds.adapters.pain001 import XSD_PATH
from tests.remittances.conftest import balance, count, remittance_breaches
from tests.remittances.factories import make_fund, make_member, owe

NOV = (date(2026, 11, 1), date(2026, 11, 30))
DEC = (date(2026, 12, 1), date(2026, 12, 31))


def setup_books(books):  # type: ignore[no-untyped-def]
    with books() as s:
        fund = make_fund(
            s, "CNSS", settlement_account={"iban": "DO28BAGR00000001212453611324", "name": "CNSS"}
        )
        ana = make_member(s, "M-001", affiliations={"CNSS": "SS-1"}, name="Ana Pérez")
        luis = make_member(s, "M-002", name="Luis <Gómez> & Co")
        owe(s, ana, fund, 60000, *NOV)
        owe(s, ana, fund, 40000, *NOV)
        owe(s, ana, fund, 50000, *DEC)
        owe(s, luis, fund, 30000, *NOV)
        return ana.id, luis.id


def test_batch_life(client, org, books, engine, session_factory) -> None:  # type: ignore[no-untyped-def]
    ana, luis = setup_books(books)
    h = org.headers("treasurer")
    assert balance(client, org, "FUND:CNSS:OWED") == "1800.00"

    r = client.post(
        "/api/v1/remittances", json={"fund_code": "CNSS", "through": "2026-11-30"}, headers=h
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    assert (batch["status"], batch["line_count"], batch["control_sum"], batch["reference"]) == (
        "draft",
        2,
        "1300.00",
        "RB000001",
    )
    bid = batch["id"]
    lines = client.get(f"/api/v1/remittances/{bid}/lines", headers=h).json()["items"]
    assert [
        (ln["member_id"], ln["affiliation_number"], ln["amount"], ln["period_end"]) for ln in lines
    ] == [
        (str(ana), "SS-1", "1000.00", "2026-11-30"),
        (str(luis), None, "300.00", "2026-11-30"),
    ]
    assert [ln["end_to_end_id"] for ln in lines] == ["RB000001-000001", "RB000001-000002"]
    # nothing else is owed through November: 409, and no second batch row
    again = client.post(
        "/api/v1/remittances", json={"fund_code": "CNSS", "through": "2026-11-30"}, headers=h
    )
    assert again.status_code == 409 and "nothing is owed" in again.json()["detail"]
    assert count(engine, "remittance_batch") == 1
    assert count(engine, "remittance_share", "released_at IS NULL") == 3
    # a draft has no file yet
    assert client.get(f"/api/v1/remittances/{bid}/file?format=csv", headers=h).status_code == 409

    sealed = client.post(f"/api/v1/remittances/{bid}/seal", headers=h)
    assert sealed.status_code == 200 and sealed.json()["status"] == "sealed"
    assert balance(client, org, "FUND:CNSS:OWED") == "500.00"
    assert balance(client, org, "FUND:CNSS:TRANSIT") == "1300.00"
    assert client.post(f"/api/v1/remittances/{bid}/seal", headers=h).status_code == 409
    assert client.post(f"/api/v1/remittances/{bid}/cancel", headers=h).status_code == 409
    assert count(engine, "journal_entry", "kind = 'remittance.seal'") == 1

    # the files: CSV with header and trailer, JSON, and pain.001 valid against the XSD
    text = client.get(f"/api/v1/remittances/{bid}/file?format=csv", headers=h).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["HEADER", "RB000001", org.code, "CNSS", "DOP"]
    assert rows[1][0] == "record" and [r[0] for r in rows[2:4]] == ["LINE", "LINE"]
    assert rows[2][3:5] == ["SS-1", "Ana Pérez"] and rows[3][8] == "300.00"
    assert rows[-1] == ["TRAILER", "2", "1300.00"]
    doc = client.get(f"/api/v1/remittances/{bid}/file?format=json", headers=h).json()
    assert doc["batch"]["control_sum"] == "1300.00" and len(doc["lines"]) == 2
    xml = client.get(f"/api/v1/remittances/{bid}/file?format=pain.001", headers=h)
    assert xml.headers["content-disposition"] == 'attachment; filename="RB000001.xml"'
    root = etree.fromstring(xml.content)
    schema = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    assert schema.validate(root), schema.error_log
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=ns) == "2"
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=ns) == "1300.00"
    assert (
        root.findtext(".//p:CdtrAcct/p:Id/p:IBAN", namespaces=ns) == "DO28BAGR00000001212453611324"
    )
    assert "Luis <Gómez> & Co" in "".join(root.xpath("//p:Ustrd/text()", namespaces=ns))

    sub = client.post(f"/api/v1/remittances/{bid}/submit", headers=h)
    assert sub.status_code == 200, sub.text
    assert (
        sub.json()["status"] == "submitted"
        and sub.json()["delivery"]["outcome"] == "awaiting_download"
    )

    ack = client.post(
        f"/api/v1/remittances/{bid}/acknowledgement",
        json={
            "lines": [
                {"end_to_end_id": "RB000001-000001", "status": "accepted"},
                {
                    "end_to_end_id": "RB000001-000002",
                    "status": "rejected",
                    "reason": "no affiliation number",
                },
            ]
        },
        headers=org.headers("fund_office"),
    )
    # the fund office key of this org is bound to fund FUND, not CNSS: not its batch
    assert ack.status_code == 404
    ack = client.post(
        f"/api/v1/remittances/{bid}/acknowledgement",
        json={
            "lines": [
                {"end_to_end_id": "RB000001-000001", "status": "accepted"},
                {
                    "end_to_end_id": "RB000001-000002",
                    "status": "rejected",
                    "reason": "no affiliation number",
                },
            ]
        },
        headers=h,
    )
    assert ack.status_code == 200, ack.text
    body = ack.json()
    assert (body["accepted"], body["rejected"], body["rejected_sum"]) == (1, 1, "300.00")
    assert body["batch"]["status"] == "acknowledged" and body["batch"]["accepted_sum"] == "1000.00"
    assert balance(client, org, "FUND:CNSS:OWED") == "800.00"
    assert balance(client, org, "FUND:CNSS:TRANSIT") == "1000.00"
    rejected = client.get(f"/api/v1/remittances/{bid}/lines?status=rejected", headers=h).json()[
        "items"
    ]
    assert [ln["reason"] for ln in rejected] == ["no affiliation number"]
    # the same decision again changes nothing; the opposite one is 409
    same = client.post(
        f"/api/v1/remittances/{bid}/acknowledgement",
        json={"lines": [{"end_to_end_id": "RB000001-000001", "status": "accepted"}]},
        headers=h,
    )
    assert same.status_code == 200 and same.json()["accepted"] == 0
    flip = client.post(
        f"/api/v1/remittances/{bid}/acknowledgement",
        json={"lines": [{"end_to_end_id": "RB000001-000002", "status": "accepted"}]},
        headers=h,
    )
    assert flip.status_code == 409
    assert count(engine, "journal_entry", "kind = 'remittance.rejection'") == 1

    # the rejected line goes into the next batch, with the corrected affiliation number
    fix = client.patch(
        f"/api/v1/members/{luis}", json={"affiliations": {"CNSS": "SS-2"}}, headers=h
    )
    assert fix.status_code == 200, fix.text
    nxt = client.post(
        "/api/v1/remittances", json={"fund_code": "CNSS", "through": "2026-11-30"}, headers=h
    )
    assert nxt.status_code == 201, nxt.text
    assert (nxt.json()["line_count"], nxt.json()["control_sum"]) == (1, "300.00")
    line = client.get(f"/api/v1/remittances/{nxt.json()['id']}/lines", headers=h).json()["items"][0]
    assert (line["member_id"], line["affiliation_number"], line["end_to_end_id"]) == (
        str(luis),
        "SS-2",
        "RB000002-000001",
    )

    # settlement of a different amount: recorded and flagged, the difference stays in transit
    settled = client.post(
        f"/api/v1/remittances/{bid}/settlement",
        json={"amount": "990.00", "settled_on": "2026-12-05", "reference": "TRF-77"},
        headers=h,
    )
    assert settled.status_code == 200, settled.text
    s = settled.json()["settlement"]
    assert (s["amount"], s["difference"], s["flagged"]) == ("990.00", "-10.00", True)
    assert balance(client, org, "FUND:CNSS:TRANSIT") == "10.00"
    assert balance(client, org, "BANK:MAIN") == "-990.00"
    report = client.get("/api/v1/reports/funds", headers=h).json()["funds"]
    cnss = next(f for f in report if f["fund_code"] == "CNSS")
    assert (cnss["owed"], cnss["in_transit"], cnss["settled"], cnss["settlement_difference"]) == (
        "800.00",
        "10.00",
        "990.00",
        "-10.00",
    )
    assert cnss["flagged_batches"] == ["RB000001"]
    assert (
        client.post(
            f"/api/v1/remittances/{bid}/settlement",
            json={"amount": "10.00", "settled_on": "2026-12-06", "reference": "TRF-78"},
            headers=h,
        ).status_code
        == 409
    )

    with engine.connect() as conn:
        import sqlalchemy as sa

        actions = (
            conn.execute(
                sa.text(
                    "SELECT action FROM audit_event WHERE object_type = 'remittance_batch' ORDER BY occurred_at"
                )
            )
            .scalars()
            .all()
        )
    assert actions.count("remittance.create") == 2
    for step in (
        "remittance.seal",
        "remittance.submit",
        "remittance.acknowledge",
        "remittance.settle",
    ):
        assert step in actions
    assert json.loads(json.dumps(actions))  # plain strings
    assert remittance_breaches(session_factory, org.id) == []
    # a tampered line is caught by `coopledger verify`
    with engine.begin() as conn:
        import sqlalchemy as sa

        conn.execute(
            sa.text(
                "UPDATE remittance_line SET amount = amount + 1 WHERE end_to_end_id = 'RB000002-000001'"
            )
        )
    found = remittance_breaches(session_factory, org.id)
    assert any("RB000002-000001" in b for b in found) and any("RB000002:" in b for b in found), (
        found
    )
