"""The mtn_momo adapter (issue 14): MTN's collection callbacks over HTTP from a loopback fake
of MTN (tests/payments/momo_fake.py) to the app served on loopback; pending requests polled
through MTN's status call and settled once; the books verify after each."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core.database import unit_of_work
from app.core.settings import get_settings
from app.payments import polling, service
from tests.collections.factories import standard_book
from tests.collections.test_receipts_api import count
from tests.collections.test_reversal_and_credit import clean_books
from tests.payments.momo_fake import MomoFake, serve_momo  # noqa: F401 - the momo fixture

PATH = "/api/v1/payment-channels"
PHONE = "22997000001"


@pytest.fixture
def xof_org(make_org):  # type: ignore[no-untyped-def]
    return make_org("BJCOOP", "XOF")


def open_channel(client, org, config: dict, code: str = "MOMO"):  # type: ignore[no-untyped-def]
    return client.post(
        PATH,
        json={"code": code, "adapter": "mtn_momo", "currency": "XOF", "config": config},
        headers=org.headers("admin"),
    )


@pytest.fixture
def wallet(client, xof_org, session_factory, momo, live_server):  # type: ignore[no-untyped-def]
    """A MoMo channel whose callbacks come to the app served on loopback."""
    standard_book(session_factory, xof_org)
    r = open_channel(client, xof_org, momo.config())
    assert r.status_code == 201, r.text
    channel = r.json()
    channel["callback_url"] = channel["inbound_url"].replace("http://testserver", live_server)
    return channel


def ask_to_pay(momo: MomoFake, wallet: dict, reference: str = "M-001", amount: str = "5000") -> str:
    return momo.request_to_pay(amount, "XOF", reference, PHONE, wallet["callback_url"])


def notifications(client, org, **params: str) -> list[dict]:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/payment-notifications", params=params, headers=org.headers())
    assert r.status_code == 200, r.text
    return r.json()["items"]


def poll(session_factory, org, code: str = "MOMO", **kw) -> polling.PollReport:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory, org.id) as session:
        return polling.poll_pending(session, service.get_channel(session, code), **kw)


def run_cli(db_url: str, monkeypatch, *args: str):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, ["payments", "poll", *args])
    finally:
        get_settings.cache_clear()


def test_the_config_is_checked(client, xof_org, momo) -> None:  # type: ignore[no-untyped-def]
    port = momo.url.rsplit(":", 1)[1]
    for config, field in (
        ({k: v for k, v in momo.config().items() if k != "base_url"}, "config.base_url"),
        (momo.config(base_url=f"http://localhost:{port}"), "config.base_url"),
        (momo.config(base_url="http://10.1.2.3"), "config.base_url"),
        (momo.config(base_url="ftp://momo.example"), "config.base_url"),
        ({k: v for k, v in momo.config().items() if k != "api_key"}, "config.api_key"),
        (momo.config(target_environment="MTN Benin"), "config.target_environment"),
        (momo.config(timeout_seconds=0), "config.timeout_seconds"),
        (momo.config(allowed_networks=["x"]), "config.allowed_networks"),
        (momo.config(confirm_by_poll="yes"), "config.confirm_by_poll"),
        (momo.config(callback_secret="x"), "config.callback_secret"),
    ):
        r = open_channel(client, xof_org, config)
        assert r.status_code == 422, (config, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    made = open_channel(client, xof_org, momo.config(base_url=momo.url + "/"))
    assert made.status_code == 201, made.text
    assert made.json()["config"]["base_url"] == momo.url
    assert made.json()["config"]["confirm_by_poll"] is False


def test_a_successful_callback_is_matched_once(
    client, xof_org, wallet, momo, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    ref = ask_to_pay(momo, wallet, " m-001 ")
    result = momo.finish(ref, "SUCCESSFUL")
    r = momo.send_callback(ref, name_reference=False)  # as MTN sends it: no referenceId
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["status"] == "matched" and first["receipt_id"]
    (kept,) = notifications(client, xof_org)
    assert (kept["transaction_id"], kept["amount"], kept["currency"], kept["msisdn"]) == (
        result["financialTransactionId"],
        "5000",
        "XOF",
        PHONE,
    )
    assert (kept["account_reference"], kept["provider_status"], kept["source"]) == (
        "m-001",
        "successful",
        "callback",
    )
    receipt = client.get(f"/api/v1/receipts/{first['receipt_id']}", headers=xof_org.headers())
    assert (receipt.json()["reference"], receipt.json()["amount"]) == (
        result["financialTransactionId"],
        "5000",
    )
    # the same financialTransactionId again (with or without the referenceId): nothing new
    assert momo.send_callback(ref, name_reference=False).json() == first
    assert momo.send_callback(ref).json() == first
    assert count(engine, "payment_notification") == 1 and count(engine, "receipt") == 1
    # the same id with another amount: flagged, not booked
    other = momo.send_callback(ref, body={**result, "amount": "50000"})
    assert other.status_code == 200 and other.json()["status"] == "duplicate"
    assert count(engine, "payment_notification") == 2 and count(engine, "receipt") == 1
    # nothing is pending: a poll asks about nothing
    assert poll(session_factory, xof_org).asked == 0
    clean_books(session_factory, xof_org)


def test_a_pending_callback_waits_and_a_poll_books_it_once(
    client, xof_org, wallet, momo, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    ref = ask_to_pay(momo, wallet)
    pending = momo.send_callback(ref)  # still PENDING: no financialTransactionId yet
    assert pending.status_code == 200 and pending.json()["status"] == "pending"
    (kept,) = notifications(client, xof_org)
    assert (kept["transaction_id"], kept["status"], kept["receipt_id"]) == (ref, "pending", None)
    assert count(engine, "receipt") == 0 and count(engine, "journal_entry") == 0
    # a poll while MTN still says PENDING changes nothing
    report = poll(session_factory, xof_org)
    assert [(t.reference, t.before, t.after) for t in report.taken] == [(ref, "pending", "pending")]
    assert count(engine, "receipt") == 0
    # the payer approves; MTN's callback is lost: the poll books it, once
    result = momo.finish(ref, "SUCCESSFUL")
    report = poll(session_factory, xof_org)
    assert [(t.reference, t.before, t.after) for t in report.taken] == [(ref, "pending", "matched")]
    (kept,) = notifications(client, xof_org)
    assert (kept["transaction_id"], kept["status"]) == (result["financialTransactionId"], "matched")
    assert count(engine, "receipt") == 1
    # nothing pending any more; the late callback answers as the notification, writing nothing
    assert poll(session_factory, xof_org).asked == 0
    late = momo.send_callback(ref, name_reference=False)
    assert late.json()["status"] == "matched" and late.json()["notification_id"] == kept["id"]
    assert count(engine, "payment_notification") == 1 and count(engine, "receipt") == 1
    assert [c for c in momo.calls if c[0] == "GET"] == [
        ("GET", f"/collection/v1_0/requesttopay/{ref}")
    ] * 2
    clean_books(session_factory, xof_org)


def test_a_pending_request_that_fails_books_nothing(
    client, xof_org, wallet, momo, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    ref = ask_to_pay(momo, wallet)
    assert momo.send_callback(ref).json()["status"] == "pending"
    momo.finish(ref, "FAILED", reason="APPROVAL_REJECTED")
    report = poll(session_factory, xof_org)
    assert [(t.before, t.after) for t in report.taken] == [("pending", "refused")]
    (kept,) = notifications(client, xof_org)
    assert (kept["status"], kept["provider_status"], kept["reason_code"]) == (
        "refused",
        "failed",
        "payment.provider_failed",
    )
    assert count(engine, "receipt") == 0 and count(engine, "journal_entry") == 0
    assert poll(session_factory, xof_org).asked == 0
    clean_books(session_factory, xof_org)


def test_a_request_never_called_back_is_found_by_a_poll(
    client, xof_org, wallet, momo, session_factory, engine, db_url, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    paid = ask_to_pay(momo, wallet, "BUS-1", "2500")
    result = momo.finish(paid, "SUCCESSFUL")
    waiting = ask_to_pay(momo, wallet, "M-002")
    unknown = "0b0e5c1e-8f51-4d55-9b34-2c7e1f00aa01"
    # no callback ever came for either: the operator names them
    out = run_cli(
        db_url, monkeypatch,
        "--org", xof_org.code, "--channel", "MOMO",
        "--reference", paid, "--reference", waiting, "--reference", unknown,
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert f"BJCOOP\tMOMO\t{paid}\tnew -> matched" in lines
    assert f"BJCOOP\tMOMO\t{waiting}\tnew -> pending" in lines
    assert f"BJCOOP\tMOMO\t{unknown}\tnot found" in lines
    by_id = {n["transaction_id"]: n for n in notifications(client, xof_org)}
    assert {k: (n["status"], n["source"]) for k, n in by_id.items()} == {
        result["financialTransactionId"]: ("matched", "poll"),
        waiting: ("pending", "poll"),
    }
    assert count(engine, "receipt") == 1
    # the one still waiting is asked about at every run, with no option, until it ends
    momo.finish(waiting, "SUCCESSFUL")
    again = run_cli(db_url, monkeypatch)
    assert again.exit_code == 0, again.output
    assert f"BJCOOP\tMOMO\t{waiting}\tpending -> matched" in again.output.splitlines()
    assert count(engine, "receipt") == 2
    # asked again about what is booked: answers as before, nothing new
    third = run_cli(
        db_url, monkeypatch, "--org", "BJCOOP", "--channel", "MOMO", "--reference", paid
    )
    assert third.exit_code == 0 and f"{paid}\tmatched -> matched" in third.output
    assert count(engine, "payment_notification") == 2 and count(engine, "receipt") == 2
    clean_books(session_factory, xof_org)


def test_a_provider_that_cannot_be_asked_is_reported(
    client, xof_org, wallet, momo, session_factory, engine, db_url, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    ref = ask_to_pay(momo, wallet)
    assert momo.send_callback(ref).json()["status"] == "pending"
    momo.finish(ref, "SUCCESSFUL")
    momo.fail_status = True
    out = run_cli(db_url, monkeypatch, "--org", xof_org.code)
    assert out.exit_code == 1
    assert f"{ref}\terror: the provider answered the status call with HTTP 500" in out.output
    momo.fail_status, momo.refuse_tokens = False, True
    out = run_cli(db_url, monkeypatch)
    assert out.exit_code == 1 and "the token call with HTTP 401" in out.output
    assert count(engine, "receipt") == 0
    assert notifications(client, xof_org)[0]["status"] == "pending"
    # wrong commands
    assert run_cli(db_url, monkeypatch, "--org", "NOPE").exit_code == 2
    assert run_cli(db_url, monkeypatch, "--org", xof_org.code, "--channel", "NOPE").exit_code == 2
    bad = run_cli(
        db_url, monkeypatch, "--org", xof_org.code, "--channel", "MOMO", "--reference", "x"
    )
    assert bad.exit_code == 2 and "not a reference" in bad.output
    assert run_cli(db_url, monkeypatch, "--reference", ref).exit_code == 2
    # once MTN answers again, the poll books it
    momo.refuse_tokens = False
    assert run_cli(db_url, monkeypatch).exit_code == 0
    assert count(engine, "receipt") == 1
    clean_books(session_factory, xof_org)


def test_confirm_by_poll_books_only_what_mtn_confirms(
    client, xof_org, momo, session_factory, engine, live_server
) -> None:  # type: ignore[no-untyped-def]
    standard_book(session_factory, xof_org)
    made = open_channel(client, xof_org, momo.config(confirm_by_poll=True), "SAFE")
    assert made.status_code == 201, made.text
    wallet = {"callback_url": made.json()["inbound_url"].replace("http://testserver", live_server)}
    ref = ask_to_pay(momo, wallet)
    momo.finish(ref, "SUCCESSFUL")
    said = momo.send_callback(ref)
    assert said.status_code == 200 and said.json()["status"] == "pending"
    # a forged SUCCESSFUL callback for a request MTN never had: kept pending, never booked
    forged = "9a0d6c1b-3c9e-4f7e-8a63-1d2e3f4a5b6c"
    momo.requests[forged] = {**momo.requests[ref], "amount": "900000"}
    forged_said = momo.send_callback(forged)
    assert forged_said.json()["status"] == "pending"
    del momo.requests[forged]
    # a callback that does not name its request cannot be confirmed: refused
    assert momo.send_callback(ref, name_reference=False).status_code == 400
    assert count(engine, "receipt") == 0
    report = poll(session_factory, xof_org, "SAFE")
    assert sorted((t.reference, t.after) for t in report.taken) == [(ref, "matched")]
    assert report.not_found == [forged]
    assert count(engine, "receipt") == 1
    statuses = sorted(n["status"] for n in notifications(client, xof_org))
    assert statuses == ["matched", "pending", "refused"]
    clean_books(session_factory, xof_org)


def test_a_caller_outside_the_allowed_networks_is_refused_and_kept(
    client, xof_org, momo, session_factory, engine, live_server
) -> None:  # type: ignore[no-untyped-def]
    standard_book(session_factory, xof_org)
    made = open_channel(client, xof_org, momo.config(allowed_networks=["196.201.214.0/24"]))
    assert made.status_code == 201, made.text
    wallet = {"callback_url": made.json()["inbound_url"].replace("http://testserver", live_server)}
    ref = ask_to_pay(momo, wallet)
    momo.finish(ref, "SUCCESSFUL")
    r = momo.send_callback(ref, name_reference=False)
    assert r.status_code == 401
    assert [(n["status"], n["reason_code"]) for n in notifications(client, xof_org)] == [
        ("refused", "payment.bad_signature")
    ]
    assert count(engine, "receipt") == 0
    clean_books(session_factory, xof_org)


def test_what_is_not_momos_is_refused_and_kept(
    client, xof_org, wallet, momo, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    ref = ask_to_pay(momo, wallet)
    result = momo.finish(ref, "SUCCESSFUL")
    url = wallet["callback_url"]
    sent = [
        httpx.post(url, content=b"<xml/>", timeout=10),
        httpx.post(url, json={**result, "status": "MAYBE"}, timeout=10),
        httpx.post(url, json={k: v for k, v in result.items() if k != "amount"}, timeout=10),
        # a failed one without any id: nothing to book, nothing to ask about
        httpx.post(
            url,
            json={
                **{k: v for k, v in result.items() if k != "financialTransactionId"},
                "status": "FAILED",
            },
            timeout=10,
        ),
        httpx.post(url, json=result, headers={"X-Reference-Id": "not-a-uuid"}, timeout=10),
        httpx.post(url + "/confirmation", json=result, timeout=10),
    ]
    assert [r.status_code for r in sent] == [400] * 6, [r.text for r in sent]
    refused = notifications(client, xof_org, status="refused")
    assert sorted(n["reason_code"] for n in refused) == [
        "payment.body_fields",
        "payment.body_fields",
        "payment.body_fields",
        "payment.body_not_json",
        "payment.no_transaction",
        "payment.unknown_step",
    ]
    assert count(engine, "receipt") == 0 and count(engine, "journal_entry") == 0
    # MTN's own callback after all that is still taken
    assert momo.send_callback(ref, name_reference=False).json()["status"] == "matched"
    clean_books(session_factory, xof_org)


def test_a_pending_request_booked_by_its_callback_is_not_booked_again_by_a_poll(
    client, xof_org, wallet, momo, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    ref = ask_to_pay(momo, wallet)
    assert momo.send_callback(ref).json()["status"] == "pending"  # kept under the referenceId
    result = momo.finish(ref, "SUCCESSFUL")
    # the final callback comes without the referenceId: kept under its financialTransactionId
    booked = momo.send_callback(ref, name_reference=False).json()
    assert booked["status"] == "matched" and count(engine, "receipt") == 1
    # the poll finds the pending one finished under that id: booked already, not again
    report = poll(session_factory, xof_org)
    assert [(t.reference, t.before, t.after) for t in report.taken] == [
        (ref, "pending", "redundant")
    ]
    assert count(engine, "receipt") == 1
    by_id = {n["transaction_id"]: n["status"] for n in notifications(client, xof_org)}
    assert by_id == {ref: "pending", result["financialTransactionId"]: "matched"}
    clean_books(session_factory, xof_org)
