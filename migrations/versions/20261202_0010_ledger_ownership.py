"""Accounts and journal entries say who owns them (`owner`, `owner_ref`), and the database
refuses a manual entry on a service's account and a reversal with another owner.

`manual` is the organisation's own books (accounts opened through POST /accounts or as its
bank, treasury, desk cash or clearing accounts; entries made in the journal by hand); any
other owner is a service (see app/ledger/ownership.py and docs/ledger.md).

Existing rows are backfilled from the service tables that reference them:
- accounts: a fund's owed, in-transit and custody accounts and its commission receivable and
  income (`fund`, its code); a collector's cash (`collector`, its name); a member's or a
  unit's prepaid credit (`member` / `unit`, its number / registration); fee income and the
  hand-over shortfall and surplus accounts (`collections`); every other account `manual`;
- entries: a receipt's entry and its reversal (`receipt`, its id); prepaid credit applied or
  given back (`prepaid_credit`, the payer); a hand-over's (`handover`, its reference); a
  remittance batch's seal, rejection and settlement (`remittance_batch`, RB000001); an
  affiliation batch's commission and its payment (`affiliation_batch`, AF000001); any other
  entry made by a service is owned by its kind; `manual` entries stay manual; a reversal
  takes its original's owner.
Journal entries are append-only (a trigger refuses UPDATE): that guard is lifted for the
backfill only, inside this migration's transaction.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("account", "journal_entry")
COMMENTS = {
    "account": (
        "who keeps it: manual (open to manual entries) or a service kind (fund, ...)",
        "which one of the owner kind (a fund code, a member number, ...)",
    ),
    "journal_entry": (
        "who made it and alone may undo it: manual or a service kind (receipt, ...)",
        "which one of the owner kind (a receipt id, a batch reference, ...)",
    ),
}


def _batch_reference(prefix: str, column: str, dialect: str) -> str:
    """A batch's reference as the models print it (f"RB{number:06d}")."""
    if dialect == "postgresql":
        return f"'{prefix}' || lpad({column}::text, greatest(6, length({column}::text)), '0')"
    return f"printf('{prefix}%06d', {column})"


def _backfill(dialect: str) -> None:
    # as the driver reads them: the codes' colons are not bind parameters
    execute = op.get_bind().exec_driver_sql
    text = "::text" if dialect == "postgresql" else ""
    ref = lambda column: f"substr({column}{text}, 1, 120)"  # noqa: E731
    accounts = [
        # (owner, ref expression, FROM, WHERE joining `a`)
        ("fund", "f.code", "fund f", "a.id IN (f.owed_account_id, f.transit_account_id)"),
        ("fund", "f.code", "fund f", "a.id = f.custody_account_id"),
        (
            "fund",
            "f.code",
            "fund f",
            "a.code IN ('FUND:' || f.code || ':COMMISSION_RECEIVABLE', "
            "'FUND:' || f.code || ':COMMISSION_INCOME')",
        ),
        ("collector", ref("c.name"), "collector c", "a.id = c.cash_account_id"),
        ("member", "m.member_number", "member m", "a.id = m.credit_account_id"),
        ("unit", "u.registration", "transport_unit u", "a.id = u.credit_account_id"),
    ]
    for owner, value, source, where in accounts:
        alias = source.split()[1]
        execute(
            f"UPDATE account AS a SET owner = '{owner}', owner_ref = {value} FROM {source} "
            f"WHERE {alias}.organisation_id = a.organisation_id AND {where}"
        )
    execute(
        "UPDATE account SET owner = 'collections' "
        "WHERE code IN ('FEE:INCOME', 'COLLECTOR:SHORTFALL', 'COLLECTOR:SURPLUS')"
    )

    # entries: first every service entry by its kind, then the precise owners
    execute(
        "UPDATE journal_entry SET owner = substr(kind, 1, 32) "
        "WHERE kind NOT IN ('manual', 'reversal')"
    )
    rb = _batch_reference("RB", "b.number", dialect)
    af = _batch_reference("AF", "b.number", dialect)
    entries = [
        ("receipt", f"r.id{text}", "receipt r", "e.id IN (r.journal_id, r.reversal_journal_id)"),
        (
            "prepaid_credit",
            "'member ' || m.member_number",
            "posting p JOIN member m ON m.organisation_id = p.organisation_id "
            "AND m.credit_account_id = p.account_id",
            "p.entry_id = e.id AND e.kind IN ('credit_applied', 'credit_undone')",
        ),
        (
            "prepaid_credit",
            "'unit ' || u.registration",
            "posting p JOIN transport_unit u ON u.organisation_id = p.organisation_id "
            "AND u.credit_account_id = p.account_id",
            "p.entry_id = e.id AND e.kind IN ('credit_applied', 'credit_undone')",
        ),
        ("handover", "h.reference", "handover h", "e.id = h.journal_id"),
        (
            "remittance_batch",
            rb,
            "remittance_batch b",
            "e.id IN (b.seal_journal_id, b.settlement_journal_id)",
        ),
        (
            "remittance_batch",
            rb,
            "remittance_acknowledgement k JOIN remittance_batch b "
            "ON b.organisation_id = k.organisation_id AND b.id = k.batch_id",
            "e.id = k.journal_id",
        ),
        (
            "affiliation_batch",
            af,
            "affiliation_line l JOIN affiliation_batch b "
            "ON b.organisation_id = l.organisation_id AND b.id = l.batch_id",
            "e.id = l.commission_journal_id",
        ),
        (
            "affiliation_batch",
            af,
            "affiliation_commission_payment k JOIN affiliation_batch b "
            "ON b.organisation_id = k.organisation_id AND b.id = k.batch_id",
            "e.id = k.journal_id",
        ),
    ]
    for owner, value, source, where in entries:
        alias = source.split()[1]
        execute(
            f"UPDATE journal_entry AS e SET owner = '{owner}', owner_ref = {value} "
            f"FROM {source} WHERE {alias}.organisation_id = e.organisation_id AND {where}"
        )
    # a reversal has its original's owner (a receipt's was set above with its receipt)
    execute(
        "UPDATE journal_entry AS e SET owner = o.owner, owner_ref = o.owner_ref "
        "FROM journal_entry AS o WHERE o.organisation_id = e.organisation_id "
        "AND o.id = e.reverses_id"
    )


