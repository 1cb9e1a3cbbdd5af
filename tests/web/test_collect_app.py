"""The collector app's screens in a real Chromium (issue 13): the contract's accessible names
in English, a rejected receipt said and fixed in French, and every screen on a 360 px phone in
English, French and Spanish without sideways scrolling.

Set-up: tests/web/collect_book.py (one organisation per test, its round set by the treasurer
through the API); runs on SQLite and on PostgreSQL. Pictures of the French screens go to
docs/screenshots/ with COOPLEDGER_SCREENSHOTS=1.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.collect_book import (
    MEMBERS,
    ROUND_UNITS,
    Collect,
    CollectOrg,
    Lang,
    books_verify,
    make_collect_org,
    open_contexts,
    server_receipts,
    until,
    wait_service_worker,
)
from tests.web.conftest import shoot

WIDTH = 360
SHEETS = "/api/v1/collection-sheets"


@pytest.fixture
def corg(session_factory, live_server) -> CollectOrg:  # type: ignore[no-untyped-def]
    return make_collect_org(session_factory, live_server)


@pytest.fixture
def contexts(browser, live_server) -> Iterator[Callable[..., Any]]:  # type: ignore[no-untyped-def]
    yield from open_contexts(browser, live_server)


def fits(page: Any, screen: str) -> None:
    """The screen does not scroll sideways at 360 px."""
    width = page.evaluate("() => document.scrollingElement.scrollWidth")
    assert width <= WIDTH, f"{screen}: the page is {width} px wide on a {WIDTH} px screen"


def sheet_answers(page: Any) -> list[dict[str, Any]]:
    """The collection sheets' answers as the page receives them."""
    answers: list[dict[str, Any]] = []

    def seen(response: Any) -> None:
        if response.url.endswith(SHEETS) and response.request.method == "POST":
            answers.append(response.json())

    page.on("response", seen)
    return answers


def test_the_contract_names_work_in_english(corg, contexts, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Every name API.md gives the app, driven at 360 px: sign-in, the recording form, Sync now
    and the status's "N waiting", a receipt waiting, posted with its number, rejected with why."""
    ctx = contexts(locale="en-GB", width=WIDTH, height=740)
    page = ctx.new_page()
    app = Collect(page, corg, Lang(corg.base_url, "en"))
    app.open()
    for name in ("Organisation", "Username", "Password"):
        expect(page.get_by_label(name, exact=True)).to_be_editable()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_enabled()
    fits(page, "sign-in")

    page.get_by_label("Organisation", exact=True).fill(corg.code)
    page.get_by_label("Username", exact=True).fill(corg.username)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).not_to_have_text(re.compile(r"^\s*$"))
    app.sign_in()
    app.wait_round(ROUND_UNITS + MEMBERS)
    wait_service_worker(page)
    app.expect_waiting(0)
    for name in ("Member number or plate", "Amount", "Channel", "Reference"):
        expect(page.get_by_label(name, exact=True)).to_be_visible()
    channel = page.get_by_label("Channel", exact=True)
    expect(channel).to_have_value("cash")
    expect(channel.locator("option")).to_have_text(["Cash", "Mobile money", "Bank"])
    fits(page, "main screen")

    # a bad amount is refused on the form, in an alert
    app.payer_field().fill("BUS-02")
    app.amount_field().fill("12.345")
    app.save()
    expect(page.get_by_role("alert")).to_be_visible()
    app.expect_waiting(0)

    page.context.set_offline(True)
    app.payer_field().fill("BUS-02")
    app.amount_field().fill("55.00")
    page.get_by_label("Channel", exact=True).select_option("mobile_money")
    page.get_by_label("Reference", exact=True).fill("MM-1")
    app.save()
    app.expect_waiting(1)
    app.record("NO-SUCH-PLATE", "55.00", typed=True)
    app.expect_waiting(2)
    expect(app.item("waiting")).to_have_count(2)
    expect(app.item("BUS-02").get_by_role("button", name="Edit")).to_be_visible()
    expect(app.item("BUS-02").get_by_role("button", name="Delete")).to_be_visible()
    fits(page, "main screen with waiting receipts")

    answers = sheet_answers(page)
    page.context.set_offline(False)
    app.sync()
    app.expect_waiting(0)
    until(page, lambda: bool(answers), "the sheet's answer")
    (posted,) = server_receipts(session_factory, corg)
    assert posted.unit_id == corg.units["BUS-02"] and posted.channel == "mobile_money"
    good = app.item("BUS-02")
    expect(good).to_contain_text("posted")
    expect(good).to_contain_text(app.number_text(posted.receipt_number))
    expect(good.get_by_role("button", name="Slip")).to_be_visible()
    bad = app.item("NO-SUCH-PLATE")
    expect(bad).to_contain_text("rejected")
    rejected = [r for a in answers for r in a["results"] if r["status"] == "rejected"]
    assert len(rejected) == 1 and rejected[0]["errors"], answers
    expect(bad).to_contain_text(rejected[0]["errors"][0]["message"])
    fits(page, "main screen with a rejected receipt")

    good.get_by_role("button", name="Slip").click()
    slip = page.get_by_role("dialog")
    expect(slip.get_by_role("heading", name="Slip")).to_be_visible()
    expect(slip).to_contain_text(corg.name)
    expect(slip).to_contain_text(str(posted.receipt_number))
    expect(slip.get_by_role("button", name=re.compile(r"^(Share|Copy)$"))).to_be_visible()
    expect(slip.get_by_role("button", name="Print", exact=True)).to_be_visible()
    fits(page, "slip")
    page.emulate_media(media="print")  # the print stylesheet shows the slip alone
    expect(slip).to_be_visible()
    expect(app.sync_button()).to_be_hidden()
    expect(page.get_by_role("heading", name="My round")).to_be_hidden()
    page.emulate_media(media="screen")
    slip.get_by_role("button", name="Close", exact=True).click()
    expect(slip).to_be_hidden()
    books_verify(session_factory, corg)


