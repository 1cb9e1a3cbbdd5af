"""The ledger's invariants for `coopledger verify`."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from app.core.verify import invariant
from app.ledger.models import MANUAL, Account, AccountBalance, JournalEntry, Posting

LIMIT = 20  # breaches listed per invariant; one is already a failure


def _org(stmt: Any, column: Any, org: uuid.UUID | None) -> Any:
    return stmt if org is None else stmt.where(column == org)


@invariant("every entry balances per currency")
def entries_balance(session: Session, org: uuid.UUID | None) -> list[str]:
    stmt = (
        select(Posting.entry_id, Posting.currency, func.sum(Posting.amount))
        .group_by(Posting.organisation_id, Posting.entry_id, Posting.currency)
        .having(func.sum(Posting.amount) != 0)
        .limit(LIMIT)
    )
    rows = session.execute(_org(stmt, Posting.organisation_id, org)).all()
    return [f"entry {e}: {c} postings sum to {s}, not 0" for e, c, s in rows]


@invariant("every entry has two or more postings")
def entries_have_postings(session: Session, org: uuid.UUID | None) -> list[str]:
    stmt = (
        select(JournalEntry.id, func.count(Posting.id))
        .outerjoin(
            Posting,
            and_(
                Posting.organisation_id == JournalEntry.organisation_id,
                Posting.entry_id == JournalEntry.id,
            ),
        )
        .group_by(JournalEntry.organisation_id, JournalEntry.id)
        .having(func.count(Posting.id) < 2)
        .limit(LIMIT)
    )
    rows = session.execute(_org(stmt, JournalEntry.organisation_id, org)).all()
    return [f"entry {e} has {n} posting(s)" for e, n in rows]


@invariant("every posting belongs to an entry")
def postings_have_entries(session: Session, org: uuid.UUID | None) -> list[str]:
    stmt = (
        select(Posting.id)
        .outerjoin(
            JournalEntry,
            and_(
                JournalEntry.organisation_id == Posting.organisation_id,
                JournalEntry.id == Posting.entry_id,
            ),
        )
        .where(JournalEntry.id.is_(None))
        .limit(LIMIT)
    )
    return [
        f"posting {p} has no entry"
        for p in session.scalars(_org(stmt, Posting.organisation_id, org))
    ]


@invariant("stored balances equal the sum of postings")
def stored_balances(session: Session, org: uuid.UUID | None) -> list[str]:
    posted: dict[tuple[Any, Any], int] = defaultdict(int)
    stored: dict[tuple[Any, Any], int] = defaultdict(int)
    q1 = _org(
        select(Posting.organisation_id, Posting.account_id, func.sum(Posting.amount)).group_by(
            Posting.organisation_id, Posting.account_id
        ),
        Posting.organisation_id,
        org,
    )
    for o, a, s in session.execute(q1):
        posted[(o, a)] = int(s)
    q2 = _org(
        select(
            AccountBalance.organisation_id,
            AccountBalance.account_id,
            func.sum(AccountBalance.balance),
        ).group_by(AccountBalance.organisation_id, AccountBalance.account_id),
        AccountBalance.organisation_id,
        org,
    )
    for o, a, s in session.execute(q2):
        stored[(o, a)] = int(s)
    out = []
    for key in sorted(posted.keys() | stored.keys()):
        if posted.get(key, 0) != stored.get(key, 0):
            out.append(
                f"account {key[1]}: stored {stored.get(key, 0)}, postings sum to {posted.get(key, 0)}"
            )
    return out[:LIMIT]


@invariant("all accounts sum to zero per currency")
def books_sum_to_zero(session: Session, org: uuid.UUID | None) -> list[str]:
    stmt = (
        select(Posting.organisation_id, Posting.currency, func.sum(Posting.amount))
        .group_by(Posting.organisation_id, Posting.currency)
        .having(func.sum(Posting.amount) != 0)
    )
    rows = session.execute(_org(stmt, Posting.organisation_id, org)).all()
    return [f"organisation {o}: {c} accounts sum to {s}, not 0" for o, c, s in rows]


@invariant("every reversal mirrors its original exactly")
def reversals_mirror(session: Session, org: uuid.UUID | None) -> list[str]:
    rev = aliased(JournalEntry)
    stmt = (
        select(rev.id, Posting.account_id, func.sum(Posting.amount))
        .join(
            Posting,
            and_(
                Posting.organisation_id == rev.organisation_id,
                or_(Posting.entry_id == rev.id, Posting.entry_id == rev.reverses_id),
            ),
        )
        .where(rev.reverses_id.is_not(None))
        .group_by(rev.organisation_id, rev.id, Posting.account_id)
        .having(func.sum(Posting.amount) != 0)
        .limit(LIMIT)
    )
    rows = session.execute(_org(stmt, rev.organisation_id, org)).all()
    return [
        f"reversal {r} does not mirror its original on account {a} (off by {s})" for r, a, s in rows
    ]


@invariant("manual entries touch only accounts open to manual use")
def manual_entries_stay_manual(session: Session, org: uuid.UUID | None) -> list[str]:
    stmt = (
        select(JournalEntry.id, Account.code, Account.owner)
        .join(
            Posting,
            and_(
                Posting.organisation_id == JournalEntry.organisation_id,
                Posting.entry_id == JournalEntry.id,
            ),
        )
        .join(
            Account,
            and_(
                Account.organisation_id == Posting.organisation_id,
                Account.id == Posting.account_id,
            ),
        )
        .where(JournalEntry.owner == MANUAL, Account.owner != MANUAL)
        .limit(LIMIT)
    )
    rows = session.execute(_org(stmt, JournalEntry.organisation_id, org)).all()
    return [f"manual entry {e} touches account {c}, which {o} keeps" for e, c, o in rows]


@invariant("a reversal has its original's owner")
def reversals_keep_their_owner(session: Session, org: uuid.UUID | None) -> list[str]:
    original = aliased(JournalEntry)
    stmt = (
        select(JournalEntry.id, JournalEntry.owner, original.owner)
        .join(
            original,
            and_(
                original.organisation_id == JournalEntry.organisation_id,
                original.id == JournalEntry.reverses_id,
            ),
        )
        .where(
            or_(
                original.owner != JournalEntry.owner,
                original.owner_ref.is_distinct_from(JournalEntry.owner_ref),
            )
        )
        .limit(LIMIT)
    )
    rows = session.execute(_org(stmt, JournalEntry.organisation_id, org)).all()
    return [f"reversal {r} is owned by {o}, its original by {w}" for r, o, w in rows]
