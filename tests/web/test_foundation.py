"""Sign-in, CSRF, sign-out, roles, languages and error pages, without a browser."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from app.core.settings import Settings
from tests.conftest import TEST_SECRET
from tests.web.conftest import PASSWORD, WebClient


@pytest.fixture
def backend() -> str:
    # Sessions, CSRF, languages and error pages do not depend on the database: SQLite only.
    # What does (money, scoping, writes) is in test_pages.py and runs on both.
    return "sqlite"


def audit_actions(engine, action: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM audit_event WHERE action = :a"), {"a": action}
            ).scalar_one()
        )


def test_pages_need_sign_in_and_come_back_after_it(web, web_org) -> None:  # type: ignore[no-untyped-def]
    r = web.c.get("/web/accounts", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/web/sign-in?next=%2Fweb%2Faccounts"
    assert web.c.get("/", follow_redirects=False).headers["location"] == "/web/"

    web.get(r.headers["location"])
    r = web.post(
        "/web/sign-in",
        {
            "organisation": "amussol",
            "username": "ana",
            "password": PASSWORD,
            "next": "/web/accounts",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/web/accounts"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    page = web.get("/web/accounts")
    assert page.status_code == 200 and "<h1>Books</h1>" in page.text
    assert "Cooperativa AMUSSOL" in page.text and "ana · treasurer" in page.text


def test_next_never_leaves_the_site(web, web_org) -> None:  # type: ignore[no-untyped-def]
    for target in ("https://evil.example/", "//evil.example/x", "/web\\@evil", "/api/v1/x"):
        web.get("/web/sign-in")
        r = web.post(
            "/web/sign-in",
            {"organisation": "AMUSSOL", "username": "ana", "password": PASSWORD, "next": target},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/web/", target


def test_wrong_password_keeps_what_was_typed_and_signs_nobody_in(web, web_org, engine) -> None:  # type: ignore[no-untyped-def]
    web.get("/web/sign-in")
    r = web.post(
        "/web/sign-in",
        {"organisation": "AMUSSOL", "username": "ana", "password": "not-the-password"},
    )
    assert r.status_code == 422
    assert 'class="field-error" id="e-password"' in r.text
    assert 'aria-invalid="true"' in r.text
    assert 'value="ana"' in r.text and 'value="AMUSSOL"' in r.text
    assert "not-the-password" not in r.text  # a password is never echoed back
    assert web.c.get("/web/", follow_redirects=False).status_code == 303
    assert audit_actions(engine, "web.sign_in") == 0

    empty = web.post("/web/sign-in", {"organisation": "", "username": "", "password": ""})
    assert empty.status_code == 422
    assert "Enter your username." in empty.text and "Enter your password." in empty.text


def test_a_form_without_the_session_csrf_token_is_refused_and_writes_nothing(
    client, web_org, engine
) -> None:  # type: ignore[no-untyped-def]
    web = WebClient(client)
    web.sign_in(web_org)
    # a forged cross-site form: no token, or another session's token
    for token in (None, "forged", WebClient(client).csrf or "x"):
        data = {"locale": "fr", "next": "/web/"}
        if token is not None:
            data["csrf_token"] = token
        r = client.post("/web/language", data=data, follow_redirects=False)
        assert r.status_code == 403
        assert "This form has expired" in r.text and "Nothing was saved" in r.text
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT locale FROM app_user")).scalar_one() == "en"
    assert audit_actions(engine, "user.locale") == 0
    # a token issued before sign-in is worth nothing after it
    anonymous = WebClient(client)
    client.cookies.clear()
    anonymous.get("/web/sign-in")
    before = anonymous.csrf
    anonymous.sign_in(web_org)
    assert anonymous.csrf != before
    r = client.post("/web/language", data={"csrf_token": before, "locale": "fr"})
    assert r.status_code == 403


def test_sign_out_ends_the_session(web, web_org) -> None:  # type: ignore[no-untyped-def]
    web.sign_in(web_org)
    assert web.c.get("/web/", follow_redirects=False).status_code == 200
    r = web.post("/web/sign-out", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/sign-in"
    page = web.get("/web/sign-in")
    assert "You are signed out." in page.text
    assert web.c.get("/web/", follow_redirects=False).status_code == 303


def test_a_changed_password_or_disabled_user_ends_existing_sessions(
    web, web_org, session_factory
) -> None:  # type: ignore[no-untyped-def]
    from app.core.database import unit_of_work
    from app.core.security import hash_password
    from app.identity.models import User

    web.sign_in(web_org)
    with unit_of_work(session_factory, web_org.id) as s:
        user = s.scalars(sa.select(User)).one()
        user.password_hash = hash_password("another-long-password")
    assert web.c.get("/web/", follow_redirects=False).status_code == 303


def test_a_tampered_cookie_is_a_signed_out_visitor(web, web_org) -> None:  # type: ignore[no-untyped-def]
    web.sign_in(web_org)
    value = web.c.cookies.get("coopledger_session")
    web.c.cookies.set("coopledger_session", value[:-3] + "AAA")
    assert web.c.get("/web/", follow_redirects=False).status_code == 303


def test_cookie_is_secure_in_production(db_url, web_org) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from app.main import create_app

    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=db_url, COOPLEDGER_ENV="production", COOPLEDGER_SECRET_KEY=TEST_SECRET
    )
    with TestClient(create_app(settings)) as c:
        r = c.get("/web/sign-in")
        cookie = r.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_language_from_accept_language_then_per_user(web, web_org, engine) -> None:  # type: ignore[no-untyped-def]
    r = web.c.get("/web/sign-in", headers={"Accept-Language": "de-DE,es;q=0.8,fr;q=0.5"})
    assert '<html lang="es">' in r.text and "Iniciar sesión" in r.text
    r = web.c.get("/web/sign-in", headers={"Accept-Language": "fr-CA"})
    assert '<html lang="fr">' in r.text and "Mot de passe" in r.text
    assert r.headers["content-language"] == "fr"

    web.sign_in(web_org)  # ana's own language is English, whatever the browser says
    r = web.get("/web/", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in r.text

    r = web.post("/web/language", {"locale": "fr", "next": "/web/accounts"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/accounts"
    page = web.get("/web/accounts")
    assert '<html lang="fr">' in page.text and "Comptabilité" in page.text
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT locale FROM app_user")).scalar_one() == "fr"
    assert audit_actions(engine, "user.locale") == 1


def test_roles_and_other_organisations(client, make_web_org, session_factory) -> None:  # type: ignore[no-untyped-def]
    from app.core.audit import CLI_ACTOR
    from app.core.database import unit_of_work
    from app.ledger import service as ledger

    mine = make_web_org("AMUSSOL", roles=("treasurer", "collector", "auditor"))
    other = make_web_org("MUFEDE", "XOF")
    with unit_of_work(session_factory, other.id) as s:
        theirs = ledger.open_account(
            s, CLI_ACTOR, code="BANK", name="Bank", type="asset", currency="XOF"
        ).id
    with unit_of_work(session_factory, mine.id) as s:
        ours = ledger.open_account(
            s, CLI_ACTOR, code="CASH", name="Caja", type="asset", currency="DOP"
        ).id

    auditor = WebClient(client)
    auditor.sign_in(mine, "auditor")
    assert auditor.get(f"/web/accounts/{ours}").status_code == 200
    r = auditor.get(f"/web/accounts/{theirs}")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "Not found" in r.text
    for bad in ("/web/accounts/not-a-uuid", f"/web/accounts/{uuid.uuid4()}", "/web/nowhere"):
        r = auditor.get(bad)
        assert r.status_code == 404 and "text/html" in r.headers["content-type"], bad

    client.cookies.clear()
    collector = WebClient(client)
    collector.sign_in(mine, "collector")
    r = collector.get("/web/accounts")
    assert r.status_code == 403 and "Your role may not open this page" in r.text
    home = collector.get("/web/")
    assert home.status_code == 200 and "Welcome, cobra" in home.text
    assert "Collected today" not in home.text
    # the API keeps answering problem+json
    r = client.get("/api/v1/accounts")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


def test_dashboard_and_books_show_exact_amounts_in_the_users_language(
    web, make_web_org, session_factory
) -> None:  # type: ignore[no-untyped-def]
    from app.core.audit import CLI_ACTOR
    from app.core.database import unit_of_work
    from app.ledger import service as ledger
    from app.ledger.service import Line

    org = make_web_org("AMUSSOL", locale="fr")
    with unit_of_work(session_factory, org.id) as s:
        bank = ledger.open_account(
            s, CLI_ACTOR, code="BANK", name="Banco", type="asset", currency="DOP"
        )
        fees = ledger.open_account(
            s, CLI_ACTOR, code="FEES", name="Comisiones", type="income", currency="DOP"
        )
        big = 999_999_999_999_99  # beyond a float's exact digits when divided by 100
        ledger.post(
            s,
            CLI_ACTOR,
            description="aporte",
            effective_on=date.today(),
            lines=[Line.debit(bank.id, big), Line.credit(fees.id, big)],
        )
    web.sign_in(org)
    r = web.get("/web/accounts")
    assert "999\u202f999\u202f999\u202f999,99\u00a0DOP" in r.text
    assert "Comptabilité" in r.text and "actif" in r.text and "produit" in r.text
    dash = web.get("/web/")
    assert dash.status_code == 200 and "Encaissé aujourd\u2019hui" in dash.text
    assert "<svg" in dash.text and 'role="img"' in dash.text
