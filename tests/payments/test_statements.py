"""Reconciling a payment channel against the provider's statement (issue 14): each line matched
to its notification, an amount that differs listed, a callback that never came made a
notification from the statement line (matched to its payer or held in suspense), a
notification the statement does not show listed; a dry run writes nothing, a statement sent
twice creates nothing twice, a bad file is refused naming row and column. Over HTTP, on
SQLite and PostgreSQL; the books verify after each step. The web page: check, then reconcile
once per form, in French; the statement and report pages at 360 px in Chromium, script off, in
English, French and Spanish."""

from __future__ import annotations

import html
import re

import sqlalchemy as sa

from tests.collections.test_receipts_api import count
from tests.collections.test_reversal_and_credit import clean_books
from tests.payments.test_generic_json import payment, send, suspense_balance, till

__all__ = ["till"]  # a fixture, shared with test_generic_json

PATH = "/api/v1/payment-channels/TILL-1/statements"
TABLES = ("payment_notification", "receipt", "journal_entry", "posting", "allocation")

STATEMENT = (
    "transaction_id,amount,occurred_at,account_reference,msisdn\n"
    "TX1,150.00,2026-11-20T08:00:00-04:00,M-001,\n"
    "TX2,40.00,2026-11-20T09:00:00-04:00,ZZ-404,\n"
    "TX3,120.00,2026-11-20T10:00:00-04:00,M-002,\n"
    "TX5,75.00,2026-11-20T14:00:00-04:00,m 002,\n"
    "TX6,30.00,2026-11-20T18:00:00-04:00,NOBODY,\n"
)
# the same statement as a spreadsheet in Spanish saves it: BOM, semicolons, decimal commas,
# a column of its own, the provider's times in the organisation's zone (UTC here)
STATEMENT_SEMICOLON = (
    "\ufefftransaction_id;amount;occurred_at;account_reference;msisdn;balance\n"
    "TX1;150,00;2026-11-20 12:00:00;M-001;;1000,00\n"
    "TX2;40,00;2026-11-20 13:00:00;ZZ-404;;1040,00\n"
    "TX3;120,00;2026-11-20 14:00:00;M-002;;1160,00\n"
    "TX5;75,00;2026-11-20 18:00:00;m 002;;1235,00\n"
    "TX6;30,00;2026-11-20 22:00:00;NOBODY;;1265,00\n"
)


def upload(client, org, text: str, role: str = "treasurer", **params: str):  # type: ignore[no-untyped-def]
    return client.post(
        PATH,
        params=params,
        files={"file": ("statement.csv", text.encode("utf-8"), "text/csv")},
        headers=org.headers(role),
    )


