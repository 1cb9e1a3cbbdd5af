"""The treasurer's pages over HTTP (no script): what is written, what is not, and what a
person reads. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.web.csvfile import safe_cell
from tests.web.book import make_book
from tests.web.conftest import WebClient


def count(engine, table: str, where: str = "") -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table} {where}")).scalar_one())


def form_key(page) -> str:  # type: ignore[no-untyped-def]
    return re.search(r'name="form_key" value="([^"]+)"', page.text).group(1)


def field_errors(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(re.findall(r'class="field-error" id="e-([^"]+)">([^<]+)<', page.text))


@pytest.fixture
def book(session_factory, web_org):  # type: ignore[no-untyped-def]
    return make_book(session_factory, web_org.id)


def summary(html: str) -> str:
    """The upload summary's text: label and count per kind of row, no plural to get wrong."""
    found = re.search(r'data-testid="upload-summary">(.*?)</p>', html, re.S)
    assert found is not None, html
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


def test_a_receipt_form_sent_twice_posts_once(web, web_org, book, engine) -> None:  # type: ignore[no-untyped-def]
    web.sign_in(web_org)
    page = web.get("/web/receipts/new?member=M-0001")
    assert 'value="M-0001"' in page.text
    data = {
        "form_key": form_key(page),
        "payer": "M-0001",
        "amount": "450.50",
        "received_at": "2026-11-20T09:30",
        "channel": "cash",
    }
    first = web.post("/web/receipts/new", data, follow_redirects=False)
    again = web.post("/web/receipts/new", data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert count(engine, "receipt") == 1
    assert count(engine, "journal_entry", "WHERE kind = 'receipt'") == 1
    slip = web.get(first.headers["location"])
    assert 'data-testid="receipt-number">#1<' in slip.text
    assert "DOP\u00a0450.50" in slip.text
    assert "Receipt number 1 was posted." in slip.text
    # the same form with another amount is a new receipt only with a new form key
    fresh = web.get("/web/receipts/new")
    data2 = {**data, "form_key": form_key(fresh), "amount": "10.00"}
    assert web.post("/web/receipts/new", data2, follow_redirects=False).status_code == 303
    assert count(engine, "receipt") == 2


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"payer": "M-9999"}, "payer", "No member or transport unit"),
        ({"payer": ""}, "payer", "Enter a member number"),
        ({"amount": "150.505"}, "amount", "Enter an amount such as 150.00"),
        ({"amount": "0"}, "amount", "greater than zero"),
        ({"amount": "=1+1"}, "amount", "Enter an amount"),
        ({"received_at": "yesterday"}, "received_at", "Enter the date and time"),
        ({"received_at": "2099-01-01T10:00"}, "received_at", "future"),
        ({"channel": "gold"}, "channel", "Choose one of the options"),
    ],
)
def test_a_bad_receipt_names_the_field_keeps_the_input_and_writes_nothing(
    web, web_org, book, engine, changes, field, message
) -> None:  # type: ignore[no-untyped-def]
    web.sign_in(web_org)
    page = web.get("/web/receipts/new")
    data = {
        "form_key": form_key(page),
        "payer": "M-0001",
        "amount": "100.00",
        "received_at": "2026-11-20T09:30",
        "channel": "cash",
        "reference": "MM-<script>",
        **changes,
    }
    r = web.post("/web/receipts/new", data)
    assert r.status_code == 422
    errors = field_errors(r)
    assert message in errors.get(field, ""), errors
    assert 'value="MM-&lt;script&gt;"' in r.text  # kept, and escaped
    assert form_key(r) != data["form_key"]
    assert (
        count(engine, "receipt") == 0
        and count(engine, "journal_entry", "WHERE kind = 'receipt'") == 0
    )


