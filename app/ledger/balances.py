"""The ledger's balances: an account's stored balance (now or as of a date), several at once,
and its history with the balance after each posting. No read scans the whole history.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, func, literal, select, tuple_
from sqlalchemy.orm import Session

from app.ledger.accounts import get_account, organisation_of
from app.ledger.models import Account, AccountBalance, AccountType, JournalEntry, Posting
from app.ledger.posting import flush_balances


@dataclass(frozen=True, slots=True)
class Balance:
    account: Account
    raw: int  # debit positive
    as_of: date | None

    @property
    def signed(self) -> int:
        """The balance on the account's normal side (assets' debits, liabilities' credits +)."""
        return self.raw * AccountType(self.account.type).normal_sign


def balance(session: Session, account_id: uuid.UUID, as_of: date | None = None) -> Balance:
    """The stored balance (no history scan); as of a date, minus what was posted after it."""
    account = get_account(session, account_id)
    flush_balances(session)
    current = select(func.coalesce(func.sum(AccountBalance.balance), 0)).where(
        AccountBalance.organisation_id == account.organisation_id,
        AccountBalance.account_id == account_id,
    )
    if as_of is None:
        raw = session.scalar(current)
    else:
        later = select(func.coalesce(func.sum(Posting.amount), 0)).where(
            Posting.account_id == account_id, Posting.effective_on > as_of
        )
        raw = session.scalar(select(current.scalar_subquery() - later.scalar_subquery()))
    return Balance(account, int(raw or 0), as_of)


def balances(session: Session, account_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Current raw (debit-positive) balances of several accounts in one query."""
    ids = list(account_ids)
    flush_balances(session)
    org = organisation_of(session)
    out = {i: 0 for i in ids}
    if not ids:
        return out
    rows = session.execute(
        select(AccountBalance.account_id, func.sum(AccountBalance.balance))
        .where(AccountBalance.organisation_id == org, AccountBalance.account_id.in_(ids))
        .group_by(AccountBalance.account_id)
    )
    for account_id, total in rows:
        out[account_id] = int(total)
    return out


# -- history ------------------------------------------------------------------------------------

HistoryKey = tuple[date, datetime, uuid.UUID]


@dataclass(frozen=True, slots=True)
class HistoryLine:
    posting: Posting
    description: str
    kind: str
    balance_after: int  # raw, debit positive


def history(
    session: Session,
    account_id: uuid.UUID,
    *,
    limit: int,
    before: HistoryKey | None = None,
    from_on: date | None = None,
    to_on: date | None = None,
) -> tuple[Account, list[HistoryLine], HistoryKey | None]:
    """An account's postings, newest first, each with the balance after it.

    Ordered by (effective date, recorded instant, id). The balance after the newest line of a
    page is the stored balance minus everything ordered after it, computed in the same
    statement as the page (one snapshot), so no page ever scans the whole history.
    """
    account = get_account(session, account_id)
    flush_balances(session)
    order = tuple_(Posting.effective_on, Posting.recorded_at, Posting.id)
    upper: Any
    if before is not None:
        upper = tuple_(literal(before[0]), literal(before[1]), literal(before[2]))
        newer = order >= upper
        in_page = order < upper
    elif to_on is not None:
        newer = Posting.effective_on > to_on
        in_page = Posting.effective_on <= to_on
    else:
        newer = None
        in_page = None
    stored = (
        select(func.coalesce(func.sum(AccountBalance.balance), 0))
        .where(
            AccountBalance.organisation_id == account.organisation_id,
            AccountBalance.account_id == account_id,
        )
        .scalar_subquery()
    )
    if newer is not None:
        after = (
            select(func.coalesce(func.sum(Posting.amount), 0))
            .where(
                Posting.organisation_id == account.organisation_id,
                Posting.account_id == account_id,
                newer,
            )
            .scalar_subquery()
        )
        start = stored - after
    else:
        start = stored
    stmt = (
        select(Posting, JournalEntry.description, JournalEntry.kind, start.label("start"))
        .join(
            JournalEntry,
            (JournalEntry.organisation_id == Posting.organisation_id)
            & (JournalEntry.id == Posting.entry_id),
        )
        .where(Posting.account_id == account_id)
        .order_by(Posting.effective_on.desc(), Posting.recorded_at.desc(), Posting.id.desc())
        .limit(limit + 1)
    )
    if in_page is not None:
        stmt = stmt.where(in_page)
    if from_on is not None:
        stmt = stmt.where(Posting.effective_on >= from_on)
    rows: list[Row[Any]] = list(session.execute(stmt))
    lines: list[HistoryLine] = []
    running = int(rows[0].start) if rows else 0
    for row in rows[:limit]:
        p: Posting = row[0]
        lines.append(HistoryLine(p, row.description, row.kind, running))
        running -= p.amount
    next_key = None
    if len(rows) > limit:
        last = lines[-1].posting
        next_key = (last.effective_on, last.recorded_at, last.id)
    return account, lines, next_key
