"""pain.002 acknowledgements, and money properties of batching (Hypothesis)."""

from __future__ import annotations

import itertools
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import func, select

from app.collections.models import ContributionShare
from app.core.database import unit_of_work
from app.funds.adapters.pain001 import XSD_PATH
from app.remittances.models import RemittanceLine, RemittanceShare
from tests.remittances.conftest import balance, count, remittance_breaches
from tests.remittances.factories import Books, make_fund, make_member, owe

PAIN002_XSD = XSD_PATH.parent / "pain.002.001.12.xsd"
NS = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.12"


def pain002(
    original_msg_id: str, group_status: str, txs: list[tuple[str, str, str | None]]
) -> bytes:
    tx_xml = "".join(
        f"<TxInfAndSts><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>{sts}</TxSts>"
        + (
            f"<StsRsnInf><Rsn><Cd>{rsn}</Cd></Rsn><AddtlInf>affiliation unknown</AddtlInf></StsRsnInf>"
            if rsn
            else ""
        )
        + "</TxInfAndSts>"
        for e2e, sts, rsn in txs
    )
    doc = (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{NS}"><CstmrPmtStsRpt>'
        "<GrpHdr><MsgId>FUND-ACK-1</MsgId><CreDtTm>2026-12-02T10:00:00</CreDtTm></GrpHdr>"
        f"<OrgnlGrpInfAndSts><OrgnlMsgId>{original_msg_id}</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>"
        f"<GrpSts>{group_status}</GrpSts></OrgnlGrpInfAndSts>"
        f"<OrgnlPmtInfAndSts><OrgnlPmtInfId>{original_msg_id}-1</OrgnlPmtInfId>{tx_xml}</OrgnlPmtInfAndSts>"
        "</CstmrPmtStsRpt></Document>"
    )
    body = doc.encode()
    schema = etree.XMLSchema(etree.parse(str(PAIN002_XSD)))
    assert schema.validate(etree.fromstring(body)), schema.error_log  # a real pain.002
    return body


