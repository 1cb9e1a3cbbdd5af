"""One transition table per kind of batch, one transition() for both: every move the table
does not allow is refused with its kind's one code; every refusal of the feature is a code."""

from __future__ import annotations

import pytest

from app.core.errors import Conflict
from app.remittances.lifecycle import (
    AFFILIATION,
    REMITTANCE,
    AffiliationStatus,
    BatchStatus,
    require,
    transition,
)
from app.remittances.models import AffiliationBatch, RemittanceBatch
from tests.remittances.factories import make_fund, make_member, owe
from tests.remittances.test_rules import NOV, create

B, A = BatchStatus, AffiliationStatus

# (from, to): the moves today's rules allow, written out so a change to a table is seen here
ALLOWED = {
    RemittanceBatch: {
        (B.draft, B.sealed),
        (B.draft, B.cancelled),
        (B.sealed, B.submitted),
        (B.submitted, B.acknowledged),
        (B.acknowledged, B.acknowledged),  # the fund's answer sent again
        (B.acknowledged, B.settled),
    },
    AffiliationBatch: {
        (A.open, A.submitted),
        (A.open, A.acknowledged),  # answered from the file, before any submission
        (A.submitted, A.acknowledged),
        (A.acknowledged, A.acknowledged),
    },
}


def test_each_kind_of_batch_has_its_table() -> None:
    assert RemittanceBatch.lifecycle is REMITTANCE and AffiliationBatch.lifecycle is AFFILIATION
    for kind, allowed in ALLOWED.items():
        table = kind.lifecycle
        assert {(s, to) for to, sources in table.moves.items() for s in sources} == allowed


@pytest.mark.parametrize(
    "kind", [RemittanceBatch, AffiliationBatch], ids=["remittance", "affiliation"]
)
def test_transition_refuses_every_move_its_table_does_not_allow(kind) -> None:  # type: ignore[no-untyped-def]
    table = kind.lifecycle
    for start in table.statuses:
        for to in table.statuses:
            batch = kind(number=7, status=start.value)
            if (start, to) in ALLOWED[kind]:
                transition(batch, to)
                assert batch.status == to.value
                if start != to:
                    assert getattr(batch, f"{to.value}_at") is not None
                continue
            with pytest.raises(Conflict) as refused:
                transition(batch, to)
            assert batch.status == start.value  # nothing moved
            assert refused.value.code == table.refusal.code
            params = refused.value.message.params
            assert params["reference"] == batch.reference and params["status"] == start
            with pytest.raises(Conflict):
                require(batch, to)


def test_the_refusal_reads_as_before() -> None:
    batch = RemittanceBatch(number=3, status="sealed")
    with pytest.raises(Conflict) as refused:
        transition(batch, B.sealed)
    assert refused.value.code == "batch.wrong_status"
    assert refused.value.detail == (
        "batch RB000003 is sealed: only a batch that is draft can be sealed"
    )
    batch = RemittanceBatch(number=3, status="draft")
    with pytest.raises(Conflict) as refused:
        transition(batch, B.acknowledged)
    assert refused.value.detail == (
        "batch RB000003 is draft: only a batch that is submitted or acknowledged can be "
        "acknowledged"
    )
    assert refused.value.message.plain_params() == {
        "reference": "RB000003",
        "status": "draft",
        "allowed": "submitted or acknowledged",
        "action": "acknowledged",
    }
    affiliation = AffiliationBatch(number=4, status="submitted")
    with pytest.raises(Conflict) as refused:
        transition(affiliation, A.submitted)
    assert refused.value.code == "affiliation_batch.wrong_status"
    assert refused.value.detail == (
        "affiliation batch AF000004 is submitted: only an open one is submitted"
    )


