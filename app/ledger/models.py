"""The books: accounts, journal entries and their postings, stored balances.

The ledger knows nothing of members, funds or receipts. Other packages keep the ids of the
accounts and entries they create.

Integrity that the database itself enforces (see the first migration):
- a posting's amount is never zero, and its currency is its account's (composite FK);
- a journal entry is inserted after its postings (the postings' FK to it is deferred); the
  insert is refused unless the entry has two or more postings summing to zero per currency;
- no posting may be added to an entry that is already posted;
- postings and entries are never updated or deleted;
- an entry is reversed at most once (unique `reverses_id`).

Ownership (migration 0010, see docs/ledger.md): every account and every entry says who owns
it, as an opaque kind and reference (`owner`, `owner_ref`) the ledger stores but does not
interpret. `manual` accounts are the organisation's own books (opened through POST /accounts,
or its bank and treasury accounts); every other owner is a service (a fund, a collector, a
member...). A manual entry touches only manual accounts, and a reversal has its original's
owner: the database refuses both breaks too.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, OrgScoped, org_fk, utcnow
from app.core.messages import N_
from app.core.vocabulary import Vocabulary


class AccountType(Vocabulary):
    """What an account holds; its normal side follows (see `normal_sign`)."""

    asset = "asset", N_("asset")
    liability = "liability", N_("liability")
    equity = "equity", N_("equity")
    income = "income", N_("income")
    expense = "expense", N_("expense")

    @property
    def normal_sign(self) -> int:
        """+1 where a debit increases the balance (assets, expenses), -1 otherwise."""
        return 1 if self in (AccountType.asset, AccountType.expense) else -1


MANUAL = "manual"
"""The owner of the organisation's own accounts and of the entries made by hand (the journal
API); every other owner is a service."""


BALANCE_SHARDS = 8
"""Stored balances are split over this many rows per account, so that concurrent writers
crediting the same hot account (a fund's "owed" account) rarely wait on one row."""


class Account(OrgScoped, Base):
    """A ledger account in one currency, with a code unique in the organisation. Its balance is
    the sum of its postings (kept in `AccountBalance`); `owner` says who keeps it: the
    organisation's manual books or a service (a fund, a member's credit...)."""

    __tablename__ = "account"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        # target of the postings' (organisation, account, currency) foreign key
        UniqueConstraint("organisation_id", "id", "currency"),
        CheckConstraint(AccountType.check("type"), name="type"),
    )

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    owner: Mapped[str] = mapped_column(
        String(32),
        default=MANUAL,
        server_default=text("'manual'"),
        comment="who keeps it: manual (open to manual entries) or a service kind (fund, ...)",
    )
    owner_ref: Mapped[str | None] = mapped_column(
        String(120), comment="which one of the owner kind (a fund code, a member number, ...)"
    )


class AccountBalance(Base):
    """The running sum of an account's postings (debit positive), kept in BALANCE_SHARDS rows."""

    __tablename__ = "account_balance"
    __table_args__ = (org_fk(["account_id"], "account"),)

    organisation_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    balance: Mapped[int] = mapped_column(comment="sum of this shard's postings, debit positive")


class JournalEntry(OrgScoped, Base):
    """A balanced journal transaction: two or more postings, never edited, reversed at most once."""

    __tablename__ = "journal_entry"
    __table_args__ = (
        org_fk(["reverses_id"], "journal_entry"),
        UniqueConstraint("organisation_id", "reverses_id"),
        Index("ix_journal_entry_org_effective", "organisation_id", "effective_on"),
    )

    description: Mapped[str] = mapped_column(String(500))
    effective_on: Mapped[date] = mapped_column(comment="the business date the entry belongs to")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(
        String(32), comment="what made it: manual, reversal, receipt, handover, ..."
    )
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        comment="the entry this one reverses, if it is a reversal"
    )
    reason: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(120))
    owner: Mapped[str] = mapped_column(
        String(32),
        default=MANUAL,
        server_default=text("'manual'"),
        comment="who made it and alone may undo it: manual or a service kind (receipt, ...)",
    )
    owner_ref: Mapped[str | None] = mapped_column(
        String(120), comment="which one of the owner kind (a receipt id, a batch reference, ...)"
    )


class Posting(OrgScoped, Base):
    """One line of an entry: a signed amount (debit positive, credit negative) on an account."""

    __tablename__ = "posting"
    __table_args__ = (
        org_fk(["entry_id"], "journal_entry", deferrable=True, initially="DEFERRED"),
        org_fk(["account_id", "currency"], "account", ["id", "currency"]),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_posting_entry", "organisation_id", "entry_id"),
        Index(
            "ix_posting_account_order",
            "organisation_id",
            "account_id",
            "effective_on",
            "recorded_at",
            "id",
        ),
    )

    entry_id: Mapped[uuid.UUID] = mapped_column()
    account_id: Mapped[uuid.UUID] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(comment="minor units; debit positive, credit negative")
    effective_on: Mapped[date] = mapped_column(comment="copy of the entry's, for balance as of")
    recorded_at: Mapped[datetime] = mapped_column(comment="copy of the entry's, for ordering")


__all__ = [
    "BALANCE_SHARDS",
    "MANUAL",
    "Account",
    "AccountBalance",
    "AccountType",
    "JournalEntry",
    "Posting",
]
