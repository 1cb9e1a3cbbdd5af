"""The collector app offline, in a real Chromium (issue 13): a week without a network, a sync
whose network drops half-way, a token that expired while the phone was offline.

Each test makes its organisation (tests/web/collect_book.py: DOP, America/Santo_Domingo, the
transport-daily schedule, dues generated, a collector whose round the treasurer set through
`PUT /api/v1/collectors/{id}/round`), serves it on loopback and drives /collect/ by the
accessible names of the contract, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.collect_book import (
    LATER_UNITS,
    MEMBERS,
    ROUND_UNITS,
    Collect,
    CollectOrg,
    Lang,
    books_verify,
    dues_paid,
    expected_paid,
    make_collect_org,
    minor,
    open_contexts,
    server_receipts,
    until,
    wait_service_worker,
)

SHEETS = "**/api/v1/collection-sheets"


@pytest.fixture
def corg(session_factory, live_server) -> CollectOrg:  # type: ignore[no-untyped-def]
    return make_collect_org(session_factory, live_server)


@pytest.fixture
def contexts(browser, live_server) -> Iterator[Callable[..., Any]]:  # type: ignore[no-untyped-def]
    yield from open_contexts(browser, live_server)


def money(total: int) -> str:
    return f"{total // 100}.{total % 100:02d}"


def signed_in(contexts: Callable[..., Any], corg: CollectOrg, **kw: Any) -> Collect:
    """A phone with the app signed in, its round downloaded and the service worker active."""
    page = contexts().new_page()
    clock = kw.pop("clock", None)
    if clock is not None:
        page.clock.install(time=clock)
    app = Collect(page, corg, Lang(corg.base_url, "en"))
    app.open()
    app.sign_in()
    app.wait_round(ROUND_UNITS + MEMBERS)
    wait_service_worker(page)
    return app


def test_an_offline_week(corg, contexts, session_factory) -> None:  # type: ignore[no-untyped-def]
    """50 receipts over two days with no network, payers added to the round mid-week; the page
    reloaded offline keeps the queue; one sync posts each once, to the right dues."""
    day1, day2 = corg.today - timedelta(days=2), corg.today - timedelta(days=1)
    app = signed_in(contexts, corg, clock=corg.at(day1, 7, 30))
    page, ctx = app.page, app.page.context

    # the round came with what each payer owes: Record prefills the amount with it
    r = corg.api("GET", f"/collectors/{corg.collector_id}/round")
    assert r.status_code == 200, r.text
    owed = {(p["registration"] or p["member_number"]): p for p in r.json()["items"]}
    assert set(owed) == set(ROUND_UNITS + MEMBERS)
    app.record_button("BUS-01").click()
    bus01 = owed["BUS-01"]
    expect(app.amount_field()).to_have_value(
        money(minor(bus01["due_today"]) + minor(bus01["arrears"]))
    )
    assert minor(bus01["arrears"]) > 0

    ctx.set_offline(True)
    expect(app.status_line()).to_contain_text(app.t("offline"))

    recorded: dict[str, int] = defaultdict(int)  # reference -> minor units
    count = 0

    def record(reference: str, amount: str, **kw: Any) -> None:
        nonlocal count
        app.record(reference, amount, **kw)
        count += 1
        recorded[reference] += minor(amount)
        app.expect_waiting(count)

    # day 1: the round, two taps each, some paying two days at once; one payer off the round
    # typed as written on the minibus (the server resolves the plate)
    payers = ROUND_UNITS + MEMBERS
    for i in range(24):
        if i == 20:  # late in the evening: the next day in UTC, still day 1 in Santo Domingo
            page.clock.set_system_time(corg.at(day1, 23, 30))
        ref = payers[i % len(payers)]
        if ref in MEMBERS:
            amount = "300.00" if i % 3 else "150.00"
        else:
            amount = "110.00" if i % 4 == 0 else "55.00"
        record(ref, amount)
    app.payer_field().fill("bus 11")
    app.amount_field().fill("55.00")
    app.save()
    count += 1
    recorded["BUS-11"] += 5500
    app.expect_waiting(count)

    # mid-week the treasurer adds two units to the round; the phone passes through a network
    # that drops every sheet on the way (so nothing is sent) and the app, restarted there,
    # refreshes the round all the same; the queue stays
    corg.set_round(ROUND_UNITS + LATER_UNITS, MEMBERS)
    dropped: list[str] = []

    def drop(route: Any) -> None:
        dropped.append(route.request.url)
        route.abort("internetdisconnected")

    ctx.route(SHEETS, drop)
    ctx.set_offline(False)
    page.reload()
    until(page, lambda: bool(dropped), "the app to try its sheet")
    app.page.clock.fast_forward(10_000)  # its retries' back-off
    app.wait_round(LATER_UNITS)
    app.expect_waiting(count)
    ctx.set_offline(True)
    ctx.unroute(SHEETS)
    assert server_receipts(session_factory, corg) == []

    # day 2
    page.clock.set_system_time(corg.at(day2, 7, 45))
    assert page.evaluate("() => new Date().getDate()") == day2.day
    for i in range(22):
        ref = (LATER_UNITS + ROUND_UNITS[:4] + MEMBERS)[i % 8]
        amount = "300.00" if ref in MEMBERS else ("165.00" if i % 5 == 0 else "55.00")
        record(ref, amount)
    record("BUS-03", "55.00", channel="mobile_money", note="MM-778812")
    app.payer_field().fill("BUS-12")
    app.amount_field().fill("110.00")
    app.save()
    count += 1
    recorded["BUS-12"] += 11000
    app.expect_waiting(count)
    record("BUS-04", "20.50")  # a part payment
    assert count == 50

    # the phone restarts the app with no network: the service worker serves it, the queue is kept
    page.reload()
    app.expect_waiting(50)
    expect(app.item(app.t("waiting"))).to_have_count(50)
    assert server_receipts(session_factory, corg) == []

    sheets: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: sheets.append(r.post_data_json) if r.url.endswith("/collection-sheets") else None,
    )
    ctx.set_offline(False)
    app.sync()
    app.expect_waiting(0, timeout=30_000)
    until(page, lambda: sum(len(s["receipts"]) for s in sheets) >= 50, "the sheets")
    # one sheet per day of the organisation (the phone's local days, not UTC's)
    zone = corg.at(day1, 0).tzinfo
    assert [s["collected_on"] for s in sheets] == [day1.isoformat(), day2.isoformat()]
    for s in sheets:
        for item in s["receipts"]:
            local = datetime.fromisoformat(item["received_at"]).astimezone(zone).date()
            assert local.isoformat() == s["collected_on"], (item, s["collected_on"])
    posted = server_receipts(session_factory, corg)
    assert len(posted) == 50
    assert {r.collector_id for r in posted} == {corg.collector_id}
    assert len({r.client_id for r in posted}) == 50
    days = Counter(r.received_at.astimezone(zone).date() for r in posted)
    assert days == {day1: 25, day2: 25}, days
    by_payer: dict[Any, int] = defaultdict(int)
    for r in posted:
        by_payer[r.unit_id or r.member_id] += r.amount
    assert by_payer == {corg.payer_id(ref): total for ref, total in recorded.items()}
    assert {r.channel for r in posted if r.reference == "MM-778812"} == {"mobile_money"}

    # every item shows its receipt number
    expect(app.item(app.t("posted"))).to_have_count(50)
    for r in posted:
        expect(app.item(app.number_text(r.receipt_number))).to_have_count(1)

    # each payer's money paid its dues oldest first; the cash is the collector's; books verify
    for payer, dues in dues_paid(session_factory, corg).items():
        assert [paid for _, paid in dues] == expected_paid(dues, by_payer.get(payer, 0)), payer
    total = sum(recorded.values())
    assert corg.cash_balance() == money(total)
    books_verify(session_factory, corg)


def test_a_sync_whose_network_drops(corg, contexts, session_factory) -> None:  # type: ignore[no-untyped-def]
    """The sheet is lost (a) before it reaches the server, (b) after the server took it, the
    answer never coming back; the next sync posts each receipt once, with its number."""
    # a clock the test can move on (the app's retries); in the past, as a phone's may be
    app = signed_in(contexts, corg, clock=datetime.now(UTC) - timedelta(minutes=30))
    page, ctx = app.page, app.page.context
    ctx.set_offline(True)
    refs = ROUND_UNITS[:6]
    for n, ref in enumerate(refs, start=1):
        app.record(ref, "55.00")
        app.expect_waiting(n)

    mode = "abort"
    seen: dict[str, int] = Counter()
    answers: list[dict[str, Any]] = []

    def network(route: Any) -> None:
        seen[mode] += 1
        if mode == "abort":  # (a) cut before the server
            route.abort("internetdisconnected")
            return
        answer = route.fetch()
        answers.append(answer.json())
        route.abort("connectionreset")  # (b) the server answered; the answer is lost

    def settle() -> None:
        """Until the app's sync (with its retries, fast-forwarded) is over."""
        deadline = time.monotonic() + 15
        while app.t("sending") in app.status_line().inner_text():
            assert time.monotonic() < deadline, "the sync never ended"
            page.clock.fast_forward(5_000)
            page.wait_for_timeout(50)

    ctx.route(SHEETS, network)
    ctx.set_offline(False)
    app.sync()
    until(page, lambda: seen["abort"] > 0, "the app to send its sheet")
    settle()
    app.expect_waiting(6)
    assert server_receipts(session_factory, corg) == []

    mode = "lose"
    app.sync()
    until(page, lambda: seen["lose"] > 0, "the app to send its sheet again")
    settle()
    assert answers[0]["created"] == 6, answers[0]
    app.expect_waiting(6)  # it never heard back: still waiting, nothing shown as posted
    expect(app.item(app.t("posted"))).to_have_count(0)
    assert len(server_receipts(session_factory, corg)) == 6

    # the network is back: the same client ids again, the server answers "duplicate"
    ctx.unroute(SHEETS)
    answers.clear()
    page.on(
        "response",
        lambda r: answers.append(r.json()) if r.url.endswith("/collection-sheets") else None,
    )
    app.sync()
    app.expect_waiting(0)
    settle()
    until(page, lambda: bool(answers), "the sheet's answer")
    assert answers and all(a["created"] == 0 for a in answers), answers
    assert sum(a["duplicates"] for a in answers) >= 6
    posted = server_receipts(session_factory, corg)
    assert len(posted) == 6
    assert sorted(r.unit_id for r in posted) == sorted(corg.units[r] for r in refs)
    assert len({r.client_id for r in posted}) == 6
    expect(app.item(app.t("posted"))).to_have_count(6)
    for r in posted:
        expect(app.item(app.number_text(r.receipt_number))).to_have_count(1)
    assert corg.cash_balance() == "330.00"
    books_verify(session_factory, corg)