# -- the database's own refusal ------------------------------------------------------------------
# Manual entries are few (the journal API): the check runs only for them, so a collection
# sheet's thousands of receipt entries pay one filtered scan of the statement's new rows.

_PG = [
    """
    CREATE FUNCTION ledger_check_entry_owners() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE bad record;
    BEGIN
        -- a sheet of receipts has neither: one pass over the statement's new rows, no join
        IF EXISTS (SELECT 1 FROM new_entries WHERE owner = 'manual') THEN
            SELECT e.id, a.code INTO bad
            FROM new_entries e
            JOIN posting p ON p.organisation_id = e.organisation_id AND p.entry_id = e.id
            JOIN account a ON a.organisation_id = p.organisation_id AND a.id = p.account_id
            WHERE e.owner = 'manual' AND a.owner <> 'manual'
            LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'journal entry % refused: a manual entry touches account %, which a service keeps', bad.id, bad.code
                    USING ERRCODE = 'check_violation';
            END IF;
        END IF;
        IF EXISTS (SELECT 1 FROM new_entries WHERE reverses_id IS NOT NULL) THEN
            SELECT e.id INTO bad
            FROM new_entries e
            JOIN journal_entry o ON o.organisation_id = e.organisation_id AND o.id = e.reverses_id
            WHERE o.owner <> e.owner OR o.owner_ref IS DISTINCT FROM e.owner_ref
            LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'journal entry % refused: a reversal has its original''s owner', bad.id
                    USING ERRCODE = 'check_violation';
            END IF;
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER journal_entry_owners AFTER INSERT ON journal_entry
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT
    EXECUTE FUNCTION ledger_check_entry_owners()
    """,
]

_SQLITE = [
    """
    CREATE TRIGGER journal_entry_manual_accounts AFTER INSERT ON journal_entry
    WHEN NEW.owner = 'manual' AND EXISTS (
        SELECT 1 FROM posting p
        JOIN account a ON a.organisation_id = p.organisation_id AND a.id = p.account_id
        WHERE p.organisation_id = NEW.organisation_id AND p.entry_id = NEW.id
          AND a.owner <> 'manual')
    BEGIN SELECT RAISE(ABORT, 'journal entry refused: a manual entry touches an account a service keeps'); END
    """,
    """
    CREATE TRIGGER journal_entry_reversal_owner AFTER INSERT ON journal_entry
    WHEN NEW.reverses_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM journal_entry o
        WHERE o.organisation_id = NEW.organisation_id AND o.id = NEW.reverses_id
          AND (o.owner <> NEW.owner OR o.owner_ref IS NOT NEW.owner_ref))
    BEGIN SELECT RAISE(ABORT, 'journal entry refused: a reversal has its original''s owner'); END
    """,
]

_SQLITE_NO_UPDATE = """
    CREATE TRIGGER journal_entry_no_update BEFORE UPDATE ON journal_entry
    BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: UPDATE on journal_entry refused'); END
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        about, which = COMMENTS[table]
        # plain ADD COLUMN on both databases (no batch copy: it would drop SQLite's triggers)
        op.add_column(
            table,
            sa.Column(
                "owner",
                sa.String(32),
                nullable=False,
                server_default=sa.text("'manual'"),
                comment=about,
            ),
        )
        op.add_column(table, sa.Column("owner_ref", sa.String(120), nullable=True, comment=which))
    if dialect == "postgresql":
        op.execute("ALTER TABLE journal_entry DISABLE TRIGGER journal_entry_append_only")
        _backfill(dialect)
        op.execute("ALTER TABLE journal_entry ENABLE TRIGGER journal_entry_append_only")
    else:
        op.execute("DROP TRIGGER journal_entry_no_update")
        _backfill(dialect)
        op.execute(_SQLITE_NO_UPDATE)
    for statement in _PG if dialect == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS journal_entry_owners ON journal_entry")
        op.execute("DROP FUNCTION IF EXISTS ledger_check_entry_owners()")
        for table in TABLES:
            op.drop_column(table, "owner_ref")
            op.drop_column(table, "owner")
        return
    op.execute("DROP TRIGGER IF EXISTS journal_entry_manual_accounts")
    op.execute("DROP TRIGGER IF EXISTS journal_entry_reversal_owner")
    for table in TABLES:
        # SQLite's own DROP COLUMN (3.35+): a batch copy of the table would lose its triggers
        op.execute(f"ALTER TABLE {table} DROP COLUMN owner_ref")
        op.execute(f"ALTER TABLE {table} DROP COLUMN owner")
