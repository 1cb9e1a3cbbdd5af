"""Remittance invariants for `coopledger verify`: every share is owed, in one live batch, or
remitted, never two; batches agree with their lines and shares; each fund's owed, in-transit
and custody accounts agree with the batches."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from app.collections.models import ContributionShare
from app.core.verify import invariant
from app.funds.models import Fund
from app.ledger.models import Account, JournalEntry, Posting
from app.remittances.models import (
    AffiliationBatch,
    AffiliationCommissionPayment,
    AffiliationLine,
    RemittanceBatch,
    RemittanceLine,
    RemittanceShare,
)

LIMIT = 20
IN_FLIGHT = ("sealed", "submitted", "acknowledged", "settled")


def _org(stmt: Any, column: Any, org: uuid.UUID | None) -> Any:
    return stmt if org is None else stmt.where(column == org)


@invariant("a contribution share is in at most one live remittance batch")
def share_in_one_live_batch(session: Session, org: uuid.UUID | None) -> list[str]:
    stmt = (
        select(RemittanceShare.share_id, func.count())
        .where(RemittanceShare.released_at.is_(None))
        .group_by(RemittanceShare.organisation_id, RemittanceShare.share_id)
        .having(func.count() > 1)
        .limit(LIMIT)
    )
    rows = session.execute(_org(stmt, RemittanceShare.organisation_id, org)).all()
    return [f"share {s} is in {n} live batches" for s, n in rows]


@invariant("remittance batch control totals and decisions equal their lines")
def batch_totals(session: Session, org: uuid.UUID | None) -> list[str]:
    line = RemittanceLine
    accepted = case((line.status == "accepted", line.amount), else_=0)
    rejected = case((line.status == "rejected", line.amount), else_=0)
    sums = (
        select(
            line.organisation_id.label("org"),
            line.batch_id.label("batch_id"),
            func.count().label("n"),
            func.sum(line.amount).label("total"),
            func.sum(case((line.status == "accepted", 1), else_=0)).label("n_acc"),
            func.sum(accepted).label("acc"),
            func.sum(case((line.status == "rejected", 1), else_=0)).label("n_rej"),
            func.sum(rejected).label("rej"),
        )
        .group_by(line.organisation_id, line.batch_id)
        .subquery()
    )
    b = RemittanceBatch
    stmt = (
        select(b.number, b.line_count, b.control_sum, sums.c.n, sums.c.total)
        .outerjoin(sums, and_(sums.c.org == b.organisation_id, sums.c.batch_id == b.id))
        .where(
            (func.coalesce(sums.c.n, 0) != b.line_count)
            | (func.coalesce(sums.c.total, 0) != b.control_sum)
            | (func.coalesce(sums.c.n_acc, 0) != b.accepted_count)
            | (func.coalesce(sums.c.acc, 0) != b.accepted_sum)
            | (func.coalesce(sums.c.n_rej, 0) != b.rejected_count)
            | (func.coalesce(sums.c.rej, 0) != b.rejected_sum)
        )
        .limit(LIMIT)
    )
    rows = session.execute(_org(stmt, b.organisation_id, org)).all()
    return [
        f"batch RB{n:06d}: header says {c} lines / {s}, lines say {ln or 0} / {t or 0} "
        "(or its accepted/rejected figures disagree)"
        for n, c, s, ln, t in rows
    ]


@invariant("every remittance line is the sum of the shares it carries")
def lines_carry_their_shares(session: Session, org: uuid.UUID | None) -> list[str]:
    s, ln, link = ContributionShare, RemittanceLine, RemittanceShare
    carried = (
        select(
            link.organisation_id.label("org"),
            link.batch_id.label("batch_id"),
            s.member_id.label("member_id"),
            s.period_start.label("ps"),
            s.period_end.label("pe"),
            func.sum(s.amount).label("total"),
        )
        .join(s, and_(s.organisation_id == link.organisation_id, s.id == link.share_id))
        .group_by(link.organisation_id, link.batch_id, s.member_id, s.period_start, s.period_end)
        .subquery()
    )
    stmt = (
        select(ln.end_to_end_id, ln.amount, carried.c.total)
        .outerjoin(
            carried,
            and_(
                carried.c.org == ln.organisation_id,
                carried.c.batch_id == ln.batch_id,
                carried.c.member_id == ln.member_id,
                carried.c.ps == ln.period_start,
                carried.c.pe == ln.period_end,
            ),
        )
        .where(func.coalesce(carried.c.total, 0) != ln.amount)
        .limit(LIMIT)
    )
    rows = session.execute(_org(stmt, ln.organisation_id, org)).all()
    return [f"line {e}: amount {a}, its shares sum to {t or 0}" for e, a, t in rows]


def _account_sums(session: Session, org: uuid.UUID | None, ids: set[uuid.UUID]) -> dict[Any, int]:
    out: dict[Any, int] = defaultdict(int)
    id_list = list(ids)
    for i in range(0, len(id_list), 500):
        stmt = (
            select(Posting.account_id, func.sum(Posting.amount))
            .where(Posting.account_id.in_(id_list[i : i + 500]))
            .group_by(Posting.account_id)
        )
        for account_id, total in session.execute(_org(stmt, Posting.organisation_id, org)):
            out[account_id] = int(total)
    return out


@invariant("each fund's owed, in-transit and custody accounts agree with its batches")
def fund_accounts_agree(session: Session, org: uuid.UUID | None) -> list[str]:
    funds = list(session.scalars(_org(select(Fund), Fund.organisation_id, org)))
    if not funds:
        return []
    accounts = {
        a
        for f in funds
        for a in (f.owed_account_id, f.transit_account_id, f.custody_account_id)
        if a
    }
    raw = _account_sums(session, org, accounts)
    s, link, b = ContributionShare, RemittanceShare, RemittanceBatch
    owed_total = dict(
        (k, int(v))
        for k, v in session.execute(
            _org(select(s.fund_id, func.sum(s.amount)).group_by(s.fund_id), s.organisation_id, org)
        )
    )
    gone = dict(
        (k, int(v))
        for k, v in session.execute(
            _org(
                select(b.fund_id, func.sum(s.amount))
                .join(link, and_(link.organisation_id == b.organisation_id, link.batch_id == b.id))
                .join(s, and_(s.organisation_id == link.organisation_id, s.id == link.share_id))
                .where(link.released_at.is_(None), b.status.in_(IN_FLIGHT))
                .group_by(b.fund_id),
                b.organisation_id,
                org,
            )
        )
    )
    transit: dict[Any, int] = defaultdict(int)
    custody: dict[Any, int] = defaultdict(int)
    stmt = _org(
        select(b.fund_id, b.control_sum, b.rejected_sum, b.settled_amount).where(
            b.status.in_(IN_FLIGHT)
        ),
        b.organisation_id,
        org,
    )
    for fund_id, control, rejected, settled in session.execute(stmt):
        transit[fund_id] += control - rejected - (settled or 0)
        custody[fund_id] += settled or 0
    out = []
    for f in funds:
        owed = -raw.get(f.owed_account_id, 0)
        expected_owed = owed_total.get(f.id, 0) - gone.get(f.id, 0)
        if owed != expected_owed:
            out.append(
                f"fund {f.code}: owed account {owed}, shares not sealed in a batch {expected_owed}"
            )
        in_transit = -raw.get(f.transit_account_id, 0)
        if in_transit != transit[f.id]:
            out.append(
                f"fund {f.code}: in-transit account {in_transit}, batches say {transit[f.id]}"
            )
        if f.custody and f.custody_account_id:
            held = -raw.get(f.custody_account_id, 0)
            if held != custody[f.id]:
                out.append(
                    f"fund {f.code}: custody account {held}, settled batches {custody[f.id]}"
                )
    return out[:LIMIT]


@invariant("each fund's affiliation commissions agree with the ledger")
def commissions_agree(session: Session, org: uuid.UUID | None) -> list[str]:
    """Per fund: the commission entries put Σ commission_total of its affiliation batches on
    the receivable (and the income), the commission payments took Σ amount paid off it, and
    each batch's commission_total is the sum of its accepted lines' commissions. (Checked by
    the entries' kinds, so a treasurer's entry explaining a payment difference is no breach.)"""
    b, ln, pay = AffiliationBatch, AffiliationLine, AffiliationCommissionPayment
    out: list[str] = []
    per_line = (
        select(ln.organisation_id.label("org"), ln.batch_id, func.sum(ln.commission).label("c"))
        .where(ln.status == "accepted")
        .group_by(ln.organisation_id, ln.batch_id)
        .subquery()
    )
    stmt = (
        select(b.number, b.commission_total, per_line.c.c)
        .outerjoin(per_line, and_(per_line.c.org == b.organisation_id, per_line.c.batch_id == b.id))
        .where(func.coalesce(per_line.c.c, 0) != b.commission_total)
        .limit(LIMIT)
    )
    for number, total, lines in session.execute(_org(stmt, b.organisation_id, org)):
        out.append(f"affiliation batch AF{number:06d}: commission {total}, its lines {lines or 0}")
    funds = list(session.scalars(_org(select(Fund), Fund.organisation_id, org)))
    booked = {
        k: int(v)
        for k, v in session.execute(
            _org(
                select(b.fund_id, func.sum(b.commission_total)).group_by(b.fund_id),
                b.organisation_id,
                org,
            )
        )
    }
    paid = {
        k: int(v)
        for k, v in session.execute(
            _org(
                select(b.fund_id, func.sum(pay.amount))
                .join(b, and_(b.organisation_id == pay.organisation_id, b.id == pay.batch_id))
                .group_by(b.fund_id),
                pay.organisation_id,
                org,
            )
        )
    }
    posted: dict[tuple[Any, str, str], int] = defaultdict(int)
    stmt = (
        select(Posting.organisation_id, Account.code, JournalEntry.kind, func.sum(Posting.amount))
        .join(
            Account,
            and_(
                Account.organisation_id == Posting.organisation_id,
                Account.id == Posting.account_id,
            ),
        )
        .join(
            JournalEntry,
            and_(
                JournalEntry.organisation_id == Posting.organisation_id,
                JournalEntry.id == Posting.entry_id,
            ),
        )
        .where(JournalEntry.kind.in_(("affiliation.commission", "affiliation.commission_payment")))
        .group_by(Posting.organisation_id, Account.code, JournalEntry.kind)
    )
    for org_id, code, kind, total in session.execute(_org(stmt, Posting.organisation_id, org)):
        posted[(org_id, code, kind)] = int(total)
    for f in funds:
        receivable, income = (
            f"FUND:{f.code}:COMMISSION_RECEIVABLE",
            f"FUND:{f.code}:COMMISSION_INCOME",
        )
        key = f.organisation_id
        want_booked, want_paid = booked.get(f.id, 0), paid.get(f.id, 0)
        got_booked = posted[(key, receivable, "affiliation.commission")]
        got_income = -posted[(key, income, "affiliation.commission")]
        got_paid = -posted[(key, receivable, "affiliation.commission_payment")]
        if (got_booked, got_income) != (want_booked, want_booked):
            out.append(
                f"fund {f.code}: commissions booked {want_booked}, receivable entries "
                f"{got_booked}, income entries {got_income}"
            )
        if got_paid != want_paid:
            out.append(f"fund {f.code}: commissions paid {want_paid}, payment entries {got_paid}")
    return out[:LIMIT]
