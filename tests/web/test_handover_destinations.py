"""The hand-over page offers only bank and treasury accounts, and a forged destination (another
collector's cash, a fund's account) is refused next to the field, in the user's language."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from tests.web.book import make_book
from tests.web.test_pages import count, field_errors
from tests.web.test_pages_month import ROLES, give_cash, handover_form


@pytest.mark.parametrize(
    ("locale", "says"),
    [
        ("en", "must be a bank or treasury account; account {code} belongs to collector rosa"),
        ("fr", "doit être un compte bancaire ou de trésorerie ; le compte {code} appartient à"),
        ("es", "debe ser una cuenta bancaria o de tesorería; la cuenta {code} pertenece a"),
    ],
)
def test_a_handover_into_another_collectors_cash_is_refused_on_the_page(
    web, make_web_org, session_factory, engine, locale, says
) -> None:  # type: ignore[no-untyped-def]
    from app.collections.models import Collector
    from app.identity.service import create_user
    from app.ledger.models import Account

    org = make_web_org(roles=ROLES, locale=locale)
    book = make_book(session_factory, org.id)
    ids = give_cash(session_factory, org, book, 100000)
    with unit_of_work(session_factory, org.id) as s:
        create_user(s, CLI_ACTOR, username="rosa", password="a-long-password", role="collector")
    with unit_of_work(session_factory, org.id) as s:
        rosa = s.scalar(sa.select(Collector).where(Collector.name == "rosa"))
        assert rosa is not None
        rosa_cash = rosa.cash_account_id
        code = s.scalar(sa.select(Account.code).where(Account.id == rosa_cash))
        fund_owed = s.scalar(sa.select(Account.id).where(Account.code.like("FUND:%:OWED")))
    web.sign_in(org)
    page = web.get("/web/handovers")
    assert page.status_code == 200
    # offered: the bank; never a collector's cash nor a fund's account
    assert f'value="{ids["bank"]}"' in page.text
    assert f'value="{rosa_cash}"' not in page.text
    assert f'value="{fund_owed}"' not in page.text
    r = web.post("/web/handovers", handover_form(page, ids, to_account_id=str(rosa_cash)))
    assert r.status_code == 422
    assert says.format(code=code) in field_errors(r)["to_account_id"], field_errors(r)
    assert count(engine, "handover") == 0
    assert count(engine, "journal_entry", "WHERE kind = 'handover'") == 0