def test_a_french_treasurer_types_a_decimal_comma_and_reads_french(
    make_web_org, session_factory, client, engine
) -> None:  # type: ignore[no-untyped-def]
    org = make_web_org("MUFEDE", locale="fr")
    make_book(session_factory, org.id)
    web = WebClient(client)
    web.sign_in(org)
    page = web.get("/web/receipts/new")
    assert "Enregistrer un encaissement" in page.text
    r = web.post(
        "/web/receipts/new",
        {
            "form_key": form_key(page),
            "payer": "M-0002",
            "amount": "1 250,75",
            "received_at": "2026-11-20T09:30",
            "channel": "mobile_money",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    slip = web.get(r.headers["location"])
    assert "1\u202f250,75\u00a0DOP" in slip.text and "Reçu" in slip.text
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT amount FROM receipt")).scalar_one() == 125075


def test_reversal_needs_a_reason_and_happens_once(web, web_org, book, engine) -> None:  # type: ignore[no-untyped-def]
    web.sign_in(web_org)
    page = web.get("/web/receipts/new")
    r = web.post(
        "/web/receipts/new",
        {
            "form_key": form_key(page),
            "payer": "M-0001",
            "amount": "300.00",
            "received_at": "2026-11-20T09:30",
            "channel": "cash",
        },
        follow_redirects=False,
    )
    url = r.headers["location"]
    web.get(url)
    no_reason = web.post(url + "/reverse", {"reason": "  "})
    assert no_reason.status_code == 422 and "Say why" in field_errors(no_reason)["reason"]
    assert count(engine, "journal_entry", "WHERE kind = 'reversal'") == 0
    done = web.post(url + "/reverse", {"reason": "counted twice"})
    assert "Receipt number 1 was reversed." in done.text and "counted twice" in done.text
    twice = web.post(url + "/reverse", {"reason": "again"})
    assert "already reversed" in twice.text
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM journal_entry WHERE reverses_id IS NOT NULL")
            ).scalar_one()
            == 1
        )


