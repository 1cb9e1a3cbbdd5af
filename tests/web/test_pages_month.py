"""The rest of a treasurer's month over HTTP (no script), on SQLite and PostgreSQL: collectors'
hand-overs, ending enrolments and changing a crew, affiliations answered by the fund, a fund's
page, and the services' refusals in the user's language."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from tests.web.book import make_book
from tests.web.conftest import WebClient
from tests.web.test_pages import count, field_errors, form_key

ROLES = ("treasurer", "collector", "auditor", "admin")


@pytest.fixture
def org(make_web_org):  # type: ignore[no-untyped-def]
    return make_web_org(roles=ROLES)


@pytest.fixture
def book(session_factory, org):  # type: ignore[no-untyped-def]
    return make_book(session_factory, org.id)


def give_cash(session_factory, org, book, minor: int) -> dict[str, uuid.UUID]:  # type: ignore[no-untyped-def]
    """The collector takes a receipt of `minor` from M-0001; a bank account is opened."""
    from app.collections import service as collections
    from app.collections.models import Collector
    from app.collections.receipts import ReceiptDraft
    from app.ledger import service as ledger
    from app.ledger.models import Account, AccountType

    with unit_of_work(session_factory, org.id) as s:
        collector = s.scalar(sa.select(Collector).where(Collector.name == "cobra"))
        assert collector is not None
        collections.post_receipt(
            s,
            CLI_ACTOR,
            ReceiptDraft(
                member_id=book.members["M-0001"],
                unit_id=None,
                amount=minor,
                currency="DOP",
                received_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
                channel="cash",
                collector_id=collector.id,
            ),
        )
        bank = s.scalar(sa.select(Account).where(Account.code == "BANK:MAIN"))
        if bank is None:
            bank = ledger.open_account(
                s,
                CLI_ACTOR,
                code="BANK:MAIN",
                name="Banco Agrícola, cuenta corriente",
                type=AccountType.asset,
                currency="DOP",
            )
        return {"collector": collector.id, "bank": bank.id}


def handover_form(page, ids, **changes):  # type: ignore[no-untyped-def]
    return {
        "form_key": form_key(page),
        "collector_id": str(ids["collector"]),
        "amount": "",
        "counted_amount": "950.00",
        "to_account_id": str(ids["bank"]),
        "handed_over_at": "2026-11-21T17:00",
        "reference": "DEP-0042",
        **changes,
    }


def test_a_handover_with_a_shortfall_is_recorded_once_and_shown(
    web, org, book, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    ids = give_cash(session_factory, org, book, 100000)
    web.sign_in(org)
    page = web.get("/web/handovers")
    assert page.status_code == 200
    assert "cobra" in page.text and "DOP\u00a01,000.00" in page.text
    data = handover_form(page, ids)
    first = web.post("/web/handovers", data, follow_redirects=False)
    again = web.post("/web/handovers", data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert count(engine, "handover") == 1
    assert count(engine, "journal_entry", "WHERE kind = 'handover'") == 1
    shown = web.get(first.headers["location"])
    assert "Shortfall of DOP\u00a050.00 recorded" in shown.text
    assert 'data-testid="handed">DOP\u00a01,000.00<' in shown.text
    assert 'data-testid="counted">DOP\u00a0950.00<' in shown.text
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT amount, counted_amount FROM handover")).one()
    assert tuple(row) == (100000, 95000)
    # the collector now holds nothing: another hand-over is refused, next to the field
    after = web.get("/web/handovers")
    assert "No collector holds cash." in after.text
    nothing = web.post("/web/handovers", handover_form(after, ids))
    assert nothing.status_code == 422
    assert "holds no cash" in field_errors(nothing)["collector_id"]
    assert count(engine, "handover") == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"collector_id": ""}, "collector_id", "Choose a collector"),
        ({"amount": "2000.00"}, "amount", "The collector holds DOP\u00a01,000.00"),
        ({"counted_amount": ""}, "counted_amount", "Enter what was counted"),
        ({"counted_amount": "12.345"}, "counted_amount", "Enter an amount such as"),
        ({"to_account_id": ""}, "to_account_id", "Choose where the cash goes"),
        ({"reference": ""}, "reference", "Enter a reference"),
        ({"handed_over_at": "2099-01-01T10:00"}, "handed_over_at", "is in the future"),
    ],
)
def test_a_bad_handover_names_the_field_keeps_the_input_and_writes_nothing(
    web, org, book, session_factory, engine, changes, field, message
) -> None:  # type: ignore[no-untyped-def]
    ids = give_cash(session_factory, org, book, 100000)
    web.sign_in(org)
    page = web.get("/web/handovers")
    r = web.post("/web/handovers", handover_form(page, ids, **changes))
    assert r.status_code == 422
    assert message in field_errors(r).get(field, ""), field_errors(r)
    assert 'value="950.00"' in r.text or field == "counted_amount"
    assert count(engine, "handover") == 0
    assert count(engine, "journal_entry", "WHERE kind = 'handover'") == 0


def test_an_amount_hint_has_the_currencys_own_decimals(make_web_org, client, engine) -> None:  # type: ignore[no-untyped-def]
    # XAF (Central African CFA franc) has no minor unit, like XOF: the hint must not say 150.00
    org = make_web_org("COOPCAM", currency="XAF", roles=("treasurer",))
    web = WebClient(client)
    web.sign_in(org)
    cash = web.post("/web/handovers", {"form_key": "k" * 20, "counted_amount": "12.5"})
    assert cash.status_code == 422
    # (no collector holds cash, so the form is not shown again: the summary says it)
    assert "Enter an amount such as 5000 (" in cash.text and "150.00" not in cash.text
    receipt = web.post("/web/receipts/new", {"amount": "12.5", "payer": "M-1"})
    assert receipt.status_code == 422
    assert "Enter an amount such as 5000 (" in field_errors(receipt)["amount"]
    assert count(engine, "handover") == 0 and count(engine, "receipt") == 0


def test_only_the_treasurer_records_handovers_and_the_auditor_reads(
    client, org, book, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    ids = give_cash(session_factory, org, book, 5000)
    for role, can_read in (("auditor", True), ("admin", True), ("collector", False)):
        web = WebClient(client)
        web.sign_in(org, role)
        page = web.get("/web/handovers")
        assert page.status_code == (200 if can_read else 403), role
        assert 'action="/web/handovers"' not in page.text
        data = {
            "collector_id": str(ids["collector"]),
            "counted_amount": "50.00",
            "to_account_id": str(ids["bank"]),
            "handed_over_at": "2026-11-21T17:00",
            "reference": "X",
            "form_key": "k" * 20,
        }
        assert web.post("/web/handovers", data).status_code == 403
        client.cookies.clear()
    assert count(engine, "handover") == 0


def test_ending_an_enrolment_from_the_member_and_the_unit(
    web, org, book, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    from app.schemes.models import Enrolment

    with engine.connect() as conn:
        enrolment_id = conn.execute(
            sa.select(Enrolment.id).where(Enrolment.member_id == book.members["M-0002"])
        ).scalar_one()
    web.sign_in(org)
    url = f"/web/members/{book.members['M-0002']}"
    page = web.get(url)
    assert f'action="/web/enrolments/{enrolment_id}/end"' in page.text
    # dues exist through this month: ending in September would rewrite them
    early = web.post(f"/web/enrolments/{enrolment_id}/end", {"ends_on": "2026-09-15"})
    assert early.status_code == 422
    assert "dues of this enrolment exist for periods through" in early.text
    assert 'value="2026-09-15"' in early.text
    empty = web.post(f"/web/enrolments/{enrolment_id}/end", {"ends_on": ""})
    assert empty.status_code == 422 and "Enter the last day" in empty.text
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(Enrolment.ends_on).where(Enrolment.id == enrolment_id)
            ).scalar_one()
            is None
        )
    ended = web.post(f"/web/enrolments/{enrolment_id}/end", {"ends_on": "2027-03-31"})
    assert ended.status_code == 200 and "The enrolment ends on Mar 31, 2027." in ended.text
    assert "to Mar 31, 2027" in ended.text
    reopened = web.post(
        f"/web/enrolments/{enrolment_id}/end", {"ends_on": "2027-03-31", "action": "reopen"}
    )
    assert "The enrolment now has no end." in reopened.text
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(Enrolment.ends_on).where(Enrolment.id == enrolment_id)
            ).scalar_one()
            is None
        )
    # an auditor sees the enrolment, not the form, and may not post it
    client = web.c
    client.cookies.clear()
    auditor = WebClient(client)
    auditor.sign_in(org, "auditor")
    assert "/end" not in auditor.get(url).text
    refused = auditor.post(f"/web/enrolments/{enrolment_id}/end", {"ends_on": "2027-03-31"})
    assert refused.status_code == 403


def test_a_units_crew_is_changed_from_its_page(web, org, book, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    web.sign_in(org)
    url = f"/web/units/{book.units['A123456']}"
    page = web.get(url)
    assert 'name="owner" type="text" value="M-0001"' in page.text
    assert 'name="drivers" type="text" value="M-0002"' in page.text
    bad = web.post(url + "/crew", {"owner": "M-0001", "drivers": "M-0002, M-0999"})
    assert bad.status_code == 422 and "M-0999" in field_errors(bad)["drivers"]
    assert 'value="M-0002, M-0999"' in bad.text
    twice = web.post(url + "/crew", {"owner": "M-0001", "drivers": "M-0001"})
    assert twice.status_code == 422 and "listed twice" in field_errors(twice)["drivers"]
    assert count(engine, "unit_crew") == 2
    ok = web.post(url + "/crew", {"owner": "M-0002", "drivers": "", "conductors": "M-0001"})
    assert ok.status_code == 200 and "The crew was saved." in ok.text
    with engine.connect() as conn:
        roles = dict(conn.execute(sa.text("SELECT role, member_id FROM unit_crew")).all())
    assert set(roles) == {"owner", "conductor"}
    assert str(roles["owner"]).replace("-", "") == book.members["M-0002"].hex


def test_an_affiliation_batch_created_once_downloaded_and_answered(
    web, org, book, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    web.sign_in(org)
    # both members already have a PENSION number; HEALTH has none
    pension = web.get("/web/affiliations?fund=PENSION")
    assert "Every active member is affiliated with PENSION" in pension.text
    page = web.get("/web/affiliations?fund=HEALTH")
    assert "M-0001" in page.text and "M-0002" in page.text
    none = web.post("/web/affiliations/new", {"form_key": form_key(page), "fund_code": "HEALTH"})
    assert none.status_code == 422 and "Choose at least one member" in field_errors(none)["member"]
    data = {
        "form_key": form_key(none),
        "fund_code": "HEALTH",
        "member": [str(book.members["M-0001"]), str(book.members["M-0002"])],
    }
    first = web.post("/web/affiliations/new", data, follow_redirects=False)
    again = web.post("/web/affiliations/new", data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert count(engine, "affiliation_batch") == 1 and count(engine, "affiliation_line") == 2
    url = first.headers["location"]
    batch = web.get(url)
    assert "AF000001" in batch.text
    csv = web.get(url + "/file?format=csv")
    assert csv.status_code == 200 and "M-0001" in csv.text and "María Pérez" in csv.text
    m1, m2 = (str(book.members[n]) for n in ("M-0001", "M-0002"))
    bad = web.post(
        url + "/acknowledgement",
        {f"decision:{m1}": "accepted", f"number:{m1}": "", f"decision:{m2}": "rejected"},
    )
    assert bad.status_code == 422
    errors = field_errors(bad)
    assert "affiliation number" in errors[f"number:{m1}"] and "reason" in errors[f"reason:{m2}"]
    assert count(engine, "member_affiliation", "WHERE affiliation_number = 'HL-77'") == 0
    done = web.post(
        url + "/acknowledgement",
        {
            f"decision:{m1}": "accepted",
            f"number:{m1}": "HL-77",
            f"decision:{m2}": "rejected",
            f"reason:{m2}": "national id missing",
        },
    )
    assert done.status_code == 200 and "answer was recorded." in done.text
    assert 'data-testid="accepted-count">1<' in done.text and "national id missing" in done.text
    assert count(engine, "member_affiliation", "WHERE affiliation_number = 'HL-77'") == 1
    member = web.get(f"/web/members/{m1}")
    assert "HL-77" in member.text


def test_a_funds_page_shows_what_is_owed_in_transit_and_settled(web, org, book) -> None:  # type: ignore[no-untyped-def]
    web.sign_in(org)
    r = web.get("/web/funds/PENSION")
    assert r.status_code == 200
    assert "Fondo de pensiones" in r.text and "pain001" in r.text
    assert 'data-testid="owed">DOP\u00a00.00<' in r.text
    assert web.get("/web/funds/NOPE").status_code == 404
    assert 'href="/web/funds/PENSION"' in web.get("/web/reports/funds").text


def test_service_refusals_are_shown_in_french_and_spanish(
    make_web_org, session_factory, client, engine
) -> None:  # type: ignore[no-untyped-def]
    from app.schemes.models import Enrolment

    org = make_web_org("MUFEDE", roles=("treasurer",), locale="fr")
    book = make_book(session_factory, org.id)
    web = WebClient(client)
    web.sign_in(org)
    with engine.connect() as conn:
        enrolment_id = conn.execute(
            sa.select(Enrolment.id).where(Enrolment.member_id == book.members["M-0001"])
        ).scalar_one()
    r = web.post(f"/web/enrolments/{enrolment_id}/end", {"ends_on": "2026-09-15"})
    assert r.status_code == 422
    assert "des échéances de cette inscription existent pour des périodes jusqu" in r.text
    assert "dues of this enrolment" not in r.text
    # a service's 404 page: title and detail in French
    missing = web.get(f"/web/receipts/{uuid.uuid4()}")
    assert missing.status_code == 404 and "Introuvable" in missing.text
    assert "no receipt" not in missing.text
    # a refused member number, in Spanish
    web.post("/web/language", {"locale": "es", "next": "/web/"})
    page = web.get("/web/members/new")
    taken = web.post(
        "/web/members/new",
        {
            "form_key": form_key(page),
            "member_number": "M-0001",
            "full_name": "Copia",
            "joined_on": "2026-02-01",
            "status": "active",
        },
    )
    assert taken.status_code == 422
    assert "el número de socio M-0001 ya está en uso" in field_errors(taken)["member_number"]


def test_service_messages_say_dates_and_status_words_in_the_readers_language() -> None:
    from datetime import date

    from app.main import every_template
    from app.remittances.lifecycle import BatchStatus
    from app.web import problems

    said = every_template()
    prorated = said["enrolment.end_prorated"](day=date(2026, 10, 31))
    assert "31 oct. 2026" in problems.say("fr", prorated)
    assert "2026-10-31" in problems.say("en", prorated)
    sealed = said["batch.wrong_status"](
        reference="R000001",
        status=BatchStatus.sealed,
        allowed=BatchStatus.draft,
        action="sealed",
    )
    assert problems.say("es", sealed) == (
        "el lote R000001 está sellado: solo un lote borrador puede ser sellado"
    )


def test_the_new_pages_answer_in_every_language(web, org, book, session_factory) -> None:  # type: ignore[no-untyped-def]
    ids = give_cash(session_factory, org, book, 5000)
    web.sign_in(org)
    page = web.get("/web/handovers")
    handover = web.post("/web/handovers", handover_form(page, ids, counted_amount="60.00"))
    assert "Surplus of DOP\u00a010.00 recorded" in handover.text
    batch = web.post(
        "/web/affiliations/new",
        {
            "form_key": form_key(web.get("/web/affiliations?fund=HEALTH")),
            "fund_code": "HEALTH",
            "member": str(book.members["M-0001"]),
        },
        follow_redirects=False,
    )
    pages = [
        "/web/handovers",
        handover.url.path,
        "/web/affiliations",
        "/web/affiliations?fund=HEALTH",
        batch.headers["location"],
        "/web/funds/PENSION",
        f"/web/units/{book.units['A123456']}",
        f"/web/members/{book.members['M-0001']}",
    ]
    for locale, word in (("fr", "Remises"), ("es", "Entregas"), ("en", "Hand-overs")):
        web.post("/web/language", {"locale": locale, "next": "/web/"})
        for url in pages:
            r = web.get(url)
            assert r.status_code == 200, (locale, url)
            assert f'<html lang="{locale}">' in r.text and word in r.text, (locale, url)


def test_admin_creates_users_and_api_keys_shown_once_and_revokes_them(client, org, engine) -> None:  # type: ignore[no-untyped-def]
    import re

    web = WebClient(client)
    web.sign_in(org, "admin")
    page = web.get("/web/admin/users")
    short = web.post(
        "/web/admin/users",
        {
            "form_key": form_key(page),
            "username": "luz",
            "password": "short",
            "role": "treasurer",
            "locale": "es",
        },
    )
    assert short.status_code == 422 and "at least 10 characters" in field_errors(short)["password"]
    assert 'value="luz"' in short.text and 'value="short"' not in short.text
    users = count(engine, "app_user")
    made = web.post(
        "/web/admin/users",
        {
            "form_key": form_key(short),
            "username": "luz",
            "password": "a-long-enough-secret",
            "role": "treasurer",
            "locale": "es",
        },
    )
    assert made.status_code == 200 and "User luz was created." in made.text
    assert count(engine, "app_user") == users + 1

    keys = web.get("/web/admin/api-keys")
    data = {"form_key": form_key(keys), "name": "phone of cobra", "role": "collector"}
    first = web.post("/web/admin/api-keys", data)
    secret = re.search(r'data-testid="secret">([^<]+)<', first.text).group(1)
    assert first.headers["cache-control"] == "no-store"
    again = web.post("/web/admin/api-keys", data)
    assert secret not in again.text and "already sent" in again.text
    assert count(engine, "api_key") == 1
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200
    with engine.connect() as conn:
        key_id = conn.execute(sa.text("SELECT id FROM api_key")).scalar_one()
    key_id = uuid.UUID(str(key_id))
    revoked = web.post(f"/web/admin/api-keys/{key_id}/revoke", {})
    assert "API key phone of cobra was revoked." in revoked.text
    twice = web.post(f"/web/admin/api-keys/{key_id}/revoke", {})
    assert "was already revoked" in twice.text
    client.cookies.clear()
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 401

    # the auditor reads the trail (in French too), and may not manage users
    auditor = WebClient(client)
    auditor.sign_in(org, "auditor")
    assert auditor.get("/web/admin/users").status_code == 403
    trail = auditor.get("/web/audit?action=api_key.revoke")
    assert trail.status_code == 200 and "user:admin" in trail.text
    assert trail.text.count("<code>api_key.revoke</code>") == 1
    auditor.post("/web/language", {"locale": "fr", "next": "/web/audit"})
    assert "Journal d\u2019audit" in auditor.get("/web/audit").text
    client.cookies.clear()
    treasurer = WebClient(client)
    treasurer.sign_in(org, "treasurer")
    assert treasurer.get("/web/audit").status_code == 403


def test_a_batch_page_quotes_the_funds_reply_and_names_numbers_held_by_others(
    web, org, book, engine
) -> None:  # type: ignore[no-untyped-def]
    """Issue 11: what a fund's server answered is kept short and shown as the fund's words,
    quoted and escaped, never as our own message; numbers the fund sent that other members
    hold are named on the affiliation batch."""
    import json

    web.sign_in(org)
    page = web.get("/web/affiliations?fund=HEALTH")
    data = {
        "form_key": form_key(page),
        "fund_code": "HEALTH",
        "member": [str(book.members["M-0001"])],
    }
    url = web.post("/web/affiliations/new", data, follow_redirects=False).headers["location"]
    quiet = web.get(url).text
    assert 'data-testid="fund-reply"' not in quiet and 'data-testid="numbers-held"' not in quiet
    delivery = {
        "answer": {
            "http_status": 500,
            "fund_reply": "<script>alert(1)</script> Service indisponible",
            "fund_reply_truncated": True,
        },
        "numbers_held_by_other_members": [
            {
                "member_id": str(book.members["M-0001"]),
                "affiliation_number": "HL-9",
                "holder": "M-0002",
            }
        ],
    }
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE affiliation_batch SET delivery = :d"), {"d": json.dumps(delivery)}
        )
    shown = web.get(url).text
    reply = shown[shown.index('data-testid="fund-reply"') :]
    assert "The fund's server answered (HTTP 500), in its own words:" in reply
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Service indisponible …" in reply
    assert "<script>alert(1)" not in shown
    assert "number HL-9 is held by member M-0002" in shown
    web.post("/web/language", {"locale": "fr", "next": url})
    french = web.get(url).text
    assert "Le serveur du fonds a répondu (HTTP 500)" in french
    assert "le numéro HL-9 est détenu par le membre M-0002" in french
