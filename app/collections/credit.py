"""Prepaid credit: money a payer gave that no due took yet.

New dues take it automatically (`apply_credit`, registered in the schemes package's
DUES_CREATED_HOOKS). Credit that later dues took is given back by `undo_credit_allocations`
when the receipt it came from is reversed (see service.reverse_receipt).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from app.collections import accounts
from app.collections import receipts as engine
from app.collections.models import Allocation, ContributionShare
from app.core import audit, clock
from app.core.audit import Actor
from app.core.database import utcnow
from app.core.ids import uuid7
from app.funds.models import Fund
from app.identity.models import Organisation
from app.ledger import service as ledger
from app.ledger.models import AccountBalance
from app.members.models import Member, TransportUnit
from app.schemes.models import Due
from app.schemes.service import Payer


def book_currency(session: Session) -> str:
    org = session.get(Organisation, engine.organisation(session))
    assert org is not None
    return org.currency


def credit_balances(session: Session, infos: Iterable[engine.PayerInfo]) -> dict[Payer, int]:
    """Each payer's prepaid credit in minor units (its credit account's credit balance)."""
    info_list = list(infos)
    ledger.flush_balances(session)
    raw: dict[uuid.UUID, int] = {}
    org = engine.organisation(session)
    for criterion in engine.among(
        session, AccountBalance.account_id, [i.credit_account_id for i in info_list]
    ):
        rows = session.execute(
            select(AccountBalance.account_id, func.sum(AccountBalance.balance))
            .where(AccountBalance.organisation_id == org, criterion)
            .group_by(AccountBalance.account_id)
        )
        raw.update({a: int(b) for a, b in rows})
    # a liability: credit (negative, debit-positive) is what the payer has paid ahead
    return {(i.kind, i.id): -raw.get(i.credit_account_id, 0) for i in info_list}


def payers_with_credit(session: Session, payers: Iterable[Payer]) -> set[Payer]:
    """Which of these payers have prepaid credit now: one set-based read, without locks.

    Dues generation tells us about every payer that got a due; most have no credit, so only
    the few that do are then locked and read again (`apply_credit`).
    """
    ledger.flush_balances(session)
    payer_list = list(payers)
    out: set[Payer] = set()
    models: list[tuple[str, Any]] = [("member", Member), ("unit", TransportUnit)]
    for kind, model in models:
        ids = [i for k, i in payer_list if k == kind]
        for criterion in engine.among(session, model.id, ids):
            rows = session.execute(
                select(model.id)
                .join(
                    AccountBalance,
                    and_(
                        AccountBalance.organisation_id == model.organisation_id,
                        AccountBalance.account_id == model.credit_account_id,
                    ),
                )
                .where(criterion)
                .group_by(model.id)
                .having(func.sum(AccountBalance.balance) < 0)
            )
            out.update((kind, pid) for (pid,) in rows)
    return out


@dataclass(frozen=True, slots=True)
class CreditApplied:
    payers: int
    allocated: int  # minor units


def apply_credit(session: Session, actor: Actor, payers: set[Payer]) -> CreditApplied:
    """Let the payers' open dues take their prepaid credit, oldest due first.

    Set-based: the payers are locked and read in a few statements, and each payer with
    credit and open dues gets one journal entry (debit its credit account, credit each
    fund's owed account and fee income), allocation rows with source `credit`, and
    contribution shares. A unit with no one to count its contributions for keeps its credit.
    """
    candidates = payers_with_credit(session, payers)
    if not candidates:
        return CreditApplied(0, 0)
    infos = engine.load_payers(session, candidates, lock=True)
    credit = {p: c for p, c in credit_balances(session, infos.values()).items() if c > 0}
    if not credit:
        return CreditApplied(0, 0)
    currency = book_currency(session)
    queues = engine.load_open_dues(session, credit, currency, credit)
    funds = engine.load_funds(session, engine.fund_codes(queues.values()))
    org = engine.organisation(session)
    now = utcnow()
    planned: list[tuple[engine.PayerInfo, list[Any], uuid.UUID]] = []
    for payer, available in sorted(credit.items()):
        info, queue = infos[payer], queues[payer]
        if not info.attributed_to or not queue.dues:
            continue
        if {str(s["fund"]) for d in queue.dues for s in d.rules["split"]} - funds.keys():
            continue  # a scheme names a fund that is gone: leave the credit where it is
        payments, _left = queue.take(available)
        if payments:
            planned.append((info, payments, uuid7()))
    if not planned:
        return CreditApplied(0, 0)
    fee_id = engine.fee_account(session, actor, (p for _, ps, _ in planned for p in ps), currency)
    entries: list[ledger.EntryDraft] = []
    alloc_rows: list[dict[str, Any]] = []
    share_rows: list[dict[str, Any]] = []
    due_paid: dict[uuid.UUID, int] = defaultdict(int)
    total = 0
    day = clock.local_date(now, clock.session_zone(session))
    for info, payments, _ in planned:
        amount = sum(p.amount for p in payments)
        total += amount
        entry = ledger.EntryDraft(
            description=f"Prepaid credit of {info.kind} {info.label} applied to new dues",
            effective_on=day,
            lines=[
                ledger.Line.debit(info.credit_account_id, amount),
                *engine.credit_lines(payments, funds, fee_id),
            ],
            kind="credit_applied",
            owner=ledger.Owner("prepaid_credit", f"{info.kind} {info.label}"),
        )
        entries.append(entry)
        engine.payment_rows(
            org,
            payments,
            info.attributed_to,
            receipt_id=None,
            journal_id=entry.id,
            funds=funds,
            now=now,
            alloc_rows=alloc_rows,
            share_rows=share_rows,
        )
        for p in payments:
            due_paid[p.due.id] += p.amount
    ledger.post_many(session, actor, entries)
    engine.insert_payments(session, alloc_rows, share_rows, due_paid)
    audit.record(
        session,
        actor,
        "credit.apply",
        "allocation",
        None,
        {"payers": len(planned), "allocated": total, "journal_ids": [str(e.id) for e in entries]},
    )
    return CreditApplied(len(planned), total)


# -- giving credit back -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllocationToUndo:
    id: uuid.UUID
    due_id: uuid.UUID
    amount: int
    receipt_id: uuid.UUID | None
    source: str


def live_allocations(
    session: Session, *criteria: Any, newest_first: bool = False
) -> list[AllocationToUndo]:
    """Positive allocations matching `criteria` that no negative row undoes yet."""
    undo = aliased(Allocation)
    stmt = (
        select(
            Allocation.id,
            Allocation.due_id,
            Allocation.amount,
            Allocation.receipt_id,
            Allocation.source,
        )
        .join(
            Due,
            and_(Due.organisation_id == Allocation.organisation_id, Due.id == Allocation.due_id),
        )
        .outerjoin(
            undo,
            and_(
                undo.organisation_id == Allocation.organisation_id,
                undo.reverses_id == Allocation.id,
            ),
        )
        .where(Allocation.amount > 0, undo.id.is_(None), *criteria)
    )
    if newest_first:
        stmt = stmt.order_by(Allocation.allocated_at.desc(), Allocation.id.desc())
    else:
        stmt = stmt.order_by(Due.due_on, Due.period_start, Allocation.id)
    return [AllocationToUndo(a, d, int(m), r, s) for a, d, m, r, s in session.execute(stmt)]


def credit_allocations_newest_first(session: Session, payer: Payer) -> list[AllocationToUndo]:
    """The payer's live allocations that came from prepaid credit, newest first."""
    column = Due.member_id if payer[0] == "member" else Due.unit_id
    return live_allocations(
        session, column == payer[1], Allocation.source == "credit", newest_first=True
    )


@dataclass(frozen=True, slots=True)
class ShareRow:
    id: uuid.UUID
    allocation_id: uuid.UUID
    due_id: uuid.UUID
    fund_id: uuid.UUID
    member_id: uuid.UUID
    period_start: date
    period_end: date
    amount: int


def shares_of(session: Session, allocation_ids: list[uuid.UUID]) -> list[ShareRow]:
    """The (positive) contribution shares of these allocations."""
    out: list[ShareRow] = []
    for criterion in engine.among(session, ContributionShare.allocation_id, allocation_ids):
        rows = session.execute(
            select(
                ContributionShare.id,
                ContributionShare.allocation_id,
                ContributionShare.due_id,
                ContributionShare.fund_id,
                ContributionShare.member_id,
                ContributionShare.period_start,
                ContributionShare.period_end,
                ContributionShare.amount,
            )
            .where(criterion, ContributionShare.amount > 0)
            .order_by(ContributionShare.id)
        )
        out.extend(ShareRow(*r) for r in rows)
    return out


def undo_rows(
    session: Session,
    allocations: list[AllocationToUndo],
    shares: list[ShareRow],
    journal_id: uuid.UUID,
) -> None:
    """Negative allocation and share rows pointing at the originals; the dues' paid lowered."""
    org = engine.organisation(session)
    now = utcnow()
    new_ids = {a.id: uuid7() for a in allocations}
    alloc_rows = [
        {
            "organisation_id": org,
            "id": new_ids[a.id],
            "due_id": a.due_id,
            "receipt_id": a.receipt_id,
            "source": a.source,
            "amount": -a.amount,
            "journal_id": journal_id,
            "reverses_id": a.id,
            "allocated_at": now,
        }
        for a in allocations
    ]
    share_rows = [
        {
            "organisation_id": org,
            "id": uuid7(),
            "allocation_id": new_ids[s.allocation_id],
            "due_id": s.due_id,
            "fund_id": s.fund_id,
            "member_id": s.member_id,
            "period_start": s.period_start,
            "period_end": s.period_end,
            "amount": -s.amount,
            "reverses_id": s.id,
            "created_at": now,
        }
        for s in shares
    ]
    due_paid: dict[uuid.UUID, int] = defaultdict(int)
    for a in allocations:
        due_paid[a.due_id] -= a.amount
    engine.insert_payments(session, alloc_rows, share_rows, due_paid)


def undo_credit_allocations(
    session: Session,
    actor: Actor,
    payer: engine.PayerInfo,
    allocations: list[AllocationToUndo],
    shares: list[ShareRow],
    *,
    reason: str,
) -> uuid.UUID:
    """Give prepaid credit back from dues that took it: the exact mirror of those payments.

    Each fund's owed account is debited with the sum of the allocations' shares for it, fee
    income with the rest (what the fee was), and the payer's credit account is credited with
    the whole; the dues are open again by as much.
    """
    owed_by_fund = {
        fid: owed
        for fid, owed in session.execute(
            select(Fund.id, Fund.owed_account_id).where(Fund.id.in_({s.fund_id for s in shares}))
        )
    }
    total = sum(a.amount for a in allocations)
    by_fund: dict[uuid.UUID, int] = defaultdict(int)
    for s in shares:
        by_fund[s.fund_id] += s.amount
    fee = total - sum(by_fund.values())
    lines = [
        ledger.Line.debit(owed_by_fund[fid], part) for fid, part in sorted(by_fund.items()) if part
    ]
    if fee:
        fee_id = accounts.shared_account(
            session, actor, accounts.FEE_INCOME, book_currency(session)
        )
        lines.append(ledger.Line.debit(fee_id, fee))
    lines.append(ledger.Line.credit(payer.credit_account_id, total))
    entry = ledger.EntryDraft(
        description=f"Prepaid credit of {payer.kind} {payer.label} given back by its dues",
        effective_on=clock.session_today(session),
        lines=lines,
        kind="credit_undone",
        reason=reason[:500],
        owner=ledger.Owner("prepaid_credit", f"{payer.kind} {payer.label}"),
    )
    ledger.post_many(session, actor, [entry])
    undo_rows(session, allocations, shares, entry.id)
    return entry.id
