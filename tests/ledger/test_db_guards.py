"""The database itself refuses a broken book, even when the application is bypassed.

Every statement here is raw SQL on the test engine: no service function, no ORM. The design
being proved (see migrations/versions/20261122_0001_foundation.py): postings are inserted
before their journal_entry row (their foreign key to it is deferred) and inserting the entry
is what checks that it has two or more postings balancing per currency; after that nothing
can be added to, changed in or removed from it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from app.core.ids import uuid7
from app.identity.service import create_organisation
from app.ledger import service
from app.ledger.models import AccountType

LEDGER_TABLES = ("journal_entry", "posting", "account_balance")


def sql(statement: str, **params: Any) -> sa.TextClause:
    """A text statement whose parameters are bound with the column types the ORM uses."""
    binds = []
    for name, value in params.items():
        if isinstance(value, uuid.UUID):
            binds.append(sa.bindparam(name, value, type_=sa.Uuid()))
        elif isinstance(value, datetime):
            binds.append(sa.bindparam(name, value, type_=sa.DateTime(timezone=True)))
        elif isinstance(value, date):
            binds.append(sa.bindparam(name, value, type_=sa.Date()))
        else:
            binds.append(sa.bindparam(name, value))
    return sa.text(statement).bindparams(*binds)


def insert_posting(
    org: uuid.UUID, entry: uuid.UUID, account: uuid.UUID, currency: str, amount: int
) -> sa.TextClause:
    return sql(
        "INSERT INTO posting (organisation_id, id, entry_id, account_id, currency, amount, "
        "effective_on, recorded_at) VALUES (:org, :id, :entry, :account, :currency, :amount, "
        ":effective_on, :recorded_at)",
        org=org,
        id=uuid7(),
        entry=entry,
        account=account,
        currency=currency,
        amount=amount,
        effective_on=date(2026, 11, 20),
        recorded_at=datetime.now(UTC),
    )


def insert_entry(
    org: uuid.UUID, entry: uuid.UUID, reverses: uuid.UUID | None = None
) -> sa.TextClause:
    return sql(
        "INSERT INTO journal_entry (organisation_id, id, description, effective_on, recorded_at, "
        "kind, reverses_id, reason, created_by) VALUES (:org, :id, 'raw sql', :effective_on, "
        ":recorded_at, :kind, :reverses, NULL, 'psql')",
        org=org,
        id=entry,
        effective_on=date(2026, 11, 20),
        recorded_at=datetime.now(UTC),
        kind="reversal" if reverses else "manual",
        reverses=reverses,
    )


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            table: [tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table}")).all()]
            for table in LEDGER_TABLES
        }


def sorted_snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(rows, key=repr) for t, rows in snapshot(engine).items()}


def assert_refused(engine: sa.Engine, statements: list[sa.TextClause], match: str) -> None:
    """All `statements` in one transaction: the database refuses, and no ledger row changes."""
    before = sorted_snapshot(engine)
    with pytest.raises(sa.exc.IntegrityError, match=match), engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)
    assert sorted_snapshot(engine) == before


@dataclass
class Book:
    org: uuid.UUID
    other_org: uuid.UUID
    cash: uuid.UUID  # DOP asset
    owed: uuid.UUID  # DOP liability
    xof_cash: uuid.UUID  # XOF asset
    xof_owed: uuid.UUID  # XOF liability
    other_bank: uuid.UUID  # DOP asset of the other organisation
    entry: uuid.UUID  # posted: debit cash 100.00, credit owed 100.00
    reversed_entry: uuid.UUID  # posted and reversed once
    reversal: uuid.UUID


@pytest.fixture
def book(session_factory) -> Book:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory) as session:
        other = create_organisation(session, code="OTHER", name="Other", currency="DOP")
        other_bank = service.open_account(
            session, CLI_ACTOR, code="BANK", name="Bank", type=AccountType.asset, currency="DOP"
        )
    with unit_of_work(session_factory) as session:
        org = create_organisation(session, code="AMUSSOL", name="Amussol", currency="DOP")
        bind_organisation(session, org.id)
        accounts = {
            code: service.open_account(
                session, CLI_ACTOR, code=code, name=code, type=kind, currency=currency
            ).id
            for code, kind, currency in [
                ("CASH", AccountType.asset, "DOP"),
                ("OWED", AccountType.liability, "DOP"),
                ("XCASH", AccountType.asset, "XOF"),
                ("XOWED", AccountType.liability, "XOF"),
            ]
        }
        lines = [
            service.Line.debit(accounts["CASH"], 10000),
            service.Line.credit(accounts["OWED"], 10000),
        ]
        entry = service.post(
            session, CLI_ACTOR, description="receipt", effective_on=date(2026, 11, 1), lines=lines
        )
        to_reverse = service.post(
            session, CLI_ACTOR, description="typo", effective_on=date(2026, 11, 2), lines=lines
        )
    with unit_of_work(session_factory, org.id) as session:
        reversal = service.reverse(session, CLI_ACTOR, to_reverse, reason="typo")
    return Book(
        org=org.id,
        other_org=other.id,
        cash=accounts["CASH"],
        owed=accounts["OWED"],
        xof_cash=accounts["XCASH"],
        xof_owed=accounts["XOWED"],
        other_bank=other_bank.id,
        entry=entry,
        reversed_entry=to_reverse,
        reversal=reversal,
    )


def a_posting_of(engine: sa.Engine, book: Book) -> uuid.UUID:
    with engine.connect() as conn:
        return conn.execute(
            sql(
                "SELECT id FROM posting WHERE organisation_id = :org AND entry_id = :entry "
                "AND amount > 0",
                org=book.org,
                entry=book.entry,
            ).columns(sa.column("id", sa.Uuid()))
        ).scalar_one()


def test_a_balanced_entry_inserted_the_documented_way_is_accepted(engine, book) -> None:  # type: ignore[no-untyped-def]
    # The control for every refusal below: the same statements, balanced, go through.
    entry = uuid7()
    with engine.begin() as conn:
        conn.execute(insert_posting(book.org, entry, book.cash, "DOP", 2500))
        conn.execute(insert_posting(book.org, entry, book.owed, "DOP", -2500))
        conn.execute(insert_posting(book.org, entry, book.xof_cash, "XOF", 700))
        conn.execute(insert_posting(book.org, entry, book.xof_owed, "XOF", -700))
        conn.execute(insert_entry(book.org, entry))
    with engine.connect() as conn:
        n = conn.execute(
            sql("SELECT count(*) FROM posting WHERE entry_id = :e", e=entry)
        ).scalar_one()
    assert n == 4


def test_a_posting_is_never_updated(engine, book) -> None:  # type: ignore[no-untyped-def]
    posting = a_posting_of(engine, book)
    update = sql(
        "UPDATE posting SET amount = amount + 1 WHERE organisation_id = :org AND id = :id",
        org=book.org,
        id=posting,
    )
    assert_refused(engine, [update], "append-only")
    moved = sql(
        "UPDATE posting SET account_id = :other WHERE organisation_id = :org AND id = :id",
        other=book.owed,
        org=book.org,
        id=posting,
    )
    assert_refused(engine, [moved], "append-only")


def test_a_posting_is_never_deleted(engine, book) -> None:  # type: ignore[no-untyped-def]
    delete = sql(
        "DELETE FROM posting WHERE organisation_id = :org AND id = :id",
        org=book.org,
        id=a_posting_of(engine, book),
    )
    assert_refused(engine, [delete], "append-only")
    assert_refused(engine, [sa.text("DELETE FROM posting")], "append-only")


def test_a_journal_entry_is_never_updated_or_deleted(engine, book) -> None:  # type: ignore[no-untyped-def]
    where = "WHERE organisation_id = :org AND id = :id"
    assert_refused(
        engine,
        [
            sql(
                f"UPDATE journal_entry SET description = 'edited' {where}",
                org=book.org,
                id=book.entry,
            )
        ],
        "append-only",
    )
    assert_refused(
        engine,
        [
            sql(
                f"UPDATE journal_entry SET reverses_id = NULL {where}",
                org=book.org,
                id=book.reversal,
            )
        ],
        "append-only",
    )
    assert_refused(
        engine,
        [sql(f"DELETE FROM journal_entry {where}", org=book.org, id=book.entry)],
        "append-only",
    )


def test_an_unbalanced_entry_is_refused(engine, book) -> None:  # type: ignore[no-untyped-def]
    entry = uuid7()
    assert_refused(
        engine,
        [
            insert_posting(book.org, entry, book.cash, "DOP", 10000),
            insert_posting(book.org, entry, book.owed, "DOP", -9999),
            insert_entry(book.org, entry),
        ],
        "do not balance",
    )
    # balanced in total but not per currency: 100 DOP minor units against 100 XOF
    entry = uuid7()
    assert_refused(
        engine,
        [
            insert_posting(book.org, entry, book.cash, "DOP", 100),
            insert_posting(book.org, entry, book.xof_owed, "XOF", -100),
            insert_entry(book.org, entry),
        ],
        "do not balance",
    )


def test_an_entry_with_fewer_than_two_postings_is_refused(engine, book) -> None:  # type: ignore[no-untyped-def]
    entry = uuid7()
    assert_refused(
        engine,
        [insert_posting(book.org, entry, book.cash, "DOP", 10000), insert_entry(book.org, entry)],
        "at least 2 are needed|fewer than 2 postings",
    )
    assert_refused(
        engine, [insert_entry(book.org, uuid7())], "at least 2 are needed|fewer than 2 postings"
    )


def test_postings_whose_entry_never_comes_are_refused_at_commit(engine, book) -> None:  # type: ignore[no-untyped-def]
    entry = uuid7()
    assert_refused(
        engine,
        [
            insert_posting(book.org, entry, book.cash, "DOP", 500),
            insert_posting(book.org, entry, book.owed, "DOP", -500),
        ],
        "fk_posting_organisation_id_entry_id_journal_entry|FOREIGN KEY constraint failed",
    )


def test_nothing_is_added_to_a_posted_entry(engine, book) -> None:  # type: ignore[no-untyped-def]
    # even a pair that balances by itself would change what the entry says
    assert_refused(
        engine,
        [
            insert_posting(book.org, book.entry, book.cash, "DOP", 5000),
            insert_posting(book.org, book.entry, book.owed, "DOP", -5000),
        ],
        "already posted",
    )


def test_a_posting_in_another_currency_than_its_accounts_is_refused(engine, book) -> None:  # type: ignore[no-untyped-def]
    entry = uuid7()
    assert_refused(
        engine,
        [
            # the DOP cash account, booked in XOF, "balanced" against an XOF account
            insert_posting(book.org, entry, book.cash, "XOF", 700),
            insert_posting(book.org, entry, book.xof_owed, "XOF", -700),
            insert_entry(book.org, entry),
        ],
        "fk_posting_organisation_id_account_id_currency_account|FOREIGN KEY constraint failed",
    )


def test_a_zero_posting_is_refused(engine, book) -> None:  # type: ignore[no-untyped-def]
    entry = uuid7()
    assert_refused(
        engine,
        [
            insert_posting(book.org, entry, book.cash, "DOP", 100),
            insert_posting(book.org, entry, book.owed, "DOP", -100),
            insert_posting(book.org, entry, book.owed, "DOP", 0),
            insert_entry(book.org, entry),
        ],
        "amount_not_zero",
    )


def test_a_posting_on_another_organisations_account_is_refused(engine, book) -> None:  # type: ignore[no-untyped-def]
    entry = uuid7()
    assert_refused(
        engine,
        [
            insert_posting(book.org, entry, book.other_bank, "DOP", 10000),
            insert_posting(book.org, entry, book.owed, "DOP", -10000),
            insert_entry(book.org, entry),
        ],
        "fk_posting_organisation_id_account_id_currency_account|FOREIGN KEY constraint failed",
    )
    # nor can the other organisation's entry reach into this organisation's accounts
    entry = uuid7()
    assert_refused(
        engine,
        [
            insert_posting(book.other_org, entry, book.other_bank, "DOP", 10000),
            insert_posting(book.other_org, entry, book.owed, "DOP", -10000),
            insert_entry(book.other_org, entry),
        ],
        "fk_posting_organisation_id_account_id_currency_account|FOREIGN KEY constraint failed",
    )


def test_an_entry_is_reversed_at_most_once(engine, book) -> None:  # type: ignore[no-untyped-def]
    # the exact mirror of the entry that was already reversed, pointing at it again
    entry = uuid7()
    assert_refused(
        engine,
        [
            insert_posting(book.org, entry, book.cash, "DOP", -10000),
            insert_posting(book.org, entry, book.owed, "DOP", 10000),
            insert_entry(book.org, entry, reverses=book.reversed_entry),
        ],
        "uq_journal_entry_organisation_id_reverses_id|UNIQUE constraint failed",
    )


def test_a_reversal_points_at_an_entry_of_its_own_organisation(engine, book) -> None:  # type: ignore[no-untyped-def]
    entry = uuid7()
    assert_refused(
        engine,
        [
            insert_posting(book.other_org, entry, book.other_bank, "DOP", -10000),
            insert_posting(book.other_org, entry, book.other_bank, "DOP", 10000),
            insert_entry(book.other_org, entry, reverses=book.entry),
        ],
        "fk_journal_entry_organisation_id_reverses_id_journal_entry|FOREIGN KEY constraint failed",
    )


@pytest.mark.postgres_only
def test_a_sheet_of_entries_is_checked_in_one_pass(session_factory, book) -> None:  # type: ignore[no-untyped-def]
    # The guards are statement-level triggers: 500 entries posted together must reach the
    # database as a few multi-row INSERTs, not one INSERT (and one trigger run) per row.
    drafts = [
        service.EntryDraft(
            f"receipt {n}",
            date(2026, 11, 20),
            [service.Line.debit(book.cash, 100 + n), service.Line.credit(book.owed, 100 + n)],
        )
        for n in range(500)
    ]
    with unit_of_work(session_factory, book.org) as session:
        session.execute(sa.text("SET LOCAL track_functions = 'pl'"))
        service.post_many(session, CLI_ACTOR, drafts)
        runs = dict(
            session.execute(
                sa.text("SELECT funcname, calls FROM pg_stat_xact_user_functions")
            ).all()
        )
    assert runs == {
        "ledger_check_new_postings": 1,
        "ledger_check_new_entries": 1,
        "ledger_check_entry_owners": 1,
    }


# -- ownership (migration 0010) -----------------------------------------------------------------


def insert_owned_entry(
    org: uuid.UUID, entry: uuid.UUID, owner: str, reverses: uuid.UUID | None = None
) -> sa.TextClause:
    return sql(
        "INSERT INTO journal_entry (organisation_id, id, description, effective_on, recorded_at, "
        "kind, reverses_id, reason, created_by, owner, owner_ref) VALUES (:org, :id, 'raw sql', "
        ":effective_on, :recorded_at, :kind, :reverses, NULL, 'psql', :owner, NULL)",
        org=org,
        id=entry,
        effective_on=date(2026, 11, 20),
        recorded_at=datetime.now(UTC),
        kind="reversal" if reverses else owner,
        reverses=reverses,
        owner=owner,
    )


def fund_account(session_factory, book: Book) -> uuid.UUID:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory, book.org) as session:
        return service.open_account(
            session,
            CLI_ACTOR,
            code="FUND:AFP:OWED",
            name="Owed to AFP",
            type=AccountType.liability,
            currency="DOP",
            owner=service.Owner("fund", "AFP"),
        ).id


def test_a_manual_entry_on_an_account_a_service_keeps_is_refused(
    engine, session_factory, book
) -> None:  # type: ignore[no-untyped-def]
    owed = fund_account(session_factory, book)
    entry = uuid7()
    assert_refused(
        engine,
        [
            insert_posting(book.org, entry, book.cash, "DOP", 500),
            insert_posting(book.org, entry, owed, "DOP", -500),
            insert_owned_entry(book.org, entry, "manual"),
        ],
        "manual entry touches",
    )
    # the control: the same postings made by the service that keeps the account go through
    with engine.begin() as conn:
        conn.execute(insert_posting(book.org, entry, book.cash, "DOP", 500))
        conn.execute(insert_posting(book.org, entry, owed, "DOP", -500))
        conn.execute(insert_owned_entry(book.org, entry, "remittance_batch"))


def test_a_reversal_has_its_originals_owner(engine, session_factory, book) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory, book.org) as session:
        original = service.post(
            session,
            CLI_ACTOR,
            description="receipt",
            effective_on=date(2026, 11, 3),
            lines=[service.Line.debit(book.cash, 700), service.Line.credit(book.owed, 700)],
            kind="receipt",
            owner=service.Owner("receipt", "r-1"),
        )
    mirror = uuid7()
    statements = [
        insert_posting(book.org, mirror, book.cash, "DOP", -700),
        insert_posting(book.org, mirror, book.owed, "DOP", 700),
    ]
    # reversed as a manual entry (what POST /journal/{id}/reverse did): refused
    assert_refused(
        engine,
        [*statements, insert_owned_entry(book.org, mirror, "manual", reverses=original)],
        "original's owner",
    )
    # the ledger's own verb gives the reversal its original's owner
    with unit_of_work(session_factory, book.org) as session:
        reversal = service.reverse(session, CLI_ACTOR, original, reason="bounced")
        row = service.get_entry(session, reversal)
        assert (row.owner, row.owner_ref, row.kind) == ("receipt", "r-1", "reversal")
