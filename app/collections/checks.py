"""The invariants of collections for `coopledger verify`: each one a set-based query."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased

from app.collections.models import (
    Allocation,
    ContributionShare,
    Handover,
    Receipt,
    ReceiptCounter,
)
from app.collections.vocabulary import ReceiptStatus
from app.core.verify import invariant
from app.ledger.models import MANUAL, Account, JournalEntry, Posting
from app.schemes.models import Due

LIMIT = 20  # breaches listed per invariant; one is already a failure


def _org(stmt: Any, column: Any, org: uuid.UUID | None) -> Any:
    return stmt if org is None else stmt.where(column == org)


def _receipt_allocations() -> Any:
    """Per receipt: what its allocations paid (positive rows) and their net (with undoing)."""
    return (
        select(
            Allocation.organisation_id.label("org"),
            Allocation.receipt_id.label("receipt_id"),
            func.sum(case((Allocation.amount > 0, Allocation.amount), else_=0)).label("paid"),
            func.sum(Allocation.amount).label("net"),
        )
        .where(Allocation.source == "receipt")
        .group_by(Allocation.organisation_id, Allocation.receipt_id)
        .subquery()
    )


@invariant("every receipt's allocations plus its credit equal it")
def receipts_fully_allocated(session: Session, org: uuid.UUID | None) -> list[str]:
    a = _receipt_allocations()
    paid = func.coalesce(a.c.paid, 0)
    stmt = (
        select(Receipt.receipt_number, Receipt.amount, paid, Receipt.credit)
        .outerjoin(a, and_(a.c.org == Receipt.organisation_id, a.c.receipt_id == Receipt.id))
        .where(paid + Receipt.credit != Receipt.amount)
        .limit(LIMIT)
    )
    return [
        f"receipt {n}: allocated {p} + credit {c} is not its amount {amt}"
        for n, amt, p, c in session.execute(_org(stmt, Receipt.organisation_id, org))
    ]


@invariant("a reversed receipt's allocations are all undone, a posted one's none")
def reversals_undo_allocations(session: Session, org: uuid.UUID | None) -> list[str]:
    a = _receipt_allocations()
    net = func.coalesce(a.c.net, 0)
    paid = func.coalesce(a.c.paid, 0)
    expected = case((Receipt.status == ReceiptStatus.reversed.value, 0), else_=paid)
    stmt = (
        select(Receipt.receipt_number, Receipt.status, net)
        .outerjoin(a, and_(a.c.org == Receipt.organisation_id, a.c.receipt_id == Receipt.id))
        .where(net != expected)
        .limit(LIMIT)
    )
    return [
        f"receipt {n} ({status}): its allocations net to {v}"
        for n, status, v in session.execute(_org(stmt, Receipt.organisation_id, org))
    ]


@invariant("each due's paid equals the sum of its allocations")
def dues_paid_match_allocations(session: Session, org: uuid.UUID | None) -> list[str]:
    sums = (
        select(
            Allocation.organisation_id.label("org"),
            Allocation.due_id.label("due_id"),
            func.sum(Allocation.amount).label("total"),
        )
        .group_by(Allocation.organisation_id, Allocation.due_id)
        .subquery()
    )
    total = func.coalesce(sums.c.total, 0)
    stmt = (
        select(Due.id, Due.paid, total)
        .outerjoin(sums, and_(sums.c.org == Due.organisation_id, sums.c.due_id == Due.id))
        .where(Due.paid != total)
        .limit(LIMIT)
    )
    return [
        f"due {d}: paid {p}, its allocations sum to {t}"
        for d, p, t in session.execute(_org(stmt, Due.organisation_id, org))
    ]


@invariant("receipt numbers run from 1 without gaps")
def receipt_numbers_gapless(session: Session, org: uuid.UUID | None) -> list[str]:
    stmt = select(
        Receipt.organisation_id,
        func.count(Receipt.id),
        func.min(Receipt.receipt_number),
        func.max(Receipt.receipt_number),
    ).group_by(Receipt.organisation_id)
    counters = dict(
        session.execute(
            _org(
                select(ReceiptCounter.organisation_id, ReceiptCounter.last_number),
                ReceiptCounter.organisation_id,
                org,
            )
        ).all()
    )
    out = []
    for o, n, lo, hi in session.execute(_org(stmt, Receipt.organisation_id, org)):
        if lo != 1 or hi != n or counters.get(o) != hi:
            out.append(
                f"organisation {o}: {n} receipts numbered {lo}..{hi}, counter at {counters.get(o)}"
            )
    return out[:LIMIT]


@invariant("each receipt's journal entry takes in exactly its amount")
def receipt_entries_match(session: Session, org: uuid.UUID | None) -> list[str]:
    debits = (
        select(
            Posting.organisation_id.label("org"),
            Posting.entry_id.label("entry_id"),
            func.sum(case((Posting.amount > 0, Posting.amount), else_=0)).label("debit"),
        )
        .group_by(Posting.organisation_id, Posting.entry_id)
        .subquery()
    )
    taken = func.coalesce(debits.c.debit, 0)
    stmt = (
        select(Receipt.receipt_number, Receipt.amount, taken)
        .outerjoin(
            debits,
            and_(debits.c.org == Receipt.organisation_id, debits.c.entry_id == Receipt.journal_id),
        )
        .where(taken != Receipt.amount)
        .limit(LIMIT)
    )
    return [
        f"receipt {n}: amount {amt}, its entry debits {d}"
        for n, amt, d in session.execute(_org(stmt, Receipt.organisation_id, org))
    ]


@invariant("a receipt's entry is reversed exactly when the receipt is")
def receipt_reversal_matches_entry(session: Session, org: uuid.UUID | None) -> list[str]:
    rev = aliased(JournalEntry)
    stmt = (
        select(Receipt.receipt_number, Receipt.status, rev.id)
        .outerjoin(
            rev,
            and_(
                rev.organisation_id == Receipt.organisation_id,
                rev.reverses_id == Receipt.journal_id,
            ),
        )
        .where(
            ((Receipt.status == ReceiptStatus.posted.value) & rev.id.is_not(None))
            | ((Receipt.status == ReceiptStatus.reversed.value) & rev.id.is_(None))
        )
        .limit(LIMIT)
    )
    return [
        f"receipt {n} is {status} but its entry is {'reversed' if r else 'not reversed'}"
        for n, status, r in session.execute(_org(stmt, Receipt.organisation_id, org))
    ]


@invariant("each allocation's contribution shares are at most it, of the same sign")
def shares_within_allocations(session: Session, org: uuid.UUID | None) -> list[str]:
    sums = (
        select(
            ContributionShare.organisation_id.label("org"),
            ContributionShare.allocation_id.label("allocation_id"),
            func.sum(ContributionShare.amount).label("total"),
        )
        .group_by(ContributionShare.organisation_id, ContributionShare.allocation_id)
        .subquery()
    )
    total = func.coalesce(sums.c.total, 0)
    stmt = (
        select(Allocation.id, Allocation.amount, total)
        .outerjoin(
            sums,
            and_(sums.c.org == Allocation.organisation_id, sums.c.allocation_id == Allocation.id),
        )
        .where(
            ((Allocation.amount > 0) & ((total < 0) | (total > Allocation.amount)))
            | ((Allocation.amount < 0) & ((total > 0) | (total < Allocation.amount)))
        )
        .limit(LIMIT)
    )
    return [
        f"allocation {a} of {amt}: its shares sum to {t}"
        for a, amt, t in session.execute(_org(stmt, Allocation.organisation_id, org))
    ]


@invariant("every undoing row mirrors its original exactly")
def undo_rows_mirror(session: Session, org: uuid.UUID | None) -> list[str]:
    out = []
    models: list[Any] = [Allocation, ContributionShare]
    for model in models:
        orig = aliased(model)
        stmt = (
            select(model.id, model.amount, orig.amount)
            .join(
                orig,
                and_(orig.organisation_id == model.organisation_id, orig.id == model.reverses_id),
            )
            .where(model.amount != -orig.amount)
            .limit(LIMIT)
        )
        out += [
            f"{model.__tablename__} {i}: {amt} does not undo {o}"
            for i, amt, o in session.execute(_org(stmt, model.organisation_id, org))
        ]
    return out


@invariant("every hand-over lands in an account open to manual use")
def handovers_land_in_manual_accounts(session: Session, org: uuid.UUID | None) -> list[str]:
    stmt = (
        select(Handover.id, Handover.reference, Account.code, Account.owner)
        .join(
            Account,
            and_(
                Account.organisation_id == Handover.organisation_id,
                Account.id == Handover.to_account_id,
            ),
        )
        .where(Account.owner != MANUAL)
        .limit(LIMIT)
    )
    rows = session.execute(_org(stmt, Handover.organisation_id, org)).all()
    return [f"hand-over {r} ({ref}) landed in {c}, which {o} keeps" for r, ref, c, o in rows]
