"""The demo step: a week of the demo collector's receipts, one sheet, one hand-over."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from app.collections.demo import week_of_collections
from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work
from app.identity.models import Organisation
from app.identity.service import create_user
from tests.collections.factories import add_dues, standard_book
from tests.collections.test_reversal_and_credit import clean_books


def test_demo_week_collects_on_open_dues_and_hands_over(org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    book = standard_book(session_factory, org)
    add_dues(
        session_factory,
        book,
        "transport-daily",
        ("unit", book.units["BUS-1"]),
        date(2026, 10, 1),
        14,
        5000,
    )
    add_dues(
        session_factory,
        book,
        "monthly",
        ("member", book.members["M-002"]),
        date(2026, 9, 1),
        2,
        30000,
    )
    with unit_of_work(session_factory, org.id) as session:
        create_user(
            session, CLI_ACTOR, username="cobrador", password="demo-password-1", role="collector"
        )
    with unit_of_work(session_factory, org.id) as session:
        week_of_collections(session, session.get(Organisation, org.id))
    with engine.connect() as conn:
        receipts = conn.execute(sa.text("SELECT count(*), count(client_id) FROM receipt")).one()
        handover = conn.execute(
            sa.text("SELECT amount - counted_amount FROM handover")
        ).scalar_one()
    assert tuple(receipts) == (14, 2)  # two payers: six days of receipts and one sheet
    assert handover == 1000  # the shortfall shows
    clean_books(session_factory, org)


def test_demo_week_does_nothing_without_dues_or_collector(org, session_factory, engine) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory, org.id) as session:
        week_of_collections(session, session.get(Organisation, org.id))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM receipt")).scalar_one() == 0