def _problem(r, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return r.json()  # type: ignore[no-any-return]


def test_the_api_answers_each_refusal_with_its_code(client, org, books) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        fund = make_fund(s, "FUND")
        make_fund(s, "EMPTY")
        m = make_member(s, "M-1", affiliations={"FUND": "F-1"})
        other = make_member(s, "M-2")
        owe(s, m, fund, 10000, *NOV)
        other_id = str(other.id)
    h = org.headers("treasurer")
    bid = create(client, org, "FUND")

    r = client.post(
        "/api/v1/remittances", json={"fund_code": "EMPTY", "through": "2026-11-30"}, headers=h
    )
    body = _problem(r, 409)
    assert body["code"] == "batch.nothing_owed"
    assert body["params"] == {"fund": "EMPTY", "day": "2026-11-30"}
    r = client.post(
        "/api/v1/remittances", json={"fund_code": "NOPE", "through": "2026-11-30"}, headers=h
    )
    error = _problem(r, 422)["errors"][0]
    assert (error["field"], error["code"]) == ("fund_code", "fund.unknown_code")
    assert error["message"] == "no fund with code 'NOPE' in this organisation"

    r = client.get(f"/api/v1/remittances/{bid}/file", headers=h)
    body = _problem(r, 409)
    assert (body["code"], body["params"]) == (
        "batch.no_file",
        {"reference": "RB000001", "status": "draft"},
    )
    assert body["detail"] == "batch RB000001 is draft: seal it to have its file"

    assert client.post(f"/api/v1/remittances/{bid}/seal", headers=h).status_code == 200
    body = _problem(client.post(f"/api/v1/remittances/{bid}/seal", headers=h), 409)
    assert body["code"] == "batch.wrong_status"
    assert body["params"] == {
        "reference": "RB000001",
        "status": "sealed",
        "allowed": "draft",
        "action": "sealed",
    }
    assert body["detail"] == "batch RB000001 is sealed: only a batch that is draft can be sealed"
    body = _problem(client.post(f"/api/v1/remittances/{bid}/cancel", headers=h), 409)
    assert body["code"] == "batch.wrong_status" and body["params"]["action"] == "cancelled"

    assert client.post(f"/api/v1/remittances/{bid}/submit", headers=h).status_code == 200
    twice = {
        "lines": [
            {"end_to_end_id": "RB000001-000001", "status": "accepted"},
            {"end_to_end_id": "RB000001-000001", "status": "accepted"},
        ]
    }
    r = client.post(f"/api/v1/remittances/{bid}/acknowledgement", json=twice, headers=h)
    error = _problem(r, 422)["errors"][0]
    assert (error["field"], error["code"]) == ("lines.1.end_to_end_id", "answer.line_twice")
    unknown = {"lines": [{"end_to_end_id": "RB000001-000099", "status": "accepted"}]}
    r = client.post(f"/api/v1/remittances/{bid}/acknowledgement", json=unknown, headers=h)
    assert _problem(r, 422)["errors"][0]["code"] == "answer.no_line"
    reasonless = {"lines": [{"end_to_end_id": "RB000001-000001", "status": "rejected"}]}
    r = client.post(f"/api/v1/remittances/{bid}/acknowledgement", json=reasonless, headers=h)
    assert _problem(r, 422)["errors"][0]["code"] == "answer.reason_missing"
    rejected = {
        "lines": [{"end_to_end_id": "RB000001-000001", "status": "rejected", "reason": "x"}]
    }
    r = client.post(f"/api/v1/remittances/{bid}/acknowledgement", json=rejected, headers=h)
    assert r.status_code == 200, r.text
    accepted = {"lines": [{"end_to_end_id": "RB000001-000001", "status": "accepted"}]}
    r = client.post(f"/api/v1/remittances/{bid}/acknowledgement", json=accepted, headers=h)
    body = _problem(r, 409)
    assert body["code"] == "line.decided"
    assert body["params"] == {"line": "RB000001-000001", "status": "rejected", "wanted": "accepted"}
    settle = {"amount": "100.00", "settled_on": "2026-12-01", "reference": "x"}
    r = client.post(f"/api/v1/remittances/{bid}/settlement", json=settle, headers=h)
    assert _problem(r, 409)["code"] == "batch.nothing_to_settle"

    # affiliations
    r = client.post(
        "/api/v1/affiliations", json={"fund_code": "FUND", "member_ids": [other_id]}, headers=h
    )
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    r = client.post(
        "/api/v1/affiliations", json={"fund_code": "FUND", "member_ids": [other_id]}, headers=h
    )
    assert _problem(r, 409)["code"] == "affiliation.already_waiting"
    assert client.post(f"/api/v1/affiliations/{aid}/submit", headers=h).status_code == 200
    body = _problem(client.post(f"/api/v1/affiliations/{aid}/submit", headers=h), 409)
    assert body["code"] == "affiliation_batch.wrong_status"
    assert body["params"] == {"reference": "AF000001", "status": "submitted"}
    payment = {"amount": "10.00", "paid_on": "2026-12-01"}
    r = client.post(f"/api/v1/affiliations/{aid}/commission-payment", json=payment, headers=h)
    assert _problem(r, 409)["code"] == "commission.not_answered"
    number_missing = {"lines": [{"member_id": other_id, "status": "accepted"}]}
    r = client.post(f"/api/v1/affiliations/{aid}/acknowledgement", json=number_missing, headers=h)
    error = _problem(r, 422)["errors"][0]
    assert (error["field"], error["code"]) == (
        "lines.0.affiliation_number",
        "affiliation.number_missing",
    )


def test_a_fund_offices_refusals_are_codes_too(client, org, books) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        make_fund(s, "FUND")
        make_fund(s, "OTHER")
    fo = org.headers("fund_office")
    body = _problem(client.get("/api/v1/funds/OTHER/remittances", headers=fo), 404)
    assert (body["code"], body["detail"]) == ("fund.not_found", "no fund 'OTHER'")
    r = client.get("/api/v1/remittances/01890000-0000-7000-8000-000000000000", headers=fo)
    assert _problem(r, 404)["code"] == "batch.not_found"
    r = client.get("/api/v1/affiliations/01890000-0000-7000-8000-000000000000", headers=fo)
    assert _problem(r, 404)["code"] == "affiliation_batch.not_found"
