"""Collections' refusals are codes with parameters (problem+json `code` and `params`, and per
row or item `code` beside the English `message`), and each rule is said by one place: the
receipt checks run for every way a receipt comes in, the collector's scope for every caller."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest
from sqlalchemy import select

from app.collections import access, service
from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from app.core.deps import Principal
from app.core.errors import Forbidden
from app.core.roles import Role
from app.identity.models import ApiKey
from tests.collections.factories import add_dues, standard_book
from tests.collections.test_cash_and_reports import open_bank
from tests.collections.test_imports import upload
from tests.collections.test_receipts_api import AT, receipt


def test_reversing_twice_is_receipt_already_reversed_with_its_number(
    client, org, session_factory
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    h = org.headers("treasurer")
    r = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(book.members["M-001"])}, "5.00"),
        headers=h,
    )
    assert r.status_code == 201, r.text
    url = f"/api/v1/receipts/{r.json()['id']}/reverse"
    assert client.post(url, json={"reason": "typo"}, headers=h).status_code == 201
    again = client.post(url, json={"reason": "typo"}, headers=h)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    body = again.json()
    assert body["code"] == "receipt.already_reversed"
    assert body["params"] == {"number": str(r.json()["receipt_number"])}
    assert body["detail"] == f"receipt {r.json()['receipt_number']} was already reversed"


def test_field_refusals_of_a_receipt_carry_their_codes(client, org, session_factory) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    h = org.headers("treasurer")
    m1 = str(book.members["M-001"])
    cases = [
        (receipt({"member_id": m1}, "0.00"), "amount", "field.not_positive"),
        (receipt({"member_id": m1}, "1.001"), "amount", "money.too_many_decimals"),
        (
            receipt({"member_id": m1}, "1.00", currency="USD"),
            "currency",
            "receipt.not_book_currency",
        ),
        (receipt({}, "1.00"), "member_id", "receipt.one_payer"),
        (
            receipt({"member_id": str(uuid.uuid4())}, "1.00"),
            "member_id",
            "member.not_in_organisation",
        ),
        (receipt({"unit_id": str(uuid.uuid4())}, "1.00"), "unit_id", "payer.no_such_unit"),
        (
            receipt({"member_id": m1}, "1.00", received_at="2099-01-01T00:00:00Z"),
            "received_at",
            "field.in_future",
        ),
    ]
    for body, field, code in cases:
        r = client.post("/api/v1/receipts", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        errors = r.json()["errors"]
        assert {"field": field, "code": code} == {
            "field": errors[0]["field"],
            "code": errors[0]["code"],
        }, errors
        assert r.json()["code"] == code
    # a parameter: the book currency
    r = client.post(
        "/api/v1/receipts", json=receipt({"member_id": m1}, "1.00", currency="USD"), headers=h
    )
    assert r.json()["errors"][0]["params"] == {"currency": "DOP"}
    assert r.json()["errors"][0]["message"] == "receipts are taken in DOP"


def test_scope_refusals_carry_their_codes(client, org, session_factory) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    m1 = str(book.members["M-001"])
    other = str(uuid.uuid4())
    r = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": m1}, "1.00", collector_id=other),
        headers=org.headers("collector"),
    )
    assert r.status_code == 403 and r.json()["code"] == "receipt.not_own_collector"
    assert r.json()["detail"] == "a collector posts and sees its own receipts only"
    listed = client.get(f"/api/v1/receipts?collector_id={other}", headers=org.headers("collector"))
    assert listed.status_code == 403 and listed.json()["code"] == "receipt.not_own_collector"
    sheet = client.post(
        "/api/v1/collection-sheets",
        json={"collected_on": "2026-11-20", "receipts": [{}]},
        headers=org.headers("treasurer"),
    )
    assert sheet.status_code == 422 and sheet.json()["code"] == "sheet.collector_missing"
    bank = open_bank(client, org)
    handover = client.post(
        "/api/v1/handovers",
        json={
            "collector_id": other,
            "amount": "1.00",
            "currency": "DOP",
            "to_account_id": bank,
            "handed_over_at": AT,
            "reference": "h",
        },
        headers=org.headers("collector"),
    )
    assert handover.status_code == 403 and handover.json()["code"] == "handover.not_own_collector"
    missing = client.get(f"/api/v1/receipts/{other}", headers=org.headers("treasurer"))
    assert missing.status_code == 404 and missing.json()["code"] == "receipt.not_found"
    assert missing.json()["params"] == {"id": other}


def test_handover_and_report_refusals_carry_their_codes(client, org, session_factory) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": str(book.members["M-001"])}, "100.00"),
        headers=org.headers("collector"),
    )
    (collector,) = client.get("/api/v1/collectors", headers=org.headers("treasurer")).json()[
        "items"
    ]
    base = {
        "collector_id": collector["id"],
        "currency": "DOP",
        "to_account_id": open_bank(client, org),
        "handed_over_at": AT,
        "reference": "h",
    }
    h = org.headers("treasurer")
    too_much = client.post("/api/v1/handovers", json={**base, "amount": "500.00"}, headers=h)
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "handover.more_than_held"
    assert too_much.json()["errors"][0]["params"] == {"held": "10000"}
    counted = client.post(
        "/api/v1/handovers",
        json={**base, "amount": "10.00", "counted_amount": "100.00"},
        headers=h,
    )
    assert counted.json()["code"] == "handover.too_much_counted"
    assert counted.json()["errors"][0]["params"] == {"amount": "10000", "factor": "2"}
    report = client.get("/api/v1/reports/collections?from=2026-11-20&to=2026-11-01", headers=h)
    assert report.status_code == 422 and report.json()["code"] == "report.to_before_from"


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("0.00", "field.not_positive"),
        ("1.001", "money.too_many_decimals"),
        ("x", None),
    ],
)
def test_a_bad_amount_is_refused_alike_by_every_way_in(
    client, org, session_factory, amount, code
) -> None:  # type: ignore[no-untyped-def]
    """One check for every caller: the single receipt, a sheet's item and a CSV row say the
    same code for the same bad amount."""
    book = standard_book(session_factory, org)
    add_dues(
        session_factory,
        book,
        "monthly",
        ("member", book.members["M-001"]),
        date(2026, 9, 1),
        1,
        30000,
    )
    m1 = str(book.members["M-001"])
    single = client.post(
        "/api/v1/receipts",
        json=receipt({"member_id": m1}, amount),
        headers=org.headers("collector"),
    )
    assert single.status_code == 422
    (said,) = [e for e in single.json()["errors"] if e["field"] == "amount"]
    sheet = client.post(
        "/api/v1/collection-sheets",
        json={
            "collected_on": "2026-11-20",
            "receipts": [{"client_id": "c1", **receipt({"member_id": m1}, amount)}],
        },
        headers=org.headers("collector"),
    )
    assert sheet.status_code == 200, sheet.text
    (item,) = sheet.json()["results"]
    assert item["status"] == "rejected"
    csv = (
        f"client_id,member_id,amount,currency,received_at,channel\nr1,{m1},{amount},DOP,{AT},cash\n"
    ).encode()
    imported = upload(client, org, csv, role="collector")
    assert imported.status_code == 200, imported.text
    (row,) = imported.json()["results"]
    assert row["status"] == "rejected"
    for errors in (item["errors"], row["errors"]):
        (same,) = [e for e in errors if e["field"] == "amount"]
        assert same["code"] == said["code"]
        assert code is None or said["code"] == code  # (text that is no amount: the schema's)
        assert same["message"] == said["message"]
        assert same.get("params") == said.get("params")


def test_the_receipt_check_is_the_services_for_any_caller() -> None:
    """A caller that is neither the API nor a page (a phone's sync, a mobile-money match)
    gets its draft from the same check, or the same field errors."""
    raw = service.ReceiptInput(
        member_id=None,
        unit_id=None,
        amount="-1",
        currency="DOP",
        received_at=datetime(2026, 11, 20, 9, 30),
        channel="gold",
        reference="x" * 121,
    )
    checked = service.check_receipt(raw, book_currency="DOP", collector_id=None)
    assert isinstance(checked, list)
    assert [(e.field, e.message.code) for e in checked] == [
        ("member_id", "receipt.one_payer"),
        ("amount", "money.negative"),
        ("received_at", "field.timezone_aware"),
        ("channel", "receipt.unknown_channel"),
        ("reference", "field.max_chars"),
    ]


def test_a_collector_naming_another_is_refused_by_the_one_rule(session_factory, org) -> None:  # type: ignore[no-untyped-def]
    """The API router and the pages both ask `access.acting_collector` (through
    `service.record_receipt`): a collector naming another collector is one refusal."""
    with unit_of_work(session_factory) as session:
        bind_organisation(session, org.id)
        key = session.scalar(select(ApiKey).where(ApiKey.role == "collector"))
        assert key is not None
        who = Principal(
            organisation_id=org.id,
            organisation_code="X",
            currency="DOP",
            role=Role.collector,
            subject_kind="key",
            subject_id=key.id,
            name=key.name,
            fund_code=None,
            actor=CLI_ACTOR,
        )
        own = access.acting_collector(session, who, None)
        assert own is not None and access.acting_collector(session, who, own) == own
        with pytest.raises(Forbidden) as refused:
            access.acting_collector(session, who, uuid.uuid4())
        assert refused.value.code == access.OWN_RECEIPTS_ONLY.code
