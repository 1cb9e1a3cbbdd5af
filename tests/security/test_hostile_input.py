"""The hostile-input catalogue: each input is refused with the right status and a problem
body naming the field, and NOTHING is written (every table's row count is unchanged).

Also the friendly side of hostile-looking input: Unicode and right-to-left names, CSV with
a BOM, semicolons, quotes and formula-looking cells are taken as text, exactly.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ledger.test_journal_api import open_accounts
from tests.security.helpers import table_counts

TOO_MANY = 10_000


@pytest.fixture
def world(client, make_org):  # type: ignore[no-untyped-def]
    org = make_org("AMUSSOL", "DOP")
    other = make_org("OTHERCOOP", "XOF")
    bank, fees = open_accounts(client, org, ("BANK", "asset"), ("FEES", "income"))
    (foreign,) = open_accounts(client, other, ("BANK", "asset"))
    member = client.post(
        "/api/v1/members",
        json={"member_number": "M-0001", "full_name": "Ana Pérez", "joined_on": "2026-01-05"},
        headers=org.headers(),
    )
    assert member.status_code == 201, member.text
    theirs = client.post(
        "/api/v1/members",
        json={"member_number": "T-0001", "full_name": "Awa Diop", "joined_on": "2026-01-05"},
        headers=other.headers(),
    )
    assert theirs.status_code == 201, theirs.text
    return {
        "org": org,
        "other": other,
        "bank": bank,
        "fees": fees,
        "foreign": foreign,
        "member": member.json()["id"],
        "their_member": theirs.json()["id"],
    }


def journal(w: dict[str, Any], amount: Any = "10.00", **override: Any) -> dict[str, Any]:
    body = {
        "description": "cotisation",
        "effective_on": "2026-11-20",
        "postings": [
            {"account_id": w["bank"], "amount": amount, "direction": "debit"},
            {"account_id": w["fees"], "amount": amount, "direction": "credit"},
        ],
    }
    body.update(override)
    return body


def receipt(w: dict[str, Any], **override: Any) -> dict[str, Any]:
    body = {
        "member_id": w["member"],
        "amount": "150.00",
        "currency": "DOP",
        "received_at": "2026-11-20T09:30:00-04:00",
        "channel": "cash",
    }
    body.update(override)
    return body


def _posting_amount(amount: Any):  # type: ignore[no-untyped-def]
    return lambda w: {"json": journal(w, amount)}


# (name, method, path, request builder, status, field the problem must name)
CASES: list[tuple[str, str, str, Any, int, str | None]] = [
    ("zero", "POST", "/api/v1/journal", _posting_amount("0.00"), 422, "postings.0.amount"),
    ("negative", "POST", "/api/v1/journal", _posting_amount("-5.00"), 422, "postings.0.amount"),
    (
        "too many decimals",
        "POST",
        "/api/v1/journal",
        _posting_amount("10.001"),
        422,
        "postings.0.amount",
    ),
    (
        "beyond int64",
        "POST",
        "/api/v1/journal",
        _posting_amount("92233720368547758.08"),
        422,
        "postings.0.amount",
    ),
    (
        "beyond 18 digits",
        "POST",
        "/api/v1/journal",
        _posting_amount("9" * 40),
        422,
        "postings.0.amount",
    ),
    ("NaN", "POST", "/api/v1/journal", _posting_amount("NaN"), 422, "postings.0.amount"),
    ("Infinity", "POST", "/api/v1/journal", _posting_amount("Infinity"), 422, "postings.0.amount"),
    (
        "-Infinity",
        "POST",
        "/api/v1/journal",
        _posting_amount("-Infinity"),
        422,
        "postings.0.amount",
    ),
    ("exponent", "POST", "/api/v1/journal", _posting_amount("1e3"), 422, "postings.0.amount"),
    ("JSON number", "POST", "/api/v1/journal", _posting_amount(10.0), 422, "postings.0.amount"),
    ("JSON null", "POST", "/api/v1/journal", _posting_amount(None), 422, "postings.0.amount"),
    (
        "Arabic-Indic digits",
        "POST",
        "/api/v1/journal",
        _posting_amount("\u0661\u0660.\u0660\u0660"),
        422,
        "postings.0.amount",
    ),
    (
        "trailing newline",
        "POST",
        "/api/v1/journal",
        _posting_amount("10.00\n"),
        422,
        "postings.0.amount",
    ),
    (
        "decimal comma",
        "POST",
        "/api/v1/journal",
        _posting_amount("10,00"),
        422,
        "postings.0.amount",
    ),
    (
        "unbalanced",
        "POST",
        "/api/v1/journal",
        lambda w: {
            "json": {
                **journal(w),
                "postings": [
                    journal(w)["postings"][0],
                    {**journal(w)["postings"][1], "amount": "9.99"},
                ],
            }
        },
        422,
        "postings",
    ),
    (
        "date far future",
        "POST",
        "/api/v1/journal",
        lambda w: {"json": journal(w, effective_on="9999-12-31")},
        422,
        "effective_on",
    ),
    (
        "date far past",
        "POST",
        "/api/v1/journal",
        lambda w: {"json": journal(w, effective_on="0001-01-01")},
        422,
        "effective_on",
    ),
    (
        "impossible date",
        "POST",
        "/api/v1/journal",
        lambda w: {"json": journal(w, effective_on="2026-02-30")},
        422,
        "effective_on",
    ),
    (
        "unknown account",
        "POST",
        "/api/v1/journal",
        lambda w: {
            "json": {
                **journal(w),
                "postings": [
                    {
                        **journal(w)["postings"][0],
                        "account_id": "00000000-0000-7000-8000-000000000000",
                    },
                    journal(w)["postings"][1],
                ],
            }
        },
        422,
        "postings.0.account_id",
    ),
    (
        "another organisation's account",
        "POST",
        "/api/v1/journal",
        lambda w: {
            "json": {
                **journal(w),
                "postings": [
                    {**journal(w)["postings"][0], "account_id": w["foreign"]},
                    journal(w)["postings"][1],
                ],
            }
        },
        422,
        "postings.0.account_id",
    ),
    (
        "not a uuid",
        "POST",
        "/api/v1/journal",
        lambda w: {
            "json": {
                **journal(w),
                "postings": [
                    {**journal(w)["postings"][0], "account_id": "'; DROP TABLE posting; --"},
                    journal(w)["postings"][1],
                ],
            }
        },
        422,
        "postings.0.account_id",
    ),
    (
        "10,000 postings",
        "POST",
        "/api/v1/journal",
        lambda w: {"json": {**journal(w), "postings": journal(w)["postings"] * (TOO_MANY // 2)}},
        422,
        "postings",
    ),
    (
        "unknown field",
        "POST",
        "/api/v1/journal",
        lambda w: {"json": {**journal(w), "posted_by": "admin"}},
        422,
        "posted_by",
    ),
    (
        "NUL in text",
        "POST",
        "/api/v1/journal",
        lambda w: {"json": journal(w, description="cotisation\u0000")},
        422,
        "description",
    ),
    (
        "description too long",
        "POST",
        "/api/v1/journal",
        lambda w: {"json": journal(w, description="x" * 501)},
        422,
        "description",
    ),
    (
        "malformed JSON",
        "POST",
        "/api/v1/journal",
        lambda w: {
            "content": b'{"description": "x", ',
            "headers": {"Content-Type": "application/json"},
        },
        422,
        "body",
    ),
    ("JSON array", "POST", "/api/v1/journal", lambda w: {"json": [journal(w)]}, 422, "body"),
    (
        "wrong content type",
        "POST",
        "/api/v1/journal",
        lambda w: {
            "content": json.dumps(journal(w)).encode(),
            "headers": {"Content-Type": "text/plain"},
        },
        422,
        "body",
    ),
    (
        "form instead of JSON",
        "POST",
        "/api/v1/journal",
        lambda w: {"data": {"description": "x"}},
        422,
        "body",
    ),
    (
        "body over the size limit",
        "POST",
        "/api/v1/journal",
        lambda w: {
            "content": b"{" + b" " * (9 * 1024 * 1024) + b"}",
            "headers": {"Content-Type": "application/json"},
        },
        413,
        None,
    ),
    (
        "idempotency key too long",
        "POST",
        "/api/v1/journal",
        lambda w: {"json": journal(w), "headers": {"Idempotency-Key": "k" * 256}},
        422,
        "Idempotency-Key",
    ),
    # accounts
    (
        "unknown currency",
        "POST",
        "/api/v1/accounts",
        lambda w: {"json": {"code": "X1", "name": "x", "type": "asset", "currency": "ZZZ"}},
        422,
        "currency",
    ),
    (
        "lower-case currency",
        "POST",
        "/api/v1/accounts",
        lambda w: {"json": {"code": "X1", "name": "x", "type": "asset", "currency": "dop"}},
        422,
        "currency",
    ),
    (
        "unknown account type",
        "POST",
        "/api/v1/accounts",
        lambda w: {"json": {"code": "X1", "name": "x", "type": "magic", "currency": "DOP"}},
        422,
        "type",
    ),
    (
        "formula as account code",
        "POST",
        "/api/v1/accounts",
        lambda w: {
            "json": {"code": "=cmd|' /C calc'!A0", "name": "x", "type": "asset", "currency": "DOP"}
        },
        422,
        "code",
    ),
    # receipts
    (
        "receipt zero",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, amount="0.00")},
        422,
        "amount",
    ),
    (
        "receipt negative",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, amount="-150.00")},
        422,
        "amount",
    ),
    (
        "receipt decimals",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, amount="150.005")},
        422,
        "amount",
    ),
    (
        "receipt wrong currency",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, currency="XOF", amount="150")},
        422,
        "currency",
    ),
    (
        "receipt naive instant",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, received_at="2026-11-20T09:30:00")},
        422,
        "received_at",
    ),
    (
        "receipt far future",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, received_at="9999-01-01T00:00:00Z")},
        422,
        "received_at",
    ),
    (
        "receipt unknown member",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, member_id="00000000-0000-7000-8000-000000000000")},
        422,
        "member_id",
    ),
    (
        "receipt NaN",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, amount="NaN")},
        422,
        "amount",
    ),
    (
        "receipt unknown channel",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, channel="crypto")},
        422,
        "channel",
    ),
    (
        "receipt beyond int64",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, amount="92233720368547758.08")},
        422,
        "amount",
    ),
    (
        "receipt Infinity",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, amount="Infinity")},
        422,
        "amount",
    ),
    (
        "receipt far past",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, received_at="0001-01-01T00:00:00Z")},
        422,
        "received_at",
    ),
    (
        # refused exactly like an unknown member: no hint that it exists elsewhere
        "receipt another organisation's member",
        "POST",
        "/api/v1/receipts",
        lambda w: {"json": receipt(w, member_id=w["their_member"])},
        422,
        "member_id",
    ),
    (
        "receipt malformed JSON",
        "POST",
        "/api/v1/receipts",
        lambda w: {
            "content": b'{"amount": "150.00",',
            "headers": {"Content-Type": "application/json"},
        },
        422,
        "body",
    ),
    (
        "receipt wrong content type",
        "POST",
        "/api/v1/receipts",
        lambda w: {
            "content": json.dumps(receipt(w)).encode(),
            "headers": {"Content-Type": "text/plain"},
        },
        422,
        "body",
    ),
    # collection sheets
    (
        "sheet over the size limit",
        "POST",
        "/api/v1/collection-sheets",
        lambda w: {
            "content": b"{" + b" " * (9 * 1024 * 1024) + b"}",
            "headers": {"Content-Type": "application/json"},
        },
        413,
        None,
    ),
    (
        "sheet malformed JSON",
        "POST",
        "/api/v1/collection-sheets",
        lambda w: {
            "content": b'{"collected_on": "2026-11-20", "receipts": [',
            "headers": {"Content-Type": "application/json"},
        },
        422,
        "body",
    ),
    # members
    (
        "member number as a formula",
        "POST",
        "/api/v1/members",
        lambda w: {"json": {"member_number": "=1+1", "full_name": "X", "joined_on": "2026-01-05"}},
        422,
        "member_number",
    ),
    (
        "member joined in year 10000",
        "POST",
        "/api/v1/members",
        lambda w: {
            "json": {"member_number": "M-0002", "full_name": "X", "joined_on": "10000-01-01"}
        },
        422,
        "joined_on",
    ),
    # remittances
    (
        "batch for an unknown fund",
        "POST",
        "/api/v1/remittances",
        lambda w: {"json": {"fund_code": "NOPE", "through": "2026-11-30"}},
        422,
        "fund_code",
    ),
    (
        "batch through an impossible date",
        "POST",
        "/api/v1/remittances",
        lambda w: {"json": {"fund_code": "FUND", "through": "2026-02-30"}},
        422,
        "through",
    ),
    (
        "seal an unknown batch",
        "POST",
        "/api/v1/remittances/00000000-0000-7000-8000-000000000000/seal",
        lambda w: {},
        404,
        None,
    ),
    (
        "seal a batch id that is not a uuid",
        "POST",
        "/api/v1/remittances/RB000001/seal",
        lambda w: {},
        422,
        "batch_id",
    ),
    # reads
    ("bad uuid in path", "GET", "/api/v1/accounts/not-a-uuid", lambda w: {}, 422, "account_id"),
    ("limit too large", "GET", "/api/v1/journal?limit=100000", lambda w: {}, 422, "limit"),
    ("limit zero", "GET", "/api/v1/journal?limit=0", lambda w: {}, 422, "limit"),
    ("forged cursor", "GET", "/api/v1/journal?cursor=eyJhIjoxfQ", lambda w: {}, 422, "cursor"),
    (
        "date overflow in query",
        "GET",
        "/api/v1/journal?from=99999-01-01",
        lambda w: {},
        422,
        "from",
    ),
    ("NUL in query", "GET", "/api/v1/members?q=%00", lambda w: {}, 422, "query"),
    (
        "NUL in sign-in form",
        "POST",
        "/api/v1/auth/token",
        lambda w: {"data": {"username": "ana\u0000", "password": "x"}},
        422,
        "form",
    ),
    (
        "sign-in without password",
        "POST",
        "/api/v1/auth/token",
        lambda w: {"data": {"username": "ana"}},
        422,
        "password",
    ),
]


def test_hostile_input_is_refused_and_writes_nothing(client, engine, world) -> None:  # type: ignore[no-untyped-def]
    """Every case of CASES, in one organisation set up once (the catalogue stays fast)."""
    failures = []
    for name, method, path, build, status, field in CASES:
        request = build(world)
        headers = {**world["org"].headers("treasurer"), **request.pop("headers", {})}
        before = table_counts(engine)
        r = client.request(method, path, headers=headers, **request)
        problem = r.json() if r.headers.get("content-type") == "application/problem+json" else {}
        if r.status_code != status:
            failures.append(f"{name}: {r.status_code}, wanted {status}: {r.text[:200]}")
        elif not problem or problem.get("status") != status:
            failures.append(f"{name}: not a problem+json answer: {r.text[:200]}")
        elif field is not None and (
            problem["errors"][0]["field"] != field or field not in problem["detail"]
        ):
            failures.append(f"{name}: names {problem['errors'][0]['field']!r}, wanted {field!r}")
        if table_counts(engine) != before:
            failures.append(f"{name}: something was written")
    assert len(CASES) >= 66
    assert not failures, "\n".join(failures)


def test_ten_thousand_item_sheet_is_refused_whole_and_writes_nothing(client, engine, world) -> None:  # type: ignore[no-untyped-def]
    item = {k: v for k, v in receipt(world).items()}
    items = [{**item, "client_id": f"c-{i}"} for i in range(TOO_MANY)]
    before = table_counts(engine)
    r = client.post(
        "/api/v1/collection-sheets",
        json={"collected_on": "2026-11-20", "receipts": items},
        headers=world["org"].headers("collector"),
    )
    assert r.status_code == 422, r.text[:300]
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 422 and r.json()["errors"][0]["field"] == "receipts"
    assert table_counts(engine) == before


def test_unicode_and_right_to_left_names_round_trip_exactly(client, engine, world) -> None:  # type: ignore[no-untyped-def]
    names = [
        "محمد عبد الله",
        "Zoë Ndiaye-Koné",
        "שרה כהן",
        "Nguyễn Thị Minh Khai",
        "\u202eevil\u202c name",
        "👩🏾‍🌾 Awa",
    ]
    h = world["org"].headers()
    for i, name in enumerate(names):
        r = client.post(
            "/api/v1/members",
            json={"member_number": f"U-{i}", "full_name": name, "joined_on": "2026-01-05"},
            headers=h,
        )
        assert r.status_code == 201, r.text
        got = client.get(f"/api/v1/members/{r.json()['id']}", headers=h).json()
        assert got["full_name"] == name
    found = client.get("/api/v1/members", params={"q": "محمد"}, headers=h).json()["items"]
    assert [m["full_name"] for m in found] == ["محمد عبد الله"]
    posted = client.post("/api/v1/journal", json=journal(world, description=names[0]), headers=h)
    assert posted.status_code == 201 and posted.json()["description"] == names[0]


def _csv(*lines: str, bom: bool = False, sep: str = ",") -> bytes:
    text = "\r\n".join(line.replace(",", sep) for line in lines) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


@pytest.mark.parametrize(("bom", "sep"), [(True, ","), (False, ";"), (True, ";")])
def test_csv_with_bom_semicolons_quotes_and_formulas_is_taken_as_text(
    client, engine, world, bom, sep
) -> None:  # type: ignore[no-untyped-def]
    header = "client_id,member_number,amount,currency,received_at,channel,reference"
    rows = [
        "c1,M-0001,150.00,DOP,2026-11-20T09:30:00-04:00,cash,=cmd|' /C calc'!A0",
        'c2,M-0001,75.00,DOP,2026-11-20T09:31:00-04:00,cash,"said ""hello"""',
        "c3,M-0001,-5.00,DOP,2026-11-20T09:32:00-04:00,cash,+SUM(A1:A9)",
    ]
    body = _csv(header, *rows, bom=bom, sep=sep)
    if sep == ";":  # the quoted cell keeps its own quotes
        body = body.replace(b'"said ""hello"""', b'"said ""hello"""')
    h = world["org"].headers("treasurer")
    r = client.post(
        "/api/v1/imports/receipts",
        files={"file": ("receipts.csv", body, "text/csv")},
        headers=h,
    )
    assert r.status_code in (200, 201), r.text[:500]
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created", "created", "rejected"], results
    assert results[2]["errors"][0]["field"] == "amount"
    refs = {
        x["reference"]
        for x in client.get(
            "/api/v1/receipts", params={"member_id": world["member"]}, headers=h
        ).json()["items"]
    }
    # stored exactly; every CSV export neutralises them (test_csv_formulas.py)
    assert refs == {"=cmd|' /C calc'!A0", 'said "hello"'}