def test_pain002_acknowledgement(client, org, books, engine) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        fund = make_fund(s, "FUND", adapter="pain001")
        for n in range(3):
            owe(
                s,
                make_member(s, f"M-{n}"),
                fund,
                1000 * (n + 1),
                date(2026, 11, 1),
                date(2026, 11, 30),
            )
    h = org.headers("treasurer")
    bid = client.post(
        "/api/v1/remittances", json={"fund_code": "FUND", "through": "2026-11-30"}, headers=h
    ).json()["id"]
    client.post(f"/api/v1/remittances/{bid}/seal", headers=h)
    client.post(f"/api/v1/remittances/{bid}/submit", headers=h)
    # PART: one rejected with a reason, one accepted, the third not yet decided
    body = pain002(
        f"{org.code}-RB000001",
        "PART",
        [("RB000001-000001", "ACSC", None), ("RB000001-000002", "RJCT", "AC01")],
    )
    fo = org.headers("fund_office", **{"Content-Type": "application/xml"})
    r = client.post(f"/api/v1/remittances/{bid}/acknowledgement", content=body, headers=fo)
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["rejected"], r.json()["batch"]["status"]) == (
        1,
        1,
        "submitted",
    )
    line = client.get(f"/api/v1/remittances/{bid}/lines?status=rejected", headers=h).json()[
        "items"
    ][0]
    assert line["reason"] == "AC01: affiliation unknown" and line["amount"] == "20.00"
    assert balance(client, org, "FUND:FUND:OWED") == "20.00"
    # a final group status decides the lines not listed
    final = pain002(f"{org.code}-RB000001", "ACCP", [])
    r = client.post(f"/api/v1/remittances/{bid}/acknowledgement", content=final, headers=fo)
    assert r.status_code == 200 and r.json()["batch"]["status"] == "acknowledged"
    assert r.json()["batch"]["accepted_sum"] == "40.00"
    with engine.connect() as conn:
        import sqlalchemy as sa

        docs = conn.execute(
            sa.text(
                "SELECT source, message_id FROM remittance_acknowledgement ORDER BY received_at"
            )
        ).all()
    assert [tuple(d) for d in docs] == [("pain.002", "FUND-ACK-1"), ("pain.002", "FUND-ACK-1")]
    # an unknown end-to-end id names the transaction
    bad = pain002(f"{org.code}-RB000001", "PART", [("RB000009-000001", "RJCT", "AC01")])
    r = client.post(f"/api/v1/remittances/{bid}/acknowledgement", content=bad, headers=fo)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "TxInfAndSts.0.end_to_end_id"
    assert count(engine, "remittance_acknowledgement") == 2


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plan=st.lists(
        st.tuples(st.integers(0, 3), st.integers(9, 12), st.integers(1, 100_000)),
        min_size=1,
        max_size=25,
    ),
    reject=st.sets(st.integers(1, 16), max_size=8),
)
def test_batching_never_loses_or_doubles_money(
    client, make_org, session_factory, plan, reject
) -> None:  # type: ignore[no-untyped-def]
    """Whatever is owed and whatever the fund rejects: each share is in at most one live
    batch, every batch's control sum is its lines' and its shares', and what was remitted
    (accepted) plus what is still owed equals what was contributed."""
    org = make_org(f"P{next(_orgs)}", "DOP")
    books = Books(session_factory, org.id)
    with books() as s:
        fund = make_fund(s, "FUND")
        members = [make_member(s, f"M-{i}") for i in range(4)]
        for m, month, amount in plan:
            start = date(2026, month, 1)
            end = date(2026, month + 1, 1).replace(day=1) if month < 12 else date(2026, 12, 31)
            end = date.fromordinal(end.toordinal() - 1) if month < 12 else end
            owe(s, members[m], fund, amount, start, end)
    total = sum(a for *_, a in plan)
    h = org.headers("treasurer")
    remitted = 0
    for round_ in range(3):
        r = client.post(
            "/api/v1/remittances", json={"fund_code": "FUND", "through": "2026-12-31"}, headers=h
        )
        if r.status_code == 409:
            break
        assert r.status_code == 201, r.text
        bid = r.json()["id"]
        client.post(f"/api/v1/remittances/{bid}/seal", headers=h)
        client.post(f"/api/v1/remittances/{bid}/submit", headers=h)
        lines = client.get(f"/api/v1/remittances/{bid}/lines?limit=500", headers=h).json()["items"]
        answers = [
            {"end_to_end_id": ln["end_to_end_id"], "status": "rejected", "reason": "try again"}
            if ln["line_number"] in reject and round_ == 0
            else {"end_to_end_id": ln["end_to_end_id"], "status": "accepted"}
            for ln in lines
        ]
        ack = client.post(
            f"/api/v1/remittances/{bid}/acknowledgement", json={"lines": answers}, headers=h
        )
        assert ack.status_code == 200, ack.text
        remitted += round(float(ack.json()["batch"]["accepted_sum"]) * 100)
    with unit_of_work(session_factory, org.id) as s:
        doubled = s.execute(
            select(RemittanceShare.share_id)
            .where(RemittanceShare.released_at.is_(None), RemittanceShare.organisation_id == org.id)
            .group_by(RemittanceShare.share_id)
            .having(func.count() > 1)
        ).all()
        assert doubled == []
        free = s.scalar(
            select(func.coalesce(func.sum(ContributionShare.amount), 0)).where(
                ~ContributionShare.id.in_(
                    select(RemittanceShare.share_id).where(RemittanceShare.released_at.is_(None))
                )
            )
        )
        assert (
            s.scalar(
                select(func.count())
                .select_from(RemittanceLine)
                .where(RemittanceLine.status == "pending")
            )
            == 0
        )
    assert remitted + int(free) == total
    assert balance(client, org, "FUND:FUND:OWED") == f"{int(free) // 100}.{int(free) % 100:02d}"
    assert balance(client, org, "FUND:FUND:TRANSIT") == f"{remitted // 100}.{remitted % 100:02d}"
    assert remittance_breaches(session_factory, org.id) == []


_orgs = itertools.count(1)
