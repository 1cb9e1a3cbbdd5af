"""The mobile-money pages (issue 14) over HTTP without script, on SQLite and PostgreSQL: a
channel opened with its secret shown once, the suspense queue resolved (a payment matched by
plate, another refunded with a reason; an unknown or ambiguous plate named and nothing
written), roles, the payment's own page and its path from the receipt, French and Spanish;
and the queue in Chromium at 360 px. Notifications arrive through the API as a provider sends
them (tests/payments/test_generic_json.py). After every test that moves money, verify is clean.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from app.payments import registry
from app.web.routes import payments as pages
from tests.collections.factories import Book, add_dues, make_member, standard_book
from tests.collections.test_reversal_and_credit import clean_books
from tests.payments.test_generic_json import payment, send
from tests.web.conftest import PASSWORD, WebClient, WebOrg, shoot
from tests.web.test_pages import count

CHANNELS = "/web/payment-channels"
QUEUE = "/web/payments/suspense"
USERS = {
    "admin": "root",
    "treasurer": "ana",
    "auditor": "olga",
    "treasurer_fr": "ana-fr",
    "treasurer_es": "ana-es",
}


@dataclass
class Setting:
    web_org: WebOrg
    book: Book
    till: dict[str, Any]  # the channel as the API answered its creation (with the secret)


@pytest.fixture
def setting(client, org, session_factory) -> Setting:  # type: ignore[no-untyped-def]
    """The standard book (M-001, M-002, BUS-1 with dues), users who sign in (a treasurer in
    each language), and channel TILL-1 opened through the API."""
    from app.identity.service import create_user

    book = standard_book(session_factory, org)
    add_dues(
        session_factory, book, "transport-daily", ("unit", book.units["BUS-1"]),
        date(2026, 11, 18), 3, 5000,
    )  # fmt: skip
    add_dues(session_factory, book, "monthly", ("member", book.members["M-001"]),
             date(2026, 9, 1), 2, 10000)  # fmt: skip
    roles = {"treasurer_fr": "treasurer", "treasurer_es": "treasurer"}
    with unit_of_work(session_factory) as s:
        bind_organisation(s, org.id)
        for who, name in USERS.items():
            create_user(
                s, CLI_ACTOR, username=name, password=PASSWORD, role=roles.get(who, who),
                locale={"treasurer_fr": "fr", "treasurer_es": "es"}.get(who, "en"),
            )  # fmt: skip
    r = client.post(
        "/api/v1/payment-channels",
        json={"code": "TILL-1", "adapter": "generic_json", "currency": "DOP"},
        headers=org.headers("admin"),
    )
    assert r.status_code == 201, r.text
    return Setting(WebOrg(org.id, org.code, org.currency, USERS), book, r.json())


def signed_in(client: Any, setting: Setting, who: str = "treasurer") -> WebClient:
    client.cookies.clear()
    web = WebClient(client)
    web.sign_in(setting.web_org, who)
    return web


def keys_of(page: str, notification_id: str) -> dict[str, str]:
    """The one-time keys of a payment's two forms: {"match": ..., "refund": ...}."""
    out = {}
    for action in ("match", "refund"):
        m = re.search(
            rf'action="/web/payments/{notification_id}/{action}".*?name="form_key" '
            r'value="([^"]+)"',
            page,
            re.S,
        )
        assert m is not None, f"no {action} form for {notification_id}"
        out[action] = m.group(1)
    return out


def error_of(page: str, field: str, notification_id: str) -> str:
    m = re.search(rf'class="field-error" id="e-{field}-{notification_id}">([^<]+)<', page)
    assert m is not None, page
    return html.unescape(m.group(1))


def field_errors(page: str) -> dict[str, str]:
    found = re.findall(r'class="field-error" id="e-([^"]+)">([^<]+)<', page)
    return {k: html.unescape(v) for k, v in found}


def flashes(page: str) -> list[str]:
    return [
        html.unescape(f)
        for f in re.findall(r'class="flash flash-\w+" role="status">([^<]+)<', page)
    ]