def rows(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {t: count(engine, t) for t in TABLES}


def the_day(client, channel) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """A till's day: TX1 matched, TX2 held (unknown reference), TX3 matched (the statement
    says another amount), TX4 matched (not on the statement), TX7 the next day."""
    answers = {}
    for txid, ref, amount, at in (
        ("TX1", "M-001", "150.00", "2026-11-20T08:00:00-04:00"),
        ("TX2", "ZZ-404", "40.00", "2026-11-20T09:00:00-04:00"),
        ("TX3", "M-002", "100.00", "2026-11-20T10:00:00-04:00"),
        ("TX4", "M-001", "50.00", "2026-11-20T12:00:00-04:00"),
        ("TX7", "M-001", "20.00", "2026-11-21T12:00:00-04:00"),
    ):
        r = send(client, channel, payment(txid, ref, amount, occurred_at=at))
        assert r.status_code == 200, r.text
        answers[txid] = r.json()
    assert [answers[t]["status"] for t in ("TX1", "TX2", "TX3", "TX4")] == [
        "matched",
        "suspense",
        "matched",
        "matched",
    ]
    return answers


def test_a_statement_is_reconciled_once_dry_run_first(
    client, org, till, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    book, channel = till
    sent = the_day(client, channel)
    clean_books(session_factory, org)
    before = rows(engine)

    dry = upload(client, org, STATEMENT, dry_run="true")
    assert dry.status_code == 200, dry.text
    d = dry.json()
    assert rows(engine) == before  # nothing written
    assert d["dry_run"] is True and d["lines"] == 5 and d["matched"] == 2
    assert [(c["transaction_id"], c["result"], c["status"], c["notification_id"]) for c in d["created"]] == [
        ("TX5", "created", "matched", None),
        ("TX6", "created", "suspense", None),
    ]  # fmt: skip
    assert "NOBODY" in d["created"][1]["reason"]
    assert d["created"][1]["reason_code"] == "payment.no_payer"
    assert [
        (m["row"], m["transaction_id"], m["statement_amount"], m["notification_amount"])
        for m in d["amount_mismatches"]
    ] == [(4, "TX3", "120.00", "100.00")]
    assert [m["transaction_id"] for m in d["missing_in_statement"]] == ["TX4"]
    assert d["missing_in_statement"][0]["notification_id"] == sent["TX4"]["notification_id"]
    assert d["missing_count"] == 1
    assert d["period"] == {
        "starts_at": "2026-11-20T12:00:00Z",
        "ends_at": "2026-11-20T22:00:00Z",
        "starts_on": "2026-11-20",
        "ends_on": "2026-11-20",
        "from_query": False,
    }
    assert [r["result"] for r in d["results"]] == [
        "matched",
        "matched",
        "amount_mismatch",
        "created",
        "created",
    ]
    assert d["results"][0]["notification_id"] == sent["TX1"]["notification_id"]
    assert d["results"][1]["status"] == "suspense"

    real = upload(client, org, STATEMENT)
    assert real.status_code == 200, real.text
    r = real.json()
    assert r["dry_run"] is False
    # the same answer as the dry run foresaw, with the notifications now made
    strip = ("notification_id", "receipt_id", "dry_run", "created", "results")
    assert {k: v for k, v in r.items() if k not in strip} == {
        k: v for k, v in d.items() if k not in strip
    }
    created = {c["transaction_id"]: c for c in r["created"]}
    assert created["TX5"]["status"] == "matched" and created["TX5"]["receipt_id"]
    assert created["TX6"]["status"] == "suspense" and created["TX6"]["receipt_id"] is None
    assert all(c["notification_id"] for c in r["created"])
    after = rows(engine)
    assert after["payment_notification"] == before["payment_notification"] + 2
    assert after["receipt"] == before["receipt"] + 1
    receipt = client.get(f"/api/v1/receipts/{created['TX5']['receipt_id']}", headers=org.headers())
    assert receipt.json()["member_id"] == str(book.members["M-002"])
    assert (receipt.json()["reference"], receipt.json()["amount"]) == ("TX5", "75.00")
    assert receipt.json()["received_at"].startswith("2026-11-20T18:00:00")
    listed = client.get(
        "/api/v1/payment-notifications", params={"channel": "TILL-1"}, headers=org.headers()
    ).json()["items"]
    sources = {n["transaction_id"]: n["source"] for n in listed}
    assert sources["TX5"] == sources["TX6"] == "statement" and sources["TX1"] == "callback"
    assert suspense_balance(client, org) == "70.00"  # TX2 and TX6
    # TX3 is left as it was: the treasurer sees the difference
    tx3 = [n for n in listed if n["transaction_id"] == "TX3"]
    assert [(n["amount"], n["status"]) for n in tx3] == [("100.00", "matched")]
    clean_books(session_factory, org)

    # the same statement again (as another spreadsheet saves it): nothing doubled
    again = upload(client, org, STATEMENT_SEMICOLON)
    assert again.status_code == 200, again.text
    a = again.json()
    assert a["created"] == [] and a["settled"] == [] and a["matched"] == 4
    assert [m["transaction_id"] for m in a["amount_mismatches"]] == ["TX3"]
    assert [m["transaction_id"] for m in a["missing_in_statement"]] == ["TX4"]
    assert a["ignored_columns"] == ["balance"]
    assert rows(engine) == after
    assert suspense_balance(client, org) == "70.00"
    clean_books(session_factory, org)

    # the organisation's days named: the whole 20th, so a payment after the last line counts
    late = send(
        client, channel, payment("TX8", "M-001", "10.00", occurred_at="2026-11-20T23:30:00Z")
    )
    assert late.json()["status"] == "matched"
    named = upload(
        client, org, STATEMENT, dry_run="true", **{"from": "2026-11-20", "to": "2026-11-20"}
    )
    n = named.json()
    assert [m["transaction_id"] for m in n["missing_in_statement"]] == ["TX4", "TX8"]
    assert n["period"]["from_query"] is True
    assert n["period"]["starts_at"] == "2026-11-20T00:00:00Z"
    assert n["period"]["ends_at"] == "2026-11-20T23:59:59.999999Z"
    unnamed = upload(client, org, STATEMENT, dry_run="true").json()
    assert [m["transaction_id"] for m in unnamed["missing_in_statement"]] == ["TX4"]
    clean_books(session_factory, org)


def test_a_pending_payment_is_finished_by_its_statement_line(
    client, org, till, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    _, channel = till
    pending = send(client, channel, payment("TX1", "M-001", status="pending")).json()
    assert pending["status"] == "pending"
    statement = "transaction_id,amount,occurred_at\nTX1,150.00,2026-11-20T09:15:00-04:00\n"
    dry = upload(client, org, statement, dry_run="true").json()
    assert [(s["result"], s["status"]) for s in dry["settled"]] == [("settled", "matched")]
    assert count(engine, "receipt") == 0
    real = upload(client, org, statement).json()
    assert [(s["result"], s["status"]) for s in real["settled"]] == [("settled", "matched")]
    assert real["settled"][0]["notification_id"] == pending["notification_id"]
    assert real["settled"][0]["receipt_id"] and real["created"] == []
    assert count(engine, "receipt") == 1 and count(engine, "payment_notification") == 1
    assert upload(client, org, statement).json()["matched"] == 1
    assert count(engine, "receipt") == 1
    clean_books(session_factory, org)


def test_a_bad_file_is_refused_naming_row_and_column(
    client, org, till, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    _, channel = till
    send(client, channel, payment("TX1", "M-001"))
    before = rows(engine)
    bad = (
        "transaction_id,amount,occurred_at,account_reference,msisdn\n"
        "TX1,150.00,2026-11-20T09:15:00-04:00,M-001,\n"
        "TX2,12.345,2026-11-20T09:15:00-04:00,M-001,\n"
        "TX3,10.00,yesterday,M-001,\n"
        ",10.00,2026-11-20T09:15:00-04:00,M-001,\n"
        "TX1,10.00,2026-11-20T09:15:00-04:00,M-001,\n"
        "TX4,-5,2026-11-20T09:15:00-04:00,M-001,\n"
        "TX5,5.00,2026-11-20T09:15:00-04:00,M-001,,extra\n"
    )
    r = upload(client, org, bad)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    said = [(e["row"], e["column"], e["code"]) for e in r.json()["errors"]]
    assert said == [
        (3, "amount", "payment_statement.bad_value"),
        (4, "occurred_at", "payment_statement.bad_occurred_at"),
        (5, "transaction_id", "payment_statement.empty_value"),
        (6, "transaction_id", "payment_statement.transaction_twice"),
        (7, "amount", "payment_statement.bad_value"),
        (8, "row", "payment_statement.extra_values"),
    ]
    first = r.json()["errors"][0]
    assert first["field"] == "file" and first["params"]["row"] == "3"
    assert first["message"] == "row 3, column amount: DOP allows at most 2 decimals"
    assert (
        "row 6" in r.json()["errors"][3]["message"] and "row 2" in r.json()["errors"][3]["message"]
    )
    # a dry run is refused alike
    assert upload(client, org, bad, dry_run="true").status_code == 422
    missing = upload(client, org, "transaction_id,amount\nTX1,150.00\n")
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["code"] == "payment_statement.missing_column"
    assert "occurred_at" in missing.json()["errors"][0]["message"]
    latin1 = "transaction_id,amount,occurred_at,account_reference\nTX9,1.00,2026-11-20,Peña\n"
    not_utf8 = client.post(
        PATH,
        files={"file": ("s.csv", latin1.encode("latin-1"), "text/csv")},
        headers=org.headers(),
    )
    assert not_utf8.status_code == 422 and not_utf8.json()["errors"][0]["field"] == "file"
    period = upload(client, org, STATEMENT, **{"from": "2026-11-21", "to": "2026-11-20"})
    assert period.status_code == 422
    assert period.json()["errors"][0]["code"] == "payment_statement.bad_period"
    assert rows(engine) == before
    clean_books(session_factory, org)


def test_who_may_reconcile_and_an_unknown_channel(client, org, till, engine) -> None:  # type: ignore[no-untyped-def]
    for role in ("collector", "auditor", "fund_office"):
        assert upload(client, org, STATEMENT, role=role).status_code == 403
    assert upload(client, org, STATEMENT, role="admin", dry_run="true").status_code == 200
    unknown = client.post(
        "/api/v1/payment-channels/NOPE/statements",
        files={"file": ("s.csv", STATEMENT.encode(), "text/csv")},
        headers=org.headers(),
    )
    assert unknown.status_code == 404
    # a bad file from someone who may not send one: 403 first, the file is not looked at
    assert upload(client, org, "not,a\nstatement", role="collector").status_code == 403
    assert client.post(PATH, files={"file": ("s.csv", b"x", "text/csv")}).status_code == 401
    assert count(engine, "payment_notification") == 0


def test_an_idempotency_key_answers_the_first_upload_again(
    client, org, till, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    headers = org.headers("treasurer", **{"Idempotency-Key": "stmt-1"})
    files = {"file": ("statement.csv", STATEMENT.encode(), "text/csv")}
    first = client.post(PATH, files=files, headers=headers)
    assert first.status_code == 200 and len(first.json()["created"]) == 5
    again = client.post(PATH, files=files, headers=headers)
    assert again.json() == first.json()
    other = client.post(
        PATH, files={"file": ("s.csv", STATEMENT_SEMICOLON.encode(), "text/csv")}, headers=headers
    )
    assert other.status_code == 409
    assert count(engine, "payment_notification") == 5
    with engine.connect() as conn:
        audit = conn.execute(
            sa.text("SELECT count(*) FROM audit_event WHERE action = 'payment_statement.reconcile'")
        ).scalar_one()
    assert audit == 1
    clean_books(session_factory, org)


# -- the web page -------------------------------------------------------------------------------

WEB = "/web/payment-channels/TILL-1"


def web_users(session_factory, org):  # type: ignore[no-untyped-def]
    """A French treasurer and an English auditor who sign in to the pages."""
    from app.core.audit import CLI_ACTOR
    from app.core.database import bind_organisation, unit_of_work
    from app.identity.service import create_user
    from tests.web.conftest import PASSWORD, WebOrg

    users = {"treasurer": "ana-fr", "auditor": "olga"}
    with unit_of_work(session_factory) as s:
        bind_organisation(s, org.id)
        for role, name in users.items():
            create_user(
                s, CLI_ACTOR, username=name, password=PASSWORD, role=role,
                locale="fr" if role == "treasurer" else "en",
            )  # fmt: skip
    return WebOrg(org.id, org.code, org.currency, users)


def by_testid(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="(\w+)">([^<]*)<', page))


def test_the_statement_page_checks_then_reconciles_once_in_french(
    client, org, till, engine, session_factory
) -> None:  # type: ignore[no-untyped-def]
    from tests.web.conftest import WebClient

    _, channel = till
    the_day(client, channel)
    people = web_users(session_factory, org)
    web = WebClient(client)
    web.sign_in(people, "treasurer")

    page = web.get(f"{WEB}/statements")
    assert page.status_code == 200 and page.headers["content-language"] == "fr"
    assert '<html lang="fr">' in page.text and "Fichier CSV" in page.text
    before = rows(engine)
    dry = web.c.post(
        f"{WEB}/statements",
        data={"csrf_token": web.csrf, "action": "check", "from": "", "to": ""},
        files={"file": ("releve.csv", STATEMENT.encode(), "text/csv")},
    )
    assert dry.status_code == 200, dry.text
    assert rows(engine) == before
    assert "Vérification de releve.csv : rien n\u2019a été enregistré" in dry.text
    said = by_testid(dry.text)
    assert (said["matched"], said["created"], said["mismatches"], said["missing"]) == (
        "2", "2", "1", "1",
    )  # fmt: skip
    assert "TX5" in dry.text and "TX6" in dry.text and "NOBODY" in dry.text
    # the reason a line would be held, in French
    assert "ne désigne aucun membre ni véhicule" in html.unescape(dry.text)
    key = re.search(r'name="form_key" value="([^"]+)"', dry.text)
    content = re.search(r'name="content" value="([^"]+)"', dry.text)
    assert key and content
    web.csrf = re.findall(r'name="csrf_token" value="([^"]+)"', dry.text)[-1]
    form = {
        "action": "post",
        "form_key": key.group(1),
        "filename": "releve.csv",
        "content": content.group(1),
        "from": "",
        "to": "",
    }
    done = web.post(f"{WEB}/statements", form)
    assert done.status_code == 200, done.text
    assert by_testid(done.text)["created"] == "2"
    after = rows(engine)
    assert after["payment_notification"] == before["payment_notification"] + 2
    assert after["receipt"] == before["receipt"] + 1
    # the same form sent again (a double click): the first answer, nothing new
    again = web.post(f"{WEB}/statements", form)
    assert again.status_code == 200 and by_testid(again.text)["created"] == "2"
    assert rows(engine) == after
    clean_books(session_factory, org)

    # a bad file: refused, every bad value named by its row, nothing written
    bad = web.c.post(
        f"{WEB}/statements",
        data={"csrf_token": web.csrf, "action": "check", "from": "2026-11-20", "to": "nope"},
        files={"file": ("b.csv", b"transaction_id,amount,occurred_at\nA,1.001,x\n", "text/csv")},
    )
    assert bad.status_code == 422
    assert "Saisissez une date." in bad.text
    assert "Choisissez un fichier CSV." not in bad.text
    bad = web.c.post(
        f"{WEB}/statements",
        data={"csrf_token": web.csrf, "action": "check"},
        files={"file": ("b.csv", b"transaction_id,amount,occurred_at\nA,1.001,x\n", "text/csv")},
    )
    assert bad.status_code == 422 and 'data-testid="statement-problems"' in bad.text
    assert bad.text.count("<li>") >= 2
    assert rows(engine) == after

    # the report per day, for a period chosen
    report = web.get(f"{WEB}/report", params={"from": "2026-11-20", "to": "2026-11-21"})
    assert report.status_code == 200
    day = re.search(r'<tr data-day="2026-11-20">(.*?)</tr>', report.text, re.S)
    assert day is not None
    cells = dict(re.findall(r'data-figure="(\w+)">(.*?)</td>', day.group(1)))
    assert cells["received"].startswith("6 ")  # TX1-TX4, TX5 and TX6 from the statement
    assert cells["from_statement"].startswith("2 ")
    csv_file = web.get(
        f"{WEB}/report", params={"from": "2026-11-20", "to": "2026-11-21", "format": "csv"}
    )
    assert csv_file.headers["content-type"].startswith("text/csv")
    assert "2026-11-20,6,445.00,4,375.00,2,70.00" in csv_file.text  # fmt: skip

    # an auditor reads the report, not the statement page
    client.cookies.clear()
    auditor = WebClient(client)
    auditor.sign_in(people, "auditor")
    assert auditor.get(f"{WEB}/report").status_code == 200
    assert auditor.get(f"{WEB}/statements").status_code == 403
    assert auditor.get("/web/payment-channels/NOPE/report").status_code == 404


def test_the_statement_and_report_pages_fit_a_phone_without_script(
    client, org, till, browser, live_server, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    """At 360 px, script off, in English, French and Spanish: the check, its result, the
    reconciliation and the report, none scrolling sideways or cutting a figure."""
    from app.core.audit import CLI_ACTOR
    from app.core.database import bind_organisation, unit_of_work
    from app.identity.service import create_user
    from tests.web.conftest import PASSWORD
    from tests.web.test_browser_phone_width import LANGUAGES, MEASURE, WIDTH

    _, channel = till
    the_day(client, channel)
    long_line = "TX-2026-11-20-000000042,1250.50,2026-11-20T19:00:00-04:00,ZZ-404-UNKNOWN-REF,+18095550199\n"
    with unit_of_work(session_factory) as s:
        bind_organisation(s, org.id)
        for lang in LANGUAGES:
            create_user(s, CLI_ACTOR, username=f"t-{lang}", password=PASSWORD,
                        role="treasurer", locale=lang)  # fmt: skip
    for n, (lang, browser_locale) in enumerate(LANGUAGES.items()):
        context = browser.new_context(
            base_url=live_server, locale=browser_locale, viewport={"width": WIDTH, "height": 740},
            has_touch=True, device_scale_factor=1, java_script_enabled=False,
        )  # fmt: skip
        context.set_default_timeout(15_000)
        try:
            page = context.new_page()
            page.goto("/web/sign-in")
            page.locator("#f-organisation").fill(org.code)
            page.locator("#f-username").fill(f"t-{lang}")
            page.locator("#f-password").fill(PASSWORD)
            with page.expect_navigation():
                page.locator("main button.primary").click()
            page.goto(f"{WEB}/statements")
            assert page.evaluate("document.documentElement.lang") == lang
            problems = [f"{lang} form: {p}" for p in page.evaluate(MEASURE, WIDTH)]
            text = STATEMENT + long_line.replace("42,", f"4{n},")
            page.locator("#f-file").set_input_files(
                files=[{"name": "statement.csv", "mimeType": "text/csv", "buffer": text.encode()}]
            )
            with page.expect_navigation():
                page.locator("main form button.primary").click()
            assert page.get_by_test_id("statement-result").count() == 1
            problems += [f"{lang} check: {p}" for p in page.evaluate(MEASURE, WIDTH)]
            page.locator("details[data-testid=statement-lines] summary").click()
            problems += [f"{lang} lines: {p}" for p in page.evaluate(MEASURE, WIDTH)]
            with page.expect_navigation():
                page.locator("main form.actions button.primary").click()
            assert page.get_by_test_id("created").inner_text() == ("3" if n == 0 else "1")
            problems += [f"{lang} done: {p}" for p in page.evaluate(MEASURE, WIDTH)]
            page.goto(f"{WEB}/report?from=2026-11-19&to=2026-11-21")
            problems += [f"{lang} report: {p}" for p in page.evaluate(MEASURE, WIDTH)]
            assert not problems, "\n".join(problems)
        finally:
            context.close()
    assert count(engine, "payment_notification", "source = 'statement'") == 5
    clean_books(session_factory, org)
