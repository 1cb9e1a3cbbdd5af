"""Order of steps, bad input, idempotency, fund-office scope, netting, the reversal guard."""

from __future__ import annotations

from datetime import date

import pytest

from app.collections.service import run_reversal_guards
from app.core.database import unit_of_work
from app.core.errors import Conflict
from tests.remittances.conftest import balance, count
from tests.remittances.factories import make_fund, make_member, owe, undo

NOV = (date(2026, 11, 1), date(2026, 11, 30))


def two_funds(books):  # type: ignore[no-untyped-def]
    with books() as s:
        own = make_fund(s, "FUND")  # the fund the org's fund_office key is bound to
        other = make_fund(s, "OTHER")
        m = make_member(s, "M-1", affiliations={"FUND": "F-1", "OTHER": "O-1"})
        share = owe(s, m, own, 10000, *NOV)
        owe(s, m, other, 20000, *NOV)
        return share.id


def create(client, org, fund, **headers):  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/remittances",
        json={"fund_code": fund, "through": "2026-11-30"},
        headers=org.headers("treasurer", **headers),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_steps_out_of_order_are_409_and_write_nothing(client, org, books, engine) -> None:  # type: ignore[no-untyped-def]
    two_funds(books)
    h = org.headers("treasurer")
    bid = create(client, org, "FUND")
    assert client.post(f"/api/v1/remittances/{bid}/submit", headers=h).status_code == 409
    ack = {"lines": [{"end_to_end_id": "RB000001-000001", "status": "accepted"}]}
    assert (
        client.post(f"/api/v1/remittances/{bid}/acknowledgement", json=ack, headers=h).status_code
        == 409
    )
    settle = {"amount": "100.00", "settled_on": "2026-12-01", "reference": "x"}
    r = client.post(f"/api/v1/remittances/{bid}/settlement", json=settle, headers=h)
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    assert client.post(f"/api/v1/remittances/{bid}/seal", headers=h).status_code == 200
    assert (
        client.post(f"/api/v1/remittances/{bid}/settlement", json=settle, headers=h).status_code
        == 409
    )
    assert count(engine, "journal_entry", "kind LIKE 'remittance.%'") == 1