def test_a_token_that_expired_offline(corg, contexts, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Receipts recorded offline while the token expires: the sync asks to sign in again,
    keeps the queue, and after sign-in posts each once."""
    page = contexts().new_page()
    app = Collect(page, corg, Lang(corg.base_url, "en"))
    app.open()
    with page.expect_response("**/api/v1/auth/token") as signed:
        app.sign_in()
    token = signed.value.json()["access_token"]
    app.wait_round(ROUND_UNITS)
    wait_service_worker(page)
    ctx = page.context
    ctx.set_offline(True)
    for n, ref in enumerate(("BUS-01", "BUS-02", "S-001"), start=1):
        app.record(ref, "55.00")
        app.expect_waiting(n)

    replaced = page.evaluate(
        """([old, expired]) => {
             let n = 0;
             for (const key of Object.keys(localStorage)) {
               const value = localStorage.getItem(key);
               if (value && value.includes(old)) {
                 localStorage.setItem(key, value.split(old).join(expired));
                 n += 1;
               }
             }
             return n;
           }""",
        [token, corg.expired_token()],
    )
    assert replaced >= 1, "the app keeps its token somewhere other than localStorage"
    page.reload()  # offline: the app starts from its stored state, with the expired token
    app.expect_waiting(3)

    ctx.set_offline(False)
    if app.sync_button().is_visible():
        app.sync()
    password = page.get_by_label(app.t("Password"), exact=True)
    expect(password).to_be_visible()
    expect(
        page.get_by_text(app.t("Sign in again to send %(count)s waiting receipts", count=3))
    ).to_be_visible()
    expect(page.get_by_label(app.t("Organisation"), exact=True)).to_have_value(corg.code)
    expect(page.get_by_label(app.t("Username"), exact=True)).to_have_value(corg.username)
    assert server_receipts(session_factory, corg) == []

    app.sign_in(fill_organisation=False)
    if app.sync_button().is_enabled():
        app.sync()
    app.expect_waiting(0)
    posted = server_receipts(session_factory, corg)
    assert len(posted) == 3 and len({r.client_id for r in posted}) == 3
    assert {r.collector_id for r in posted} == {corg.collector_id}
    expect(app.item(app.t("posted"))).to_have_count(3)
    books_verify(session_factory, corg)


def test_another_collector_on_the_same_phone(corg, contexts, session_factory) -> None:  # type: ignore[no-untyped-def]
    """A second collector signing in on the phone neither sees nor sends the first's waiting
    receipts; the first, back, finds and sends them, as theirs."""
    from app.core.audit import CLI_ACTOR
    from app.core.database import unit_of_work
    from app.identity.service import create_user

    with unit_of_work(session_factory, corg.id) as s:
        create_user(s, CLI_ACTOR, username="rosa", password=corg.password, role="collector")
    app = signed_in(contexts, corg)
    page, ctx = app.page, app.page.context
    ctx.set_offline(True)
    app.record("BUS-01", "55.00")
    app.record("BUS-02", "55.00")
    app.expect_waiting(2)
    page.once("dialog", lambda d: d.accept())  # "Receipts waiting to be sent: 2. Sign out anyway?"
    page.get_by_role("button", name="Sign out", exact=True).click()
    ctx.set_offline(False)

    rosa = Collect(page, CollectOrg(**{**corg.__dict__, "username": "rosa"}), app.lang)
    page.get_by_label("Username", exact=True).fill("rosa")
    rosa.sign_in(fill_organisation=False)
    rosa.expect_waiting(0)
    expect(rosa.items()).to_have_count(0)
    rosa.sync()
    page.wait_for_timeout(500)
    assert server_receipts(session_factory, corg) == []

    page.get_by_role("button", name="Sign out", exact=True).click()
    page.get_by_label("Username", exact=True).fill(corg.username)
    app.sign_in(fill_organisation=False)
    app.expect_waiting(0)  # sent on sign-in
    posted = server_receipts(session_factory, corg)
    assert len(posted) == 2 and {r.collector_id for r in posted} == {corg.collector_id}
    expect(app.item("posted")).to_have_count(2)
