"""The mpesa_c2b adapter (issue 14): Daraja's validation and confirmation calls as Safaricom
sends them, answered as Daraja expects; each confirmation kept once, matched or held in
suspense; callers outside the channel's networks refused and kept; the books verify."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import pytest

from app.core.database import unit_of_work
from app.payments.adapters.mpesa_c2b import trans_time
from tests.collections.factories import add_dues, standard_book
from tests.collections.test_receipts_api import count
from tests.collections.test_reversal_and_credit import clean_books, paid_of

PATH = "/api/v1/payment-channels"
SHORTCODE = "600984"


@pytest.fixture
def kes_org(make_org):  # type: ignore[no-untyped-def]
    return make_org("KCOOP", "KES")


def open_channel(client, org, config: dict, code: str = "PAYBILL"):  # type: ignore[no-untyped-def]
    r = client.post(
        PATH,
        json={"code": code, "adapter": "mpesa_c2b", "currency": "KES", "config": config},
        headers=org.headers("admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def paybill(client, kes_org, session_factory):  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, kes_org)
    return book, open_channel(client, kes_org, {"shortcode": SHORTCODE})


def daraja(
    trans_id: str,
    reference: str | None,
    amount: object = "150.00",
    *,
    msisdn: str = "2547*****149",
    when: str = "20261120091500",
    shortcode: str = SHORTCODE,
) -> dict:
    """A C2B body as Daraja sends it (the payer's number masked, as since 2021)."""
    return {
        "TransactionType": "Pay Bill",
        "TransID": trans_id,
        "TransTime": when,
        "TransAmount": amount,
        "BusinessShortCode": shortcode,
        "BillRefNumber": reference,
        "InvoiceNumber": "",
        "OrgAccountBalance": "49197.00",
        "ThirdPartyTransID": "",
        "MSISDN": msisdn,
        "FirstName": "John",
        "MiddleName": "",
        "LastName": "",
    }


def call(client, channel, step: str, body: dict):  # type: ignore[no-untyped-def]
    url = channel["inbound_url"].split("testserver", 1)[1]
    return client.post(
        f"{url}/{step}" if step else url,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )


def notifications(client, org, **params: str) -> list[dict]:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/payment-notifications", params=params, headers=org.headers())
    assert r.status_code == 200, r.text
    return r.json()["items"]


def suspense_balance(client, org, code: str = "PAYBILL") -> str:  # type: ignore[no-untyped-def]
    accounts = client.get("/api/v1/accounts", params={"limit": 500}, headers=org.headers()).json()
    (acc,) = [a for a in accounts["items"] if a["code"] == f"PAYCH:{code}:SUSPENSE"]
    return client.get(f"/api/v1/accounts/{acc['id']}/balance", headers=org.headers()).json()[
        "balance"
    ]


ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
REJECTED = {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}


def test_a_transtime_is_nairobi_time() -> None:
    assert trans_time("20261120091500") == datetime(2026, 11, 20, 6, 15, tzinfo=UTC)
    # just after midnight in Nairobi is the previous day in UTC (and in the Americas)
    assert trans_time("20270101000500") == datetime(2026, 12, 31, 21, 5, tzinfo=UTC)
    with pytest.raises(ValueError):
        trans_time("20261332250000")


def test_the_config_is_checked(client, kes_org) -> None:  # type: ignore[no-untyped-def]
    for config, field in (
        ({}, "config.shortcode"),
        ({"shortcode": "60-0984"}, "config.shortcode"),
        ({"shortcode": SHORTCODE, "allowed_networks": ["196.201.214.0/33"]}, "config.allowed_networks"),
        ({"shortcode": SHORTCODE, "allowed_networks": "196.201.214.0/24"}, "config.allowed_networks"),
        ({"shortcode": SHORTCODE, "refuse_unknown_reference": "yes"}, "config.refuse_unknown_reference"),
        ({"shortcode": SHORTCODE, "passkey": "x"}, "config.passkey"),
    ):  # fmt: skip
        r = client.post(
            PATH,
            json={"code": "PB", "adapter": "mpesa_c2b", "currency": "KES", "config": config},
            headers=kes_org.headers("admin"),
        )
        assert r.status_code == 422, (config, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    made = open_channel(
        client,
        kes_org,
        {"shortcode": 600984, "allowed_networks": ["196.201.214.200", "196.201.212.0/24"]},
    )
    assert made["config"] == {
        "shortcode": SHORTCODE,
        "allowed_networks": ["196.201.214.200/32", "196.201.212.0/24"],
        "refuse_unknown_reference": False,
    }


def test_validation_accepts_or_refuses_an_unknown_reference_per_setting(
    client, kes_org, paybill, engine
) -> None:  # type: ignore[no-untyped-def]
    _, channel = paybill
    # by default every payment is accepted: an unknown reference goes to suspense later
    assert call(client, channel, "validation", daraja("", "ZZ-404")).json() == ACCEPTED
    strict = open_channel(
        client, kes_org, {"shortcode": SHORTCODE, "refuse_unknown_reference": True}, "STRICT"
    )
    known = call(client, strict, "validation", daraja("SKL1", "m 001"))
    assert (known.status_code, known.json()) == (200, ACCEPTED)
    unknown = call(client, strict, "validation", daraja("SKL2", "ZZ-404"))
    assert (unknown.status_code, unknown.json()) == (200, REJECTED)
    # a validation keeps nothing and books nothing: the money has not moved
    assert count(engine, "payment_notification") == 0 and count(engine, "receipt") == 0


def test_a_confirmation_is_matched_once_at_the_providers_time(
    client, kes_org, paybill, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book, channel = paybill
    m1 = book.members["M-001"]
    add_dues(session_factory, book, "monthly", ("member", m1), date(2026, 9, 1), 2, 10000)
    r = call(client, channel, "confirmation", daraja("SKL3ABC123", " m-001 ", 150))
    assert (r.status_code, r.json()) == (200, ACCEPTED)
    (kept,) = notifications(client, kes_org)
    assert (kept["status"], kept["transaction_id"], kept["amount"], kept["currency"]) == (
        "matched",
        "SKL3ABC123",
        "150.00",
        "KES",
    )
    # 09:15 in Nairobi (UTC+3) is 06:15 UTC
    assert kept["occurred_at"].startswith("2026-11-20T06:15:00")
    assert kept["msisdn"] is None  # masked by Daraja: not a phone to match on
    receipt = client.get(f"/api/v1/receipts/{kept['receipt_id']}", headers=kes_org.headers()).json()
    assert (receipt["channel"], receipt["reference"], receipt["amount"]) == (
        "mobile_money",
        "SKL3ABC123",
        "150.00",
    )
    assert receipt["received_at"].startswith("2026-11-20T06:15:00")
    assert paid_of(engine) == [10000, 5000]
    # Daraja's retry of the same confirmation: the same answer, nothing written
    for _ in range(2):
        again = call(client, channel, "confirmation", daraja("SKL3ABC123", " m-001 ", "150.00"))
        assert (again.status_code, again.json()) == (200, ACCEPTED)
    assert count(engine, "payment_notification") == 1 and count(engine, "receipt") == 1
    assert paid_of(engine) == [10000, 5000]
    clean_books(session_factory, kes_org)


def test_an_unknown_reference_is_confirmed_and_held_in_suspense(
    client, kes_org, paybill, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    _, channel = paybill
    with unit_of_work(session_factory, kes_org.id) as session:
        from app.core.audit import CLI_ACTOR
        from app.members.schemas import MemberCreate
        from app.members.service import create_member

        create_member(
            session, CLI_ACTOR,
            MemberCreate(member_number="M-010", full_name="Wanjiku", joined_on=date(2026, 1, 1), phone="0712 345 149"),
        )  # fmt: skip
    # the money has moved: answered 0 although no payer is found
    held = call(client, channel, "confirmation", daraja("SKL4", "ZZ-404", "40.00"))
    assert (held.status_code, held.json()) == (200, ACCEPTED)
    # no reference and a masked number: not matched by the phone's last digits
    masked = call(client, channel, "confirmation", daraja("SKL5", "", "20.00"))
    assert masked.json() == ACCEPTED
    # a plain number is matched to the member's phone
    plain = call(
        client, channel, "confirmation", daraja("SKL6", None, "30.00", msisdn="254712345149")
    )
    assert plain.json() == ACCEPTED
    by_id = {n["transaction_id"]: n for n in notifications(client, kes_org)}
    assert {k: (n["status"], n["reason_code"]) for k, n in by_id.items()} == {
        "SKL4": ("suspense", "payment.no_payer"),
        "SKL5": ("suspense", "payment.no_payer"),
        "SKL6": ("matched", None),
    }
    assert suspense_balance(client, kes_org) == "60.00"
    # the same suspense notification again: the same answer, nothing new
    assert (
        call(client, channel, "confirmation", daraja("SKL4", "ZZ-404", "40.00")).json() == ACCEPTED
    )
    assert count(engine, "payment_notification") == 3 and count(engine, "receipt") == 1
    assert suspense_balance(client, kes_org) == "60.00"
    clean_books(session_factory, kes_org)


def test_what_is_not_darajas_is_refused_and_kept(
    client, kes_org, paybill, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    _, channel = paybill
    other = call(client, channel, "confirmation", daraja("SKL7", "M-001", shortcode="174379"))
    assert other.status_code == 400 and other.json()["ResultCode"] == "C2B00016"
    no_id = call(client, channel, "confirmation", {**daraja("", "M-001"), "TransID": ""})
    assert no_id.status_code == 400
    bad_time = call(client, channel, "confirmation", daraja("SKL8", "M-001", when="2026-11-20"))
    assert bad_time.status_code == 400
    no_step = call(client, channel, "", daraja("SKL9", "M-001"))
    assert no_step.status_code == 400
    url = channel["inbound_url"].split("testserver", 1)[1]
    junk = client.post(f"{url}/confirmation", content=b"<xml/>")
    assert junk.status_code == 400
    refused = notifications(client, kes_org, status="refused")
    assert sorted(n["reason_code"] for n in refused) == sorted(
        [
            "payment.other_shortcode",
            "payment.body_fields",
            "payment.body_fields",
            "payment.unknown_step",
            "payment.body_not_json",
        ]
    )
    assert count(engine, "receipt") == 0 and count(engine, "journal_entry") == 0
    # the real one after all that is still taken
    ok = call(client, channel, "confirmation", daraja("SKL7", "M-001"))
    assert ok.json() == ACCEPTED
    assert notifications(client, kes_org, status="matched")[0]["transaction_id"] == "SKL7"
    clean_books(session_factory, kes_org)


def test_a_caller_outside_the_allowed_networks_is_refused_and_kept(
    client, kes_org, live_server, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    standard_book(session_factory, kes_org)
    safaricom = open_channel(
        client, kes_org, {"shortcode": SHORTCODE, "allowed_networks": ["196.201.214.0/24"]}, "SAF"
    )
    local = open_channel(
        client, kes_org, {"shortcode": SHORTCODE, "allowed_networks": ["127.0.0.0/8"]}, "LOCAL"
    )

    def over_loopback(channel: dict, step: str, body: dict) -> httpx.Response:
        url = channel["inbound_url"].replace("http://testserver", live_server)
        return httpx.post(f"{url}/{step}", json=body, timeout=10)

    # the server sees 127.0.0.1: not in Safaricom's network
    for step in ("validation", "confirmation"):
        r = over_loopback(safaricom, step, daraja("SKLA", "M-001"))
        assert r.status_code == 401, r.text
    refused = notifications(client, kes_org, status="refused")
    assert [(n["channel"], n["reason_code"]) for n in refused] == [
        ("SAF", "payment.bad_signature"),
        ("SAF", "payment.bad_signature"),
    ]
    assert count(engine, "receipt") == 0
    # allowed from its network, over the same loopback
    assert over_loopback(local, "validation", daraja("SKLA", "M-001")).json() == ACCEPTED
    assert over_loopback(local, "confirmation", daraja("SKLA", "M-001")).json() == ACCEPTED
    assert [n["channel"] for n in notifications(client, kes_org, status="matched")] == ["LOCAL"]
    assert count(engine, "receipt") == 1
    clean_books(session_factory, kes_org)