def test_bad_input_is_422_naming_the_field(client, org, books, engine) -> None:  # type: ignore[no-untyped-def]
    two_funds(books)
    h = org.headers("treasurer")
    cases = [
        ({"fund_code": "NOPE", "through": "2026-11-30"}, "fund_code"),
        ({"fund_code": "FUND", "through": "30/11/2026"}, "through"),
        ({"fund_code": "FUND", "through": "1999-12-31"}, "through"),
        ({"fund_code": "FUND"}, "through"),
        ({"fund_code": "FUND", "through": "2026-11-30", "extra": 1}, "extra"),
    ]
    for body, field in cases:
        r = client.post("/api/v1/remittances", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == field, r.text
    assert count(engine, "remittance_batch") == 0
    bid = create(client, org, "FUND")
    for path in ("seal", "submit"):
        assert client.post(f"/api/v1/remittances/{bid}/{path}", headers=h).status_code == 200
    bad_acks = [
        (
            {"lines": [{"end_to_end_id": "RB000001-000009", "status": "accepted"}]},
            "lines.0.end_to_end_id",
        ),
        ({"lines": [{"end_to_end_id": "RB000001-000001", "status": "rejected"}]}, "lines.0.reason"),
        ({"lines": [{"end_to_end_id": "RB000001-000001", "status": "maybe"}]}, "lines.0.status"),
        ({"lines": []}, "lines"),
        (
            {"lines": [{"end_to_end_id": "RB000001-000001", "status": "accepted"}] * 2},
            "lines.1.end_to_end_id",
        ),
    ]
    for body, field in bad_acks:
        r = client.post(f"/api/v1/remittances/{bid}/acknowledgement", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == field, r.text
    r = client.post(
        f"/api/v1/remittances/{bid}/acknowledgement",
        content=b"<not xml",
        headers={**h, "Content-Type": "application/xml"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    assert count(engine, "remittance_acknowledgement") == 0
    ok = {"lines": [{"end_to_end_id": "RB000001-000001", "status": "accepted"}]}
    assert (
        client.post(f"/api/v1/remittances/{bid}/acknowledgement", json=ok, headers=h).status_code
        == 200
    )
    for amount, why in [
        ("100.001", "at most 2 decimals"),
        ("0.00", "greater than zero"),
        ("-1.00", "negative"),
        (100, "decimal"),
    ]:
        r = client.post(
            f"/api/v1/remittances/{bid}/settlement",
            json={"amount": amount, "settled_on": "2026-12-01", "reference": "x"},
            headers=h,
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "amount", r.text
        assert why in r.json()["detail"], r.text
    assert count(engine, "journal_entry", "kind = 'remittance.settlement'") == 0


def test_retried_steps_post_once(client, org, books, engine) -> None:  # type: ignore[no-untyped-def]
    two_funds(books)
    bid = create(client, org, "FUND", **{"Idempotency-Key": "make-1"})
    again = client.post(
        "/api/v1/remittances",
        json={"fund_code": "FUND", "through": "2026-11-30"},
        headers=org.headers("treasurer", **{"Idempotency-Key": "make-1"}),
    )
    assert again.status_code == 201 and again.json()["id"] == bid
    assert again.headers.get("Idempotency-Replayed") == "true"
    h = org.headers("treasurer", **{"Idempotency-Key": "seal-1"})
    first = client.post(f"/api/v1/remittances/{bid}/seal", headers=h)
    second = client.post(f"/api/v1/remittances/{bid}/seal", headers=h)
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert count(engine, "journal_entry", "kind = 'remittance.seal'") == 1
    reused = client.post(
        "/api/v1/remittances",
        json={"fund_code": "OTHER", "through": "2026-11-30"},
        headers=org.headers("treasurer", **{"Idempotency-Key": "seal-1"}),
    )
    assert reused.status_code == 409
    assert count(engine, "remittance_batch") == 1


def test_fund_office_sees_and_acts_on_its_own_fund_only(client, org, make_org, books) -> None:  # type: ignore[no-untyped-def]
    two_funds(books)
    t = org.headers("treasurer")
    own, other = create(client, org, "FUND"), create(client, org, "OTHER")
    for bid in (own, other):
        client.post(f"/api/v1/remittances/{bid}/seal", headers=t)
        client.post(f"/api/v1/remittances/{bid}/submit", headers=t)
    fo = org.headers("fund_office")
    listed = client.get("/api/v1/funds/FUND/remittances?status=submitted", headers=fo)
    assert listed.status_code == 200 and [b["id"] for b in listed.json()["items"]] == [own]
    assert client.get("/api/v1/funds/OTHER/remittances", headers=fo).status_code == 404
    assert [b["id"] for b in client.get("/api/v1/remittances", headers=fo).json()["items"]] == [own]
    for path in ("", "/lines", "/file?format=csv", "/file?format=pain.001", "/file?format=json"):
        assert client.get(f"/api/v1/remittances/{own}{path}", headers=fo).status_code == 200, path
        assert client.get(f"/api/v1/remittances/{other}{path}", headers=fo).status_code == 404, path
    ack = {"lines": [{"end_to_end_id": "RB000002-000001", "status": "accepted"}]}
    assert (
        client.post(
            f"/api/v1/remittances/{other}/acknowledgement", json=ack, headers=fo
        ).status_code
        == 404
    )
    ack = {"lines": [{"end_to_end_id": "RB000001-000001", "status": "accepted"}]}
    assert (
        client.post(f"/api/v1/remittances/{own}/acknowledgement", json=ack, headers=fo).status_code
        == 200
    )
    settle = {"amount": "100.00", "settled_on": "2026-12-01", "reference": "CNSS-REC-1"}
    assert (
        client.post(f"/api/v1/remittances/{other}/settlement", json=settle, headers=fo).status_code
        == 404
    )
    assert (
        client.post(f"/api/v1/remittances/{own}/settlement", json=settle, headers=fo).status_code
        == 200
    )
    report = client.get("/api/v1/reports/funds", headers=fo).json()["funds"]
    assert [f["fund_code"] for f in report] == ["FUND"]
    # a fund office prepares nothing; a collector sees nothing
    assert client.post(f"/api/v1/remittances/{own}/seal", headers=fo).status_code == 403
    assert (
        client.post(
            "/api/v1/remittances", json={"fund_code": "FUND", "through": "2026-11-30"}, headers=fo
        ).status_code
        == 403
    )
    assert (
        client.get(f"/api/v1/remittances/{own}", headers=org.headers("collector")).status_code
        == 403
    )
    # another organisation's batch is 404 for everyone there
    stranger = make_org("STRANGER", "DOP")
    assert (
        client.get(f"/api/v1/remittances/{own}", headers=stranger.headers("treasurer")).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/v1/remittances/{other}/settlement",
            json=settle,
            headers=stranger.headers("treasurer"),
        ).status_code
        == 404
    )


def test_cancel_frees_lines_and_netted_periods_are_claimed_without_a_line(
    client, org, books, engine
) -> None:  # type: ignore[no-untyped-def]
    with books() as s:
        fund = make_fund(s, "FUND")
        a, b = make_member(s, "M-1"), make_member(s, "M-2")
        gone = owe(s, a, fund, 5000, *NOV)
        undo(s, gone, fund, a)
        owe(s, b, fund, 7000, *NOV)
    h = org.headers("treasurer")
    bid = create(client, org, "FUND")
    batch = client.get(f"/api/v1/remittances/{bid}", headers=h).json()
    assert (batch["line_count"], batch["control_sum"]) == (1, "70.00")
    assert count(engine, "remittance_share", "released_at IS NULL") == 3  # the netted pair too
    r = client.post(f"/api/v1/remittances/{bid}/cancel", json={"reason": "wrong date"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert count(engine, "remittance_share", "released_at IS NULL") == 0
    assert balance(client, org, "FUND:FUND:OWED") == "70.00"
    again = create(client, org, "FUND")
    assert client.get(f"/api/v1/remittances/{again}", headers=h).json()["control_sum"] == "70.00"


def test_reversal_guard_refuses_shares_in_a_live_batch(client, org, books, session_factory) -> None:  # type: ignore[no-untyped-def]
    share_id = two_funds(books)
    with unit_of_work(session_factory, org.id) as s:
        run_reversal_guards(s, [share_id])  # free: allowed
    bid = create(client, org, "FUND")
    with (
        unit_of_work(session_factory, org.id) as s,
        pytest.raises(Conflict, match="draft remittance batch RB000001"),
    ):
        run_reversal_guards(s, [share_id])
    client.post(f"/api/v1/remittances/{bid}/seal", headers=org.headers("treasurer"))
    with unit_of_work(session_factory, org.id) as s, pytest.raises(Conflict, match="sealed"):
        run_reversal_guards(s, [share_id])
