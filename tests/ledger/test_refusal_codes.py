"""The ledger's and the kernel's refusals answer with a stable code and its parameters
(problem+json `code`, `params`), and `detail` reads as it always did."""

from __future__ import annotations

import uuid

from tests.ledger.test_journal_api import entry, open_accounts


def test_an_unbalanced_entry_says_its_code_and_the_excess(client, org) -> None:  # type: ignore[no-untyped-def]
    bank, fees = open_accounts(client, org, ("BANK", "asset"), ("FEES", "income"))
    body = entry("fee", bank, fees, "10.00")
    body["postings"][1]["amount"] = "9.00"
    r = client.post("/api/v1/journal", json=body, headers=org.headers("treasurer"))
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "entry.unbalanced_debits"
    assert problem["params"] == {"currency": "DOP", "amount": "100"}
    assert problem["detail"] == (
        "postings: postings do not balance (DOP debits exceed credits by 100 minor units)"
    )
    assert problem["errors"][0]["code"] == "entry.unbalanced_debits"
    assert problem["errors"][0]["field"] == "postings"


def test_an_entry_reversed_twice_says_which_entry_reversed_it(client, org) -> None:  # type: ignore[no-untyped-def]
    bank, fees = open_accounts(client, org, ("BANK", "asset"), ("FEES", "income"))
    h = org.headers("treasurer")
    posted = client.post("/api/v1/journal", json=entry("fee", bank, fees, "5.00"), headers=h)
    entry_id = posted.json()["id"]
    first = client.post(f"/api/v1/journal/{entry_id}/reverse", json={"reason": "typo"}, headers=h)
    assert first.status_code == 201, first.text
    again = client.post(f"/api/v1/journal/{entry_id}/reverse", json={"reason": "typo"}, headers=h)
    assert again.status_code == 409
    problem = again.json()
    assert problem["code"] == "entry.already_reversed_by"
    assert problem["params"] == {"id": entry_id, "by": first.json()["id"]}
    assert (
        problem["detail"] == f"entry {entry_id} was already reversed by entry {first.json()['id']}"
    )
    # the reversal itself cannot be reversed
    mirror = client.post(
        f"/api/v1/journal/{first.json()['id']}/reverse", json={"reason": "x"}, headers=h
    )
    assert mirror.status_code == 409 and mirror.json()["code"] == "entry.is_reversal"
    missing = uuid.uuid4()
    r = client.post(f"/api/v1/journal/{missing}/reverse", json={"reason": "x"}, headers=h)
    assert r.status_code == 404
    assert (r.json()["code"], r.json()["params"]) == ("entry.not_found", {"id": str(missing)})


def test_an_idempotency_key_used_for_another_request_says_its_code(client, org) -> None:  # type: ignore[no-untyped-def]
    bank, fees = open_accounts(client, org, ("BANK", "asset"), ("FEES", "income"))
    h = {**org.headers("treasurer"), "Idempotency-Key": "k-1"}
    assert (
        client.post("/api/v1/journal", json=entry("a", bank, fees, "1.00"), headers=h).status_code
        == 201
    )
    r = client.post("/api/v1/journal", json=entry("b", bank, fees, "2.00"), headers=h)
    assert r.status_code == 409
    problem = r.json()
    assert problem["type"] == "/problems/idempotency-key-reused"
    assert problem["code"] == "idempotency.key_reused"
    assert problem["detail"] == (
        "this Idempotency-Key was already used with a different request; use a new key"
    )
    bad = {**org.headers("treasurer"), "Idempotency-Key": "x" * 256}
    r = client.post("/api/v1/journal", json=entry("c", bank, fees, "1.00"), headers=bad)
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        "field": "Idempotency-Key",
        "message": "1-255 printable characters",
        "code": "idempotency.bad_key",
    }


def test_a_document_past_a_bound_says_its_code_and_the_bound(client, org) -> None:  # type: ignore[no-untyped-def]
    nested = b'{"a":' * 200 + b"1" + b"}" * 200
    r = client.post(
        "/api/v1/imports/receipts?dry_run=true",
        files={"file": ("r.csv", b"a," * 100 + b"a\n", "text/csv")},
        headers=org.headers("treasurer"),
    )
    assert r.status_code == 422, r.text
    error = r.json()["errors"][0]
    assert error["code"] == "csv.too_many_columns"
    assert error["params"] == {"row": "1", "count": "101", "max": "64"}
    assert (error["type"], error["bound"]) == ("document_bound", "columns")
    assert error["message"] == "row 1 has 101 values; at most 64"

    from app.core.documents import DocumentRefused, JsonBounds, load_json, load_yaml

    try:
        load_json(nested, bounds=JsonBounds(max_depth=10))
    except DocumentRefused as exc:
        assert exc.code == "document.nested_too_deeply" and exc.bound == "depth"
        assert exc.detail == "body: nested too deeply (at most 10 levels)"
    else:  # pragma: no cover
        raise AssertionError("not refused")
    try:
        load_yaml(b"a: &x 1\nb: *x\n")
    except DocumentRefused as exc:
        # the reason and where it was met, each readable alone (a schedule names them apart)
        assert exc.code == "document.at" and exc.reason_message.code == "yaml.aliases"
        assert exc.where == "line 1, column 4"
        assert exc.reason.startswith("YAML aliases (*name) and anchors (&name)")
        assert exc.detail == f"body: line 1, column 4: {exc.reason}"
    else:  # pragma: no cover
        raise AssertionError("not refused")


def test_a_caller_of_another_role_and_a_stranger_are_told_why_by_code(client, org) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/journal", json={}, headers=org.headers("auditor"))
    assert r.status_code == 403
    assert r.json()["code"] == "auth.role_refused"
    assert r.json()["params"] == {"role": "auditor", "allowed": "treasurer"}
    assert r.json()["detail"] == "role auditor may not do this (allowed: treasurer)"
    r = client.get("/api/v1/accounts")
    assert r.status_code == 401 and r.json()["code"] == "auth.no_credentials"