def test_a_rejected_receipt_said_and_fixed_in_french(corg, contexts, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Offline, a plate nobody has among good receipts: the good ones are posted, the bad one
    is "rejected" with its reason in French; edited to a known plate it is posted, nothing
    doubled."""
    fr = Lang(corg.base_url, "fr")
    ctx = contexts(locale="fr-FR")
    page = ctx.new_page()
    app = Collect(page, corg, fr)
    app.open()
    app.sign_in()
    app.wait_round(ROUND_UNITS)
    wait_service_worker(page)
    ctx.set_offline(True)
    app.record("BUS-01", "55,00")  # the French decimal comma
    app.record("ZZ-999", "55,00", typed=True)
    app.record("BUS-02", "110,00")
    app.record("S-001", "300")
    app.expect_waiting(4)

    answers = sheet_answers(page)
    ctx.set_offline(False)
    app.sync()
    app.expect_waiting(0)
    until(page, lambda: bool(answers), "the sheet's answer")
    assert sum(a["created"] for a in answers) == 3 and sum(a["rejected"] for a in answers) == 1
    (rejection,) = [r for a in answers for r in a["results"] if r["status"] == "rejected"]
    error = rejection["errors"][0]
    reason = fr.code(error["code"], error["params"] or {})
    assert reason != error["message"], "the catalogue has no French for the reason"
    bad = app.item("ZZ-999")
    expect(bad).to_contain_text(fr.t("rejected"))
    expect(bad).to_contain_text(reason)
    expect(bad).not_to_contain_text(error["message"])
    expect(app.item(fr.t("posted"))).to_have_count(3)
    assert len(server_receipts(session_factory, corg)) == 3

    bad.get_by_role("button", name=fr.t("Edit")).click()
    expect(app.payer_field()).to_have_value("ZZ-999")
    app.payer_field().fill("BUS-03")
    app.save()
    if app.sync_button().is_enabled():
        app.sync()
    app.expect_waiting(0)
    expect(app.item(fr.t("rejected"))).to_have_count(0)
    expect(app.item(fr.t("posted"))).to_have_count(4)
    posted = server_receipts(session_factory, corg)
    assert sorted(r.unit_id or r.member_id for r in posted) == sorted(
        corg.payer_id(ref) for ref in ("BUS-01", "BUS-02", "BUS-03", "S-001")
    )
    fixed = next(r for r in posted if r.unit_id == corg.units["BUS-03"])
    assert fixed.client_id == rejection["client_id"]  # the same item, not a new one
    assert fixed.amount == 5500
    assert len({r.client_id for r in posted}) == 4
    expect(app.item("BUS-03")).to_contain_text(app.number_text(fixed.receipt_number))
    books_verify(session_factory, corg)


def test_every_screen_fits_a_phone_in_french_and_spanish(corg, contexts) -> None:  # type: ignore[no-untyped-def]
    """At 360 px, in French then Spanish (the Language select): sign-in, the main screen with
    the round and receipts posted, waiting and rejected, and the slip; nothing scrolls
    sideways. (English: test_the_contract_names_work_in_english.)"""
    ctx = contexts(locale="fr-FR", width=WIDTH, height=740)
    page = ctx.new_page()
    fr = Lang(corg.base_url, "fr")
    app = Collect(page, corg, fr)
    app.open()
    expect(page.get_by_label(fr.t("Organisation"), exact=True)).to_be_visible()
    fits(page, "sign-in (fr)")
    shoot(page, "phone-fr-collect-sign-in")
    app.sign_in()
    app.wait_round(ROUND_UNITS + MEMBERS)
    wait_service_worker(page)

    ctx.set_offline(True)
    app.record("BUS-01", "55,00")
    app.record("PLAQUE-INCONNUE-123456", "1234567,89", typed=True)
    ctx.set_offline(False)
    app.sync()
    app.expect_waiting(0)
    expect(app.item(fr.t("rejected"))).to_have_count(1)
    ctx.set_offline(True)
    app.record("S-002", "300,00")  # one left waiting
    app.expect_waiting(1)

    for code, name in (("fr", "Français"), ("es", "Español")):
        lang = Lang(corg.base_url, code)
        if code != "fr":
            page.get_by_label(fr.t("Language"), exact=True).select_option(label=name)
        app = Collect(page, corg, lang)
        expect(app.sync_button()).to_be_visible()
        expect(app.item(lang.t("rejected"))).to_have_count(1)
        expect(app.item(lang.t("posted"))).to_have_count(1)
        expect(app.item(lang.t("waiting"))).to_have_count(1)
        fits(page, f"main screen ({code})")
        shoot(page, f"phone-{code}-collect-main")
        app.item(lang.t("posted")).get_by_role("button", name=lang.t("Slip")).click()
        slip = page.get_by_role("dialog")
        expect(slip.get_by_role("heading", name=lang.t("Slip"))).to_be_visible()
        fits(page, f"slip ({code})")
        shoot(page, f"phone-{code}-collect-slip", full_page=False)
        slip.get_by_role("button", name=lang.t("Close"), exact=True).click()
        expect(slip).to_be_hidden()

    # signing out with a receipt waiting asks first, then keeps it; the sign-in screen in Spanish
    es = Lang(corg.base_url, "es")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name=es.t("Sign out"), exact=True).click()
    expect(page.get_by_label(es.t("Password"), exact=True)).to_be_visible()
    fits(page, "sign-in (es)")


def test_a_collector_that_is_an_api_key_signs_in_with_it(corg, contexts, session_factory) -> None:  # type: ignore[no-untyped-def]
    """A union's app key (role collector) is a collector too: the key signs in, its receipts
    are its own; a key of another role is refused with the server's reason."""
    from app.core.audit import CLI_ACTOR
    from app.core.database import bind_organisation, unit_of_work
    from app.identity.service import create_api_key

    with unit_of_work(session_factory) as s:
        bind_organisation(s, corg.id)
        key = create_api_key(s, CLI_ACTOR, name="union phone 7", role="collector").secret
        auditor = create_api_key(s, CLI_ACTOR, name="auditor key", role="auditor").secret
    page = contexts().new_page()
    app = Collect(page, corg, Lang(corg.base_url, "en"))
    app.open()
    page.get_by_text("Use an API key instead").click()
    page.get_by_label("API key", exact=True).fill(auditor)
    page.get_by_role("button", name="Use the key", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text=re.compile(r"\S"))).to_be_visible()
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Use the key", exact=True).click()
    app.sync_button().wait_for()
    expect(page.get_by_text("union phone 7").first).to_be_visible()
    app.record(ROUND_UNITS[0], "55.00", typed=True)  # this key has no round: typed
    app.expect_waiting(0)
    (receipt,) = server_receipts(session_factory, corg)
    from sqlalchemy import select

    from app.collections.models import Collector

    with unit_of_work(session_factory) as s:
        bind_organisation(s, corg.id)
        name = s.scalar(select(Collector.name).where(Collector.id == receipt.collector_id))
    assert name == "union phone 7"
    books_verify(session_factory, corg)


def test_a_payer_off_the_round_looked_up_online_is_known_offline(corg, contexts) -> None:  # type: ignore[no-untyped-def]
    """A collector with a payer off its round: searched on the server while online (its name
    and what it owes shown), remembered by the phone and shown again with no network."""
    corg.set_round(ROUND_UNITS[:2], [])
    page = contexts().new_page()
    app = Collect(page, corg, Lang(corg.base_url, "en"))
    app.open()
    app.sign_in()
    wait_service_worker(page)
    note = page.locator("#payer-note")
    app.payer_field().fill("bus 11")
    expect(note).to_contain_text("Chofer 11")
    owed = app.amount_field().input_value()
    assert owed and float(owed) > 0, owed
    page.context.set_offline(True)
    page.reload()
    app.sync_button().wait_for()
    app.payer_field().fill("BUS-11")
    expect(note).to_contain_text("Chofer 11")
    assert app.amount_field().input_value() == owed
    app.payer_field().fill("BUS-12")  # never looked up: only the round's rule is said
    expect(note).not_to_contain_text("Chofer")
