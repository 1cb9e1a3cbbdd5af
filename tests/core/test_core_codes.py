"""The kernel's refusals carry a code: the clock's, the backup's, the edge validators'."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import clock
from app.core.backup import BackupError, backup


def test_an_unknown_time_zone_is_a_coded_refusal() -> None:
    with pytest.raises(clock.UnknownTimeZone) as caught:
        clock.check_zone("Mars/Olympus")
    assert caught.value.message.code == "time_zone.unknown"
    assert str(caught.value).startswith("unknown time zone 'Mars/Olympus': ")


def test_a_backup_over_an_existing_file_is_refused_in_english_with_a_code(tmp_path: Path) -> None:
    there = tmp_path / "b.db"
    there.write_bytes(b"")
    with pytest.raises(BackupError) as caught:
        backup(f"sqlite:///{tmp_path / 'live.db'}", there)
    assert caught.value.message.code == "backup.exists"
    assert str(caught.value) == f"{there} exists; choose a new file"


def test_edge_validators_answer_with_their_codes(client, org) -> None:  # type: ignore[no-untyped-def]
    body = {
        "description": "x",
        "effective_on": "1999-12-31",
        "postings": [
            {
                "account_id": "00000000-0000-0000-0000-000000000001",
                "amount": 5,
                "direction": "debit",
            },
            {
                "account_id": "00000000-0000-0000-0000-000000000002",
                "amount": "5\u0000",
                "direction": "credit",
            },
        ],
    }
    r = client.post("/api/v1/journal", json=body, headers=org.headers("treasurer"))
    assert r.status_code == 422, r.text
    by_field = {e["field"]: e for e in r.json()["errors"]}
    assert by_field["effective_on"]["code"] == "field.date_out_of_range"
    assert by_field["effective_on"]["message"] == "must be between 2000-01-01 and 2100-12-31"
    # the NUL is refused where the text arrives: the list of postings
    assert by_field["postings"]["code"] == "field.nul"
    body["postings"][1]["amount"] = "5"
    r = client.post("/api/v1/journal", json=body, headers=org.headers("treasurer"))
    by_field = {e["field"]: e for e in r.json()["errors"]}
    assert by_field["postings.0.amount"]["code"] == "amount.not_text"
    assert by_field["postings.0.amount"]["message"] == (
        'amounts are decimal strings such as "150.00", not JSON numbers'
    )