def notification(client, org, notification_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.get(f"/api/v1/payment-notifications/{notification_id}", headers=org.headers())
    assert r.status_code == 200, r.text
    return dict(r.json())


def held(client, org) -> str:  # type: ignore[no-untyped-def]
    listed = client.get("/api/v1/payment-notifications", params={"status": "suspense"},
                        headers=org.headers()).json()["items"]  # fmt: skip
    return ",".join(sorted(n["transaction_id"] for n in listed))


# -- channels -------------------------------------------------------------------------------------


def test_an_admin_opens_a_channel_and_sees_its_secret_once(
    client, org, setting, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    web = signed_in(client, setting, "admin")
    page = web.get(CHANNELS)
    assert page.status_code == 200 and 'data-testid="open-channel"' in page.text
    assert "TILL-1" in page.text and "/api/v1/payment-channels/inbound/" in page.text
    key = re.search(r'name="form_key" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    # bad input: each error next to its field, nothing written
    bad = web.post(CHANNELS, {"form_key": key, "code": "no spaces", "adapter": "nope",
                              "config": "[1, 2]"})  # fmt: skip
    assert bad.status_code == 422
    assert set(field_errors(bad.text)) == {"adapter", "config"}
    bad = web.post(CHANNELS, {"form_key": key, "code": "no spaces", "adapter": "generic_json",
                              "config": ""})  # fmt: skip
    assert bad.status_code == 422 and 'id="e-code"' in bad.text
    taken = web.post(CHANNELS, {"form_key": key + "x", "code": "till-1",
                                "adapter": "generic_json", "config": ""})  # fmt: skip
    assert taken.status_code == 422 and "TILL-1 exists already" in taken.text
    assert count(engine, "payment_channel") == 1

    # the chosen adapter's default settings filled in (nothing written); their blanks refused
    adapter = "mpesa_c2b" if "mpesa_c2b" in registry.names() else "generic_json"
    filled = web.post(CHANNELS, {"form_key": key + "z", "code": "", "adapter": adapter,
                                 "config": "{oops", "fill": "1"})  # fmt: skip
    assert filled.status_code == 200 and 'id="e-' not in filled.text
    typed = re.search(r'<textarea id="f-config"[^>]*>([^<]*)<', filled.text).group(1)  # type: ignore[union-attr]
    assert json.loads(html.unescape(typed)) == pages.default_config(adapter)
    if adapter == "mpesa_c2b":
        blank = web.post(CHANNELS, {"form_key": key + "z", "code": "MPESA-1", "adapter": adapter,
                                    "config": html.unescape(typed)})  # fmt: skip
        assert blank.status_code == 422 and "shortcode" in field_errors(blank.text)["config"]
    assert count(engine, "payment_channel") == 1

    form = {"form_key": key + "y", "code": "wave-2", "adapter": "generic_json", "config": ""}
    made = web.post(CHANNELS, form)
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    secret = re.search(r'data-testid="secret">(pcs_[^<]+)<', made.text).group(1)  # type: ignore[union-attr]
    url = re.search(r'data-testid="new-inbound-url">([^<]+)<', made.text).group(1)  # type: ignore[union-attr]
    assert "shown only this once" in made.text
    assert count(engine, "payment_channel") == 1 + 1
    # the secret and URL on the page are the channel's: a payment signed with it is taken
    taken_by = send(client, {"inbound_url": url, "secret": secret}, payment("W-1", "M-001"))
    assert taken_by.status_code == 200 and taken_by.json()["status"] == "matched", taken_by.text

    # never again: not on the list, not on the channel's page, not on the form sent again
    for path in (CHANNELS, f"{CHANNELS}/WAVE-2"):
        seen = web.get(path)
        assert seen.status_code == 200 and secret not in seen.text
    again = web.post(CHANNELS, form)
    assert again.status_code == 200 and secret not in again.text
    assert "its secret was shown then" in again.text
    assert count(engine, "payment_channel") == 2

    # the treasurer reads the channels but opens none
    treasurer = signed_in(client, setting, "treasurer")
    listed = treasurer.get(CHANNELS)
    assert listed.status_code == 200 and 'data-testid="open-channel"' not in listed.text
    refused = treasurer.post(CHANNELS, {"form_key": "k" * 20, "code": "NOPE",
                                        "adapter": "generic_json", "config": ""})  # fmt: skip
    assert refused.status_code == 403 and count(engine, "payment_channel") == 2
    clean_books(session_factory, org)


def test_a_channel_lists_its_notifications_by_status_a_page_at_a_time(
    client, org, setting, monkeypatch, session_factory
) -> None:  # type: ignore[no-untyped-def]
    import app.web.routes.payments as pages
    from app.identity.models import Organisation
    from app.identity.service import set_time_zone

    monkeypatch.setattr(pages, "PAGE", 2)
    with unit_of_work(session_factory, org.id) as s:  # UTC+3: not the payments' -04:00
        set_time_zone(s, CLI_ACTOR, s.get(Organisation, org.id), "Africa/Nairobi")
    till = setting.till
    for i in range(3):
        assert send(client, till, payment(f"OK-{i}", "M-001", "10.00")).status_code == 200
    send(client, till, payment("LOST-1", "ZZ-404", "40.00", msisdn="18095550000"))
    send(client, till, payment("FAIL-1", "M-001", status="failed"))
    web = signed_in(client, setting)
    page = web.get(f"{CHANNELS}/TILL-1")
    assert page.status_code == 200
    assert "/web/payment-channels/TILL-1/statements" in page.text
    rows = re.findall(r"<code>((?:OK|LOST|FAIL)-\d)</code>", page.text)
    assert rows == ["FAIL-1", "LOST-1"]  # newest first, two a page
    assert 'data-testid="held">DOP\xa040.00<' in page.text
    older = re.search(r'href="([^"]+)" data-testid="older"', page.text).group(1)  # type: ignore[union-attr]
    second = web.get(html.unescape(older))
    assert re.findall(r"<code>((?:OK|LOST|FAIL)-\d)</code>", second.text) == ["OK-2", "OK-1"]
    only = web.get(f"{CHANNELS}/TILL-1", params={"status": "suspense"})
    assert re.findall(r"<code>((?:OK|LOST|FAIL)-\d)</code>", only.text) == ["LOST-1"]
    assert "names no member or unit" in only.text and "18095550000" in only.text
    # paid at 09:15 at -04:00: 16:15 on the organisation's clock, which the page names
    assert re.search(r"11/20/26, 4:15\W*PM", only.text) and "Africa/Nairobi" in only.text
    refused = web.get(f"{CHANNELS}/TILL-1", params={"status": "refused"})
    assert "no money moved" in refused.text
    # a cursor this list did not give: the first page; another status: everything
    assert web.get(f"{CHANNELS}/TILL-1", params={"cursor": "nope"}).status_code == 200
    assert web.get(f"{CHANNELS}/TILL-1", params={"status": "bogus"}).status_code == 200
    assert web.get(f"{CHANNELS}/NOPE").status_code == 404
    clean_books(session_factory, org)


def test_a_channels_credentials_are_shown_as_dots() -> None:
    shown = json.loads(
        pages._shown_config(
            {"api_user": "u-1", "api_key": "k-1", "subscription_key": "s-1", "shortcode": "600000",
             "webhook_secret": "x", "api_token": "", "refuse_unknown_reference": True}
        )
    )  # fmt: skip
    assert shown == {
        "api_user": "u-1", "api_key": "••••••", "subscription_key": "••••••",
        "shortcode": "600000", "webhook_secret": "••••••", "api_token": "",
        "refuse_unknown_reference": True,
    }  # fmt: skip


# -- the suspense queue ---------------------------------------------------------------------------


def test_a_payment_in_suspense_is_matched_by_plate_from_the_queue(
    client, org, setting, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    lost = send(client, setting.till, payment("TX-PL", "B U S 9", "150.00")).json()
    assert lost["status"] == "suspense"
    nid = lost["notification_id"]
    web = signed_in(client, setting)
    queue = web.get(QUEUE)
    assert queue.status_code == 200 and "TX-PL" in queue.text
    assert "the reference B U S 9 names no member or unit" in html.unescape(queue.text)
    assert queue.headers["cache-control"] == "private, no-cache"
    keys = keys_of(queue.text, nid)
    receipts = count(engine, "receipt")

    form = {"form_key": keys["match"], "payer": " bus 1 ", "back": "queue"}
    done = web.post(f"/web/payments/{nid}/match", form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == QUEUE
    after = web.get(QUEUE)
    said = flashes(after.text)
    assert len(said) == 1 and said[0].startswith("Payment TX-PL was matched: receipt ")
    assert (
        "TX-PL" not in after.text.replace(said[0], "") and 'data-testid="queue-empty"' in after.text
    )
    seen = notification(client, org, nid)
    assert seen["status"] == "matched" and seen["resolved_by"] == "user:ana"
    receipt = client.get(f"/api/v1/receipts/{seen['receipt_id']}", headers=org.headers()).json()
    assert receipt["unit_id"] == str(setting.book.units["BUS-1"])
    assert (receipt["amount"], receipt["channel"], receipt["reference"]) == (
        "150.00", "mobile_money", "TX-PL",
    )  # fmt: skip
    assert count(engine, "receipt") == receipts + 1
    # the same form again (a double click, Back and send): the first answer, nothing new
    again = web.post(f"/web/payments/{nid}/match", form, follow_redirects=False)
    assert again.status_code == 303 and count(engine, "receipt") == receipts + 1
    assert flashes(web.get(QUEUE).text) == said

    # the payment's page: everything kept, the receipt, who resolved it
    page = web.get(f"/web/payments/{nid}")
    assert page.status_code == 200
    assert f'href="/web/receipts/{seen["receipt_id"]}"' in page.text
    assert "user:ana" in page.text and 'data-testid="raw-body"' in page.text
    assert '"transaction_id": "TX-PL"' in html.unescape(page.text)
    assert "x-signature" in page.text and 'data-testid="match-form"' not in page.text

    # the path back from the receipt: a line naming the payment, leading to its page
    slip = web.get(f"/web/receipts/{seen['receipt_id']}")
    link = re.search(r'data-testid="payment-path"><a href="([^"]+)">([^<]+)<', slip.text)
    assert link is not None
    assert html.unescape(link.group(2)) == "Mobile-money payment TX-PL on channel TILL-1"
    hop = web.get(html.unescape(link.group(1)), follow_redirects=False)
    assert hop.status_code in (200, 303)
    if hop.status_code == 303:
        assert hop.headers["location"] == f"/web/payments/{nid}"
    # a receipt taken another way has no such line (and no payment behind it)
    direct = send(client, setting.till, payment("TX-OK", "M-001", "20.00")).json()
    slip = web.get(f"/web/receipts/{direct['receipt_id']}")
    assert "Mobile-money payment TX-OK on channel TILL-1" in html.unescape(slip.text)
    assert web.get(f"/web/payments?receipt={setting.book.units['BUS-1']}").status_code == 404
    clean_books(session_factory, org)


def test_a_payment_in_suspense_is_refunded_with_a_reason(
    client, org, setting, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    lost = send(client, setting.till, payment("TX-RF", "", "30.00", msisdn="000")).json()
    nid = lost["notification_id"]
    web = signed_in(client, setting)
    page = web.get(f"/web/payments/{nid}")  # its own page has the same two forms
    keys = keys_of(page.text, nid)
    stale = keys_of(web.get(QUEUE).text, nid)  # a second tab, sent later
    journals = count(engine, "journal_entry")

    empty = web.post(f"/web/payments/{nid}/refund",
                     {"form_key": keys["refund"], "reason": " ", "back": "payment"})  # fmt: skip
    assert empty.status_code == 422
    assert error_of(empty.text, "reason", nid) == "say why it is refunded"
    assert notification(client, org, nid)["status"] == "suspense"
    assert count(engine, "journal_entry") == journals

    keys = keys_of(empty.text, nid)
    reason = "the payer sent it to the wrong till"
    done = web.post(f"/web/payments/{nid}/refund",
                    {"form_key": keys["refund"], "reason": reason, "back": "payment"},
                    follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == f"/web/payments/{nid}"
    page = web.get(f"/web/payments/{nid}")
    assert flashes(page.text) == ["Payment TX-RF is to be refunded."]
    assert f"to be refunded: {reason}" in html.unescape(page.text)
    seen = notification(client, org, nid)
    assert seen["status"] == "refunded" and seen["resolved_by"] == "user:ana"
    assert count(engine, "journal_entry") == journals + 1
    assert held(client, org) == ""

    # the other tab's forms: no longer in suspense, said (409), not a 500, nothing written
    for action, field, value in (("refund", "reason", "again"), ("match", "payer", "M-001")):
        late = web.post(f"/web/payments/{nid}/{action}",
                        {"form_key": stale[action], field: value, "back": "queue"},
                        follow_redirects=False)  # fmt: skip
        assert late.status_code == 303 and late.headers["location"] == QUEUE
        said = flashes(web.get(QUEUE).text)
        assert said == ["this payment is refunded, not in suspense"], said
    assert count(engine, "journal_entry") == journals + 1 and count(engine, "receipt") == 0
    clean_books(session_factory, org)


def test_an_unknown_or_ambiguous_plate_is_named_and_nothing_is_written(
    client, org, setting, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory, org.id) as s:
        make_member(s, setting.book, "BUS1")  # a member number that reads like the plate
    lost = send(client, setting.till, payment("TX-UN", "??", "50.00")).json()
    nid = lost["notification_id"]
    web = signed_in(client, setting)
    keys = keys_of(web.get(QUEUE).text, nid)
    before = (count(engine, "receipt"), count(engine, "journal_entry"),
              count(engine, "idempotency_record"))  # fmt: skip

    unknown = web.post(f"/web/payments/{nid}/match",
                       {"form_key": keys["match"], "payer": "XX-999", "back": "queue"})  # fmt: skip
    assert unknown.status_code == 422
    assert error_of(unknown.text, "payer", nid) == (
        "No member or transport unit has this number or plate: XX-999."
    )
    assert 'value="XX-999"' in unknown.text and 'id="error-summary"' in unknown.text
    ambiguous = web.post(f"/web/payments/{nid}/match",
                         {"form_key": keys["match"], "payer": "bus-1", "back": "queue"})  # fmt: skip
    assert ambiguous.status_code == 422
    assert error_of(ambiguous.text, "payer", nid) == "These name more than one payer: bus-1."
    empty = web.post(f"/web/payments/{nid}/match",
                     {"form_key": keys["match"], "payer": "", "back": "payment"})  # fmt: skip
    assert empty.status_code == 422 and 'data-testid="raw-body"' in empty.text
    after = (count(engine, "receipt"), count(engine, "journal_entry"),
             count(engine, "idempotency_record"))  # fmt: skip
    assert after == before
    assert notification(client, org, nid)["status"] == "suspense"
    # a payer the receipt service refuses (crew pay through their unit): its reason, in place
    crew = web.post(f"/web/payments/{nid}/match",
                    {"form_key": keys["match"], "payer": "m 002", "back": "queue"})  # fmt: skip
    assert crew.status_code == 422
    assert error_of(crew.text, "payer", nid).startswith(
        "member M-002 has no enrolment of their own"
    )
    assert (count(engine, "receipt"), count(engine, "journal_entry")) == before[:2]
    # the corrected form (a new key: the refused one keeps its answer) posts the receipt
    keys = keys_of(crew.text, nid)
    done = web.post(f"/web/payments/{nid}/match",
                    {"form_key": keys["match"], "payer": "m-001", "back": "queue"},
                    follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    seen = notification(client, org, nid)
    assert seen["status"] == "matched"
    receipt = client.get(f"/api/v1/receipts/{seen['receipt_id']}", headers=org.headers()).json()
    assert receipt["member_id"] == str(setting.book.members["M-001"])
    clean_books(session_factory, org)


def test_an_auditor_reads_the_pages_but_sees_no_form_and_may_not_post(
    client, org, setting, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    lost = send(client, setting.till, payment("TX-AU", "ZZ-1", "15.00")).json()
    nid = lost["notification_id"]
    keys = keys_of(signed_in(client, setting).get(QUEUE).text, nid)
    web = signed_in(client, setting, "auditor")
    for path in (CHANNELS, f"{CHANNELS}/TILL-1", QUEUE, f"/web/payments/{nid}"):
        page = web.get(path)
        assert page.status_code == 200, path
        assert 'method="post" action="/web/pay' not in page.text, path
        assert "TX-AU" in page.text or path == CHANNELS
    assert "Mobile money" in web.get("/web/").text  # in the menu
    for action, field, value in (("match", "payer", "M-001"), ("refund", "reason", "no")):
        r = web.post(f"/web/payments/{nid}/{action}", {"form_key": keys[action], field: value})
        assert r.status_code == 403
    r = web.post(CHANNELS, {"form_key": "k" * 20, "code": "AUD", "adapter": "generic_json"})
    assert r.status_code == 403
    assert notification(client, org, nid)["status"] == "suspense"
    assert count(engine, "payment_channel") == 1 and count(engine, "receipt") == 0
    clean_books(session_factory, org)


def test_the_pages_in_french_and_spanish(client, org, setting, session_factory) -> None:  # type: ignore[no-untyped-def]
    lost = send(client, setting.till, payment("TX-FR", "ZZ-404", "40.00")).json()
    nid = lost["notification_id"]
    done = send(client, setting.till, payment("TX-OK", "M-001", "20.00")).json()
    pages = (CHANNELS, f"{CHANNELS}/TILL-1", QUEUE, f"/web/payments/{nid}",
             f"/web/receipts/{done['receipt_id']}")  # fmt: skip
    said = {
        "fr": ["Paiements en attente d'imputation", "la référence ZZ-404 ne désigne aucun membre",
               "en attente d'imputation", "Paiement mobile TX-OK sur le canal TILL-1"],
        "es": ["Pagos en suspenso", "la referencia ZZ-404 no designa ningún miembro",
               "en suspenso", "Pago móvil TX-OK en el canal TILL-1"],
    }  # fmt: skip
    for lang in ("fr", "es"):
        web = signed_in(client, setting, f"treasurer_{lang}")
        text = ""
        for path in pages:
            page = web.get(path)
            assert page.status_code == 200, path
            assert f'<html lang="{lang}">' in page.text, path
            text += html.unescape(page.text)
        for expected in said[lang]:
            assert expected in text, (lang, expected)
        for english in ("Payments in suspense", "Mobile-money channels", "Member number or plate",
                        "names no member or unit", "Mobile-money payment"):  # fmt: skip
            assert english not in text, (lang, english)
        # a refusal in the reader's language
        keys = keys_of(web.get(QUEUE).text, nid)
        wrong = web.post(f"/web/payments/{nid}/match",
                         {"form_key": keys["match"], "payer": "XX-999"})  # fmt: skip
        assert wrong.status_code == 422
        message = error_of(wrong.text, "payer", nid)
        assert "XX-999" in message and "No member" not in message
    clean_books(session_factory, org)


# -- in a browser, on a phone ---------------------------------------------------------------------


def test_the_queue_fits_a_phone_and_matches_in_chromium(
    client, org, setting, browser, live_server, session_factory, backend
) -> None:  # type: ignore[no-untyped-def]
    from tests.web.test_browser_phone_width import MEASURE, WIDTH

    for i, (reference, phone) in enumerate((("ZZ-404", "+1 809-555-0199"), ("", "18095550123"))):
        send(client, setting.till, payment(f"TX-2026-11-20-00042{i}", reference,
                                           "1250.50", msisdn=phone))  # fmt: skip
    context = browser.new_context(
        base_url=live_server, locale="fr-FR", viewport={"width": WIDTH, "height": 740},
        has_touch=True, device_scale_factor=1,
    )  # fmt: skip
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto("/web/sign-in")
        page.locator("#f-organisation").fill(org.code)
        page.locator("#f-username").fill(USERS["treasurer_fr"])
        page.locator("#f-password").fill(PASSWORD)
        with page.expect_navigation():
            page.locator("main button.primary").click()
        page.goto(QUEUE)
        assert page.evaluate("document.documentElement.lang") == "fr"
        assert page.get_by_test_id("queued").count() == 2
        problems = page.evaluate(MEASURE, WIDTH)
        assert not problems, "\n".join(problems)
        if backend == "sqlite":
            shoot(page, "phone-fr-payments-suspense", full_page=False)
        # a plate typed on the phone, the button pressed twice: one receipt
        card = page.get_by_test_id("queued").first
        card.locator("input[name=payer]").fill("bus 1")
        with page.expect_navigation():
            card.get_by_test_id("match-form").locator("button").dblclick()
        assert page.get_by_test_id("queued").count() == 1
        problems = page.evaluate(MEASURE, WIDTH)
        assert not problems, "\n".join(problems)
        page.goto(f"{CHANNELS}/TILL-1")
        problems = page.evaluate(MEASURE, WIDTH)
        assert not problems, "\n".join(problems)
    finally:
        context.close()
    with unit_of_work(session_factory, org.id) as s:
        assert s.execute(sa.text("SELECT count(*) FROM receipt")).scalar_one() == 1
    clean_books(session_factory, org)
