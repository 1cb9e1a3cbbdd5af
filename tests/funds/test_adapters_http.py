"""The http_json adapter against a real fund server on loopback: retries with backoff,
timeouts, refusals, duplicates, the batch id as idempotency key; and through the API."""

from __future__ import annotations

import time
from datetime import date

import pytest

from app.funds.adapters.http_json import HttpJsonAdapter
from app.funds.registry import DeliveryFailed
from tests.funds.test_adapters import document
from tests.remittances.conftest import balance, count
from tests.remittances.factories import Books, make_fund, make_member, owe
from tests.remittances.fund_server import FundServer, serve_fund  # noqa: F401

FAST = {"timeout_seconds": 0.5, "max_attempts": 3, "backoff_seconds": 0.05}


def config(server: FundServer, **extra: object) -> dict:  # type: ignore[type-arg]
    return HttpJsonAdapter().validate_config({"url": f"{server.url}/batches", **FAST, **extra})


def test_retries_then_delivers_with_one_idempotency_key(fund_server: FundServer) -> None:
    fund_server.script = ["fail", "fail", "ok"]
    fund_server.reject = {"RB000007-000002"}
    doc = document([15050, 2500, 100])
    delivery = HttpJsonAdapter().deliver(doc, config(fund_server, token="s3cret"))
    assert (delivery.outcome, delivery.attempts, delivery.reference) == (
        "delivered",
        3,
        "FUND-RB000007",
    )
    assert [r["key"] for r in fund_server.requests] == [str(doc.header.batch_id)] * 3
    assert {r["auth"] for r in fund_server.requests} == {"Bearer s3cret"}
    stored = fund_server.stored[str(doc.header.batch_id)]
    assert stored["batch"]["control_sum"] == "176.50" and len(stored["lines"]) == 3
    assert [(a.key, a.status) for a in delivery.line_answers] == [
        ("RB000007-000001", "accepted"),
        ("RB000007-000002", "rejected"),
        ("RB000007-000003", "accepted"),
    ]


def test_timeouts_are_bounded_and_reported(fund_server: FundServer) -> None:
    fund_server.script = ["slow", "slow", "slow"]
    fund_server.slow_seconds = 1.0
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match="after 3 attempt") as exc:
        HttpJsonAdapter().deliver(document([100]), config(fund_server))
    assert exc.value.attempts == 3 and len(fund_server.requests) == 3
    assert (
        time.monotonic() - started < 3 * 0.5 + 0.15 + 2
    )  # three timeouts and the backoff, no more
    assert fund_server.stored == {}


def test_a_refusal_is_not_retried(fund_server: FundServer) -> None:
    fund_server.script = ["refuse"]
    with pytest.raises(DeliveryFailed, match="refused the batch \\(HTTP 400\\)"):
        HttpJsonAdapter().deliver(document([100]), config(fund_server))
    assert len(fund_server.requests) == 1


@pytest.mark.parametrize("duplicate", ["conflict", "same"])
def test_a_lost_answer_then_a_duplicate_counts_as_delivered_once(
    fund_server: FundServer, duplicate: str
) -> None:
    fund_server.script = ["lost", "ok"]
    fund_server.duplicate = duplicate
    fund_server.slow_seconds = 1.0
    doc = document([100, 200])
    delivery = HttpJsonAdapter().deliver(doc, config(fund_server))
    assert delivery.outcome == "delivered" and delivery.attempts == 2
    assert list(fund_server.stored) == [str(doc.header.batch_id)]  # the fund has it once
    assert delivery.answer["http_status"] == (409 if duplicate == "conflict" else 200)


def test_submit_through_the_api_pushes_and_applies_the_answer(
    client, org, session_factory, engine, fund_server: FundServer
) -> None:  # type: ignore[no-untyped-def]
    books = Books(session_factory, org.id)
    with books() as s:
        fund = make_fund(
            s, "NSSF", adapter="http_json", config={"url": f"{fund_server.url}/batches", **FAST}
        )
        for n in range(3):
            owe(s, make_member(s, f"M-{n}"), fund, 1000, date(2026, 11, 1), date(2026, 11, 30))
    h = org.headers("treasurer")
    bid = client.post(
        "/api/v1/remittances", json={"fund_code": "NSSF", "through": "2026-11-30"}, headers=h
    ).json()["id"]
    client.post(f"/api/v1/remittances/{bid}/seal", headers=h)

    fund_server.script = ["fail", "fail", "fail"]
    r = client.post(f"/api/v1/remittances/{bid}/submit", headers=h)
    assert r.status_code == 502 and r.json()["type"].endswith("fund-unreachable"), r.text
    batch = client.get(f"/api/v1/remittances/{bid}", headers=h).json()
    assert batch["status"] == "sealed" and batch["delivery"]["outcome"] == "failed"
    assert count(engine, "audit_event", "action = 'remittance.delivery_failed'") == 1

    fund_server.reject = {"RB000001-000003"}
    r = client.post(f"/api/v1/remittances/{bid}/submit", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["delivery"]["outcome"] == "delivered"
        and body["delivery"]["reference"] == "FUND-RB000001"
    )
    assert (body["status"], body["accepted_count"], body["rejected_count"]) == (
        "acknowledged",
        2,
        1,
    )
    assert balance(client, org, "FUND:NSSF:OWED") == "10.00"
    assert balance(client, org, "FUND:NSSF:TRANSIT") == "20.00"
    assert client.post(f"/api/v1/remittances/{bid}/submit", headers=h).status_code == 409
    assert len(fund_server.stored) == 1


def test_affiliations_go_out_through_http_json(
    client, org, session_factory, fund_server: FundServer
) -> None:  # type: ignore[no-untyped-def]
    with Books(session_factory, org.id)() as s:
        make_fund(
            s,
            "NSSF",
            adapter="http_json",
            config={
                "url": f"{fund_server.url}/batches",
                "affiliations_url": f"{fund_server.url}/affiliations",
                "commission_per_affiliation": "100.00",
                **FAST,
            },
        )
        ids = [str(make_member(s, f"M-{n}").id) for n in range(2)]
    h = org.headers("treasurer")
    batch = client.post(
        "/api/v1/affiliations", json={"fund_code": "NSSF", "member_ids": ids}, headers=h
    ).json()
    r = client.post(f"/api/v1/affiliations/{batch['id']}/submit", headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["accepted_count"], r.json()["commission_total"]) == (
        "acknowledged",
        2,
        "200.00",
    )
    assert client.get(f"/api/v1/members/{ids[1]}", headers=h).json()["affiliations"] == {
        "NSSF": "N-M-1"
    }
    assert balance(client, org, "FUND:NSSF:COMMISSION_INCOME") == "200.00"