def test_members_create_edit_search_and_scope(
    client, web_org, book, make_web_org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    web = WebClient(client)
    web.sign_in(web_org)
    page = web.get("/web/members/new")
    bad = web.post(
        "/web/members/new",
        {
            "form_key": form_key(page),
            "member_number": "M 7",
            "full_name": "",
            "phone": "call me",
            "joined_on": "2026-02-30",
            "status": "active",
            "affiliation:PENSION": "SS-1",
        },
    )
    assert bad.status_code == 422
    errors = field_errors(bad)
    assert set(errors) == {"member_number", "full_name", "phone", "joined_on"}
    assert 'value="call me"' in bad.text and 'value="SS-1"' in bad.text
    members_before = count(engine, "member")
    taken = web.post(
        "/web/members/new",
        {
            "form_key": form_key(bad),
            "member_number": "M-0001",
            "full_name": "Copy",
            "joined_on": "2026-02-01",
            "status": "active",
        },
    )
    assert taken.status_code == 422 and "taken" in field_errors(taken)["member_number"]
    ok = web.post(
        "/web/members/new",
        {
            "form_key": form_key(taken),
            "member_number": "M-0007",
            "full_name": "Rosa Díaz",
            "joined_on": "2026-02-01",
            "status": "active",
            "affiliation:PENSION": "SS-77",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert count(engine, "member") == members_before + 1
    member_page = web.get(ok.headers["location"])
    assert "Rosa Díaz" in member_page.text and "SS-77" in member_page.text
    assert 'data-testid="arrears">DOP\u00a00.00<' in member_page.text
    edit_url = ok.headers["location"] + "/edit"
    web.get(edit_url)
    r = web.post(
        edit_url,
        {
            "full_name": "Rosa Díaz Peña",
            "joined_on": "2026-02-01",
            "status": "suspended",
            "affiliation:PENSION": "",
        },
        follow_redirects=True,
    )
    assert "Rosa Díaz Peña" in r.text and "suspended" in r.text and "SS-77" not in r.text
    found = web.get("/web/members?q=pe%C3%B1a")
    assert "M-0007" in found.text and "M-0001" not in found.text
    # a member with arrears shows them, with coverage per fund
    maria = web.get(f"/web/members/{book.members['M-0001']}")
    assert "PENSION" in maria.text and "HEALTH" in maria.text
    assert 'data-testid="arrears">DOP\u00a00.00<' not in maria.text

    other = make_web_org("OTHER", roles=("treasurer", "auditor"))
    client.cookies.clear()
    stranger = WebClient(client)
    stranger.sign_in(other)
    assert stranger.get(ok.headers["location"]).status_code == 404
    assert stranger.get(edit_url).status_code == 404
    client.cookies.clear()
    auditor = WebClient(client)
    auditor.sign_in(other, "auditor")
    assert auditor.get("/web/members/new").status_code == 403


def test_uploads_dry_run_writes_nothing_and_the_good_rows_post_once(
    web, web_org, book, engine
) -> None:  # type: ignore[no-untyped-def]
    web.sign_in(web_org)
    web.get("/web/uploads/receipts")
    sheet = (
        b"client_id;member_number;amount;received_at;channel\n"
        b"c-1;M-0001;300.00;2026-11-21;cash\n"
        b"c-2;M-9999;50.00;2026-11-21;cash\n"
        b"c-3;M-0002;12.345;2026-11-21;cash\n"
    )
    dry = web.c.post(
        "/web/uploads/receipts",
        data={"csrf_token": web.csrf, "action": "check"},
        files={"file": ("sheet.csv", sheet, "text/csv")},
    )
    assert dry.status_code == 200
    assert summary(dry.text) == (
        "Rows that can be written: 1 · Rows already there: 0 · Rows with errors: 2"
    )
    rows = re.findall(r'<tr class="row-(\w+)"><td[^>]*>(\d+)</td>', dry.text)
    assert rows == [("valid", "2"), ("rejected", "3"), ("rejected", "4")]
    assert count(engine, "receipt") == 0
    content = re.search(r'name="content" value="([^"]+)"', dry.text).group(1)
    post = {
        "action": "post",
        "form_key": form_key(dry),
        "content": content,
        "filename": "sheet.csv",
    }
    web.csrf = re.findall(r'name="csrf_token" value="([^"]+)"', dry.text)[-1]
    done = web.post("/web/uploads/receipts", post)
    assert summary(done.text).startswith("Rows written: 1 ·")
    again = web.post("/web/uploads/receipts", post)
    assert again.status_code == 200
    assert count(engine, "receipt") == 1

    empty = web.c.post("/web/uploads/members", data={"csrf_token": web.csrf, "action": "check"})
    assert empty.status_code == 422 and "Choose a CSV file." in empty.text
    members = "member_number,full_name,joined_on\nM-0100,Ana Núñez,2026-02-01\nM-0101,,2026-02-01\n"
    before = count(engine, "member")
    dry = web.c.post(
        "/web/uploads/members",
        data={"csrf_token": web.csrf, "action": "check"},
        files={"file": ("m.csv", members.encode(), "text/csv")},
    )
    assert summary(dry.text) == (
        "Rows that can be written: 1 · Rows already there: 0 · Rows with errors: 1"
    )
    assert count(engine, "member") == before


def test_a_batch_from_draft_to_settled_and_its_files(web, web_org, book, engine) -> None:  # type: ignore[no-untyped-def]
    web.sign_in(web_org)
    for number in ("M-0001", "M-0002"):
        page = web.get("/web/receipts/new")
        web.post(
            "/web/receipts/new",
            {
                "form_key": form_key(page),
                "payer": number,
                "amount": "600.00",
                "received_at": "2026-11-20T09:30",
                "channel": "bank",
            },
        )
    page = web.get("/web/remittances")
    nothing = web.post(
        "/web/remittances/new",
        {"form_key": form_key(page), "fund_code": "HEALTH", "through": "2020-01-31"},
    )
    assert nothing.status_code == 422 and count(engine, "remittance_batch") == 0
    data = {"form_key": form_key(nothing), "fund_code": "PENSION", "through": "2026-11-30"}
    r1 = web.post("/web/remittances/new", data, follow_redirects=False)
    r2 = web.post("/web/remittances/new", data, follow_redirects=False)
    assert r1.headers["location"] == r2.headers["location"]
    assert count(engine, "remittance_batch") == 1
    url = r1.headers["location"]
    batch = web.get(url)
    # two months each (Sep, Oct) at 300.00 less a 5% fee, 80% to PENSION: 228.00 a line
    assert 'data-testid="line-count">4<' in batch.text
    assert 'data-testid="control-sum">DOP\u00a0912.00<' in batch.text
    assert web.c.get(url + "/file?format=pain.001", follow_redirects=False).status_code == 303
    sealed = web.post(url + "/seal", {})
    assert "The batch is sealed." in sealed.text
    xml = web.c.get(url + "/file?format=pain.001")
    assert xml.status_code == 200 and "pain.001.001.09" in xml.text
    assert "<CtrlSum>912.00</CtrlSum>" in xml.text
    submitted = web.post(url + "/submit", {})
    e2e = re.findall(r'name="decision:([^"]+)"', submitted.text)
    assert len(e2e) == 4
    decisions = {f"decision:{e}": "accepted" for e in e2e}
    decisions[f"decision:{e2e[0]}"] = "rejected"
    missing = web.post(url + "/acknowledgement", decisions)
    assert missing.status_code == 422 and "A rejection needs a reason." in missing.text
    acked = web.post(
        url + "/acknowledgement", {**decisions, f"reason:{e2e[0]}": "unknown affiliate"}
    )
    assert 'data-testid="batch-status">acknowledged<' in acked.text
    assert "DOP\u00a0684.00" in acked.text  # accepted: three lines
    short = web.post(
        url + "/settlement", {"amount": "680.00", "settled_on": "2026-11-22", "reference": "TRF-9"}
    )
    assert 'data-testid="batch-status">settled<' in short.text
    assert "Differs from the accepted sum by -DOP\u00a04.00" in short.text
    funds = web.c.get("/web/reports/funds?format=csv")
    assert "PENSION,Fondo de pensiones" in funds.text and "-4.00" in funds.text


def test_report_csv_cells_cannot_run_as_formulas(web, web_org, session_factory) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from app.core.audit import CLI_ACTOR
    from app.core.database import unit_of_work
    from app.members.schemas import MemberCreate
    from app.members.service import create_member

    make_book(session_factory, web_org.id)
    with unit_of_work(session_factory, web_org.id) as s:
        create_member(
            s,
            CLI_ACTOR,
            MemberCreate(
                member_number="M-0666",
                full_name='=HYPERLINK("http://x")',
                joined_on=date(2026, 1, 1),
            ),
        )
    web.sign_in(web_org)
    csv = web.c.get("/web/reports/arrears?format=csv").text
    assert csv.startswith("\ufeffmember_number,")
    assert "600.00" in csv
    assert safe_cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert safe_cell("+1") == "'+1" and safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("-12.50") == "-12.50" and safe_cell("-1+2") == "'-1+2"


def test_every_page_answers_in_every_language(web, web_org, book, session_factory) -> None:  # type: ignore[no-untyped-def]
    web.sign_in(web_org)
    pages = [
        "/web/",
        "/web/members",
        "/web/members/new",
        f"/web/members/{book.members['M-0001']}",
        "/web/units",
        f"/web/units/{book.units['A123456']}",
        "/web/receipts",
        "/web/receipts/new",
        "/web/uploads/receipts",
        "/web/uploads/members",
        "/web/remittances",
        "/web/schemes",
        "/web/schemes?scheme=monthly-dop&months=3",
        "/web/reports",
        "/web/reports/arrears",
        "/web/reports/collections?group_by=scheme",
        "/web/reports/funds",
        "/web/accounts",
    ]
    for locale, word in (("fr", "Tableau de bord"), ("es", "Panel"), ("en", "Dashboard")):
        web.post("/web/language", {"locale": locale, "next": "/web/"})
        for url in pages:
            r = web.get(url)
            assert r.status_code == 200, (locale, url)
            assert f'<html lang="{locale}">' in r.text and word in r.text, (locale, url)


def test_enrol_generate_dues_and_a_unit_with_its_crew(web, web_org, book, engine) -> None:  # type: ignore[no-untyped-def]
    web.sign_in(web_org)
    page = web.get("/web/members/new")
    created = web.post(
        "/web/members/new",
        {
            "form_key": form_key(page),
            "member_number": "M-0050",
            "full_name": "Luz Marte",
            "joined_on": "2026-01-01",
            "status": "active",
        },
        follow_redirects=False,
    )
    url = created.headers["location"]
    web.get(url)
    bad = web.post(url + "/enrolments", {"scheme_code": "", "starts_on": "2026-09-01"})
    assert bad.status_code == 422 and "scheme_code" in field_errors(bad)
    assert count(engine, "enrolment") == 2
    ok = web.post(url + "/enrolments", {"scheme_code": "monthly-dop", "starts_on": "2026-09-01"})
    assert "Enrolled in monthly-dop." in ok.text
    dues_before = count(engine, "due")
    web.get("/web/schemes")
    generated = web.post("/web/dues/generate", {"through": "2026-10-31"})
    assert "2 dues were created for periods ending by Oct 31, 2026." in generated.text
    again = web.post("/web/dues/generate", {"through": "2026-10-31"})
    assert "0 dues were created" in again.text
    assert count(engine, "due") == dues_before + 2
    member = web.get(url)
    # September's due fell on 10 October, October's on 10 November: both overdue
    assert 'data-testid="arrears">DOP\u00a0600.00<' in member.text

    form = web.get("/web/units/new")
    unknown = web.post(
        "/web/units/new",
        {
            "form_key": form_key(form),
            "registration": "B777",
            "kind": "minibus",
            "owner": "M-0050",
            "drivers": "M-0002, M-0404",
        },
    )
    assert unknown.status_code == 422 and "M-0404" in field_errors(unknown)["drivers"]
    assert 'value="M-0002, M-0404"' in unknown.text
    made = web.post(
        "/web/units/new",
        {
            "form_key": form_key(unknown),
            "registration": "B777",
            "kind": "minibus",
            "owner": "M-0050",
            "drivers": "M-0002",
        },
        follow_redirects=True,
    )
    assert "<h1>B777" in made.text and "Luz Marte" in made.text and "Juan Rodríguez" in made.text
    assert count(engine, "transport_unit") == 2
