"""CSV uploads of receipts: the API (multipart) and the CLI (`coopledger receipts import`)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

from tests.collections.factories import add_dues, standard_book
from tests.collections.test_receipts_api import count
from tests.collections.test_reversal_and_credit import clean_books, paid_of

COMMA = (
    "client_id,member_number,unit_registration,amount,currency,received_at,channel,reference\n"
    "r1,M-001,,300.00,DOP,2026-11-20T08:00:00-04:00,cash,slip 1\n"
    "r2,,BUS-1,50.00,DOP,2026-11-20,mobile_money,\n"
    "\n"
    "r3,M-999,,10.00,DOP,2026-11-20,cash,\n"
    "r4,M-002,,10.001,DOP,2026-11-20,cash,\n"
    "r5,M-002,,15.00,,2026-11-20T10:00:00,bank,\n"
    "r6,M-002,,15.00,,2026-11-21,bank,\n"
)


def upload(client, org, text: bytes, role: str = "treasurer", **params: str):  # type: ignore[no-untyped-def]
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(
        f"/api/v1/imports/receipts{'?' + query if query else ''}",
        files={"file": ("receipts.csv", text, "text/csv")},
        headers=org.headers(role),
    )


def test_csv_rows_with_row_numbers_dry_run_then_real_then_again(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    add_dues(
        session_factory,
        book,
        "monthly",
        ("member", book.members["M-001"]),
        date(2026, 10, 1),
        1,
        30000,
    )
    dry = upload(client, org, COMMA.encode(), dry_run="true")
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["dry_run"] is True and (body["valid"], body["rejected"], body["created"]) == (
        3,
        3,
        0,
    )
    statuses = {r["row"]: r["status"] for r in body["results"]}
    assert statuses == {
        2: "valid",
        3: "valid",
        5: "rejected",
        6: "rejected",
        7: "rejected",
        8: "valid",
    }
    errors = {r["row"]: r["errors"][0]["field"] for r in body["results"] if r["errors"]}
    assert errors == {5: "member_number", 6: "amount", 7: "received_at"}
    # each row's error is a code with its parameters beside the English message
    said = {r["row"]: r["errors"][0] for r in body["results"] if r["errors"]}
    assert said[5]["code"] == "receipt_import.unknown_member"
    assert said[5]["params"] == {"id": "'M-999'"} and said[5]["message"] == "no member 'M-999'"
    assert said[6]["code"] == "money.too_many_decimals"
    assert said[6]["params"] == {"currency": "DOP", "count": "2"}
    assert said[7]["code"] == "field.timezone_aware"
    assert count(engine, "receipt") == 0 and count(engine, "journal_entry") == 0

    real = upload(client, org, COMMA.encode())
    body = real.json()
    assert (body["created"], body["rejected"]) == (3, 3), real.text
    numbers = [r["receipt_number"] for r in body["results"] if r["status"] == "created"]
    assert numbers == [1, 2, 3] and paid_of(engine) == [30000]
    again = upload(client, org, COMMA.encode()).json()
    assert (again["created"], again["duplicates"], again["rejected"]) == (0, 3, 3)
    assert count(engine, "receipt") == 3
    clean_books(session_factory, org)


def test_semicolon_bom_decimal_comma_and_collector_column(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    standard_book(session_factory, org)
    text = (
        "\ufeffclient_id;member_number;amount;received_at;channel;collector\n"
        "s1;M-001;150,50;2026-11-20;cash;collector key\n"
        "s2;M-002;20;2026-11-20;cash;nobody\n"
        "s3;M-002;1,5;2026-11-20;cash;\n"
    ).encode("utf-8")
    r = upload(client, org, text)
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["created", "rejected", "created"]
    assert res[1]["errors"][0]["field"] == "collector"
    assert res[1]["errors"][0]["code"] == "receipt_import.unknown_collector"
    assert res[1]["errors"][0]["message"] == "no collector named 'nobody'"
    receipts = client.get("/api/v1/receipts", headers=org.headers("treasurer")).json()["items"]
    by_client = {x["client_id"]: x for x in receipts}
    assert by_client["s1"]["amount"] == "150.50" and by_client["s1"]["collector_id"] is not None
    assert by_client["s3"]["amount"] == "1.50" and by_client["s3"]["collector_id"] is None
    # a collector's own upload is its own; naming another collector is refused per row
    mine = upload(
        client,
        org,
        b"client_id;member_number;amount;received_at;channel\nk1;M-001;5;2026-11-20;cash\n",
        role="collector",
    )
    assert mine.json()["created"] == 1


def test_unreadable_files_are_422_naming_file(client, org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    standard_book(session_factory, org)
    for content, why in [
        (b"", "empty"),
        (b"client_id,member_number,amount,received_at,channel,tip\n", "unknown column"),
        (b"client_id,member_number,amount\n", "no column"),
        (b"client_id,amount,received_at,channel\n", "payer"),
        (
            "client_id,member_number,amount,received_at,channel\nx,M-001,5,2026-11-20,cash\n".encode(
                "utf-16"
            ),
            "UTF-8",
        ),
    ]:
        r = upload(client, org, content)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "file" and why in r.json()["detail"], r.text
    r = client.post("/api/v1/imports/receipts", headers=org.headers("treasurer"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    assert count(engine, "receipt") == 0


def run_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": db_url, "COOPLEDGER_ENV": "development"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_import_dry_run_then_real(org, session_factory, engine, db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    standard_book(session_factory, org)
    path = tmp_path / "week.csv"
    path.write_text(
        "client_id,member_number,amount,received_at,channel\n"
        "w1,M-001,10.00,2026-11-20,cash\n"
        "w2,M-404,10.00,2026-11-20,cash\n"
    )
    dry = run_cli(
        db_url,
        "receipts",
        "import",
        str(path),
        "--org",
        org.code,
        "--dry-run",
        "--collector",
        "collector key",
    )
    assert dry.returncode == 1, dry.stderr
    assert "row 2: valid (w1)" in dry.stdout and "row 3: rejected (w2): member_number" in dry.stdout
    assert "dry run" in dry.stdout and count(engine, "receipt") == 0
    real = run_cli(
        db_url, "receipts", "import", str(path), "--org", org.code, "--collector", "collector key"
    )
    assert real.returncode == 1 and "row 2: created (w1): receipt 1" in real.stdout, real.stderr
    assert count(engine, "receipt", "collector_id IS NOT NULL") == 1
    unknown = run_cli(
        db_url, "receipts", "import", str(path), "--org", org.code, "--collector", "ghost"
    )
    assert unknown.returncode == 2 and "no collector named 'ghost'" in unknown.stderr
