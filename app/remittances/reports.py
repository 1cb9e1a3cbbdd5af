"""`GET /reports/funds`: per fund, what is owed, in transit and settled, from the ledger."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.money import format_minor
from app.funds.models import Fund
from app.ledger import service as ledger
from app.ledger.models import Posting
from app.remittances.models import RemittanceBatch
from app.remittances.schemas import FundFigures, FundsReport


def funds_report(session: Session, *, as_of: date | None, fund_code: str | None) -> FundsReport:
    """Owed and in-transit are the balances of the fund's ledger accounts (as of a date);
    settled and the flagged differences come from the settled batches. A handful of queries
    whatever the number of funds."""
    stmt = select(Fund).order_by(Fund.code)
    if fund_code is not None:
        stmt = stmt.where(Fund.code == fund_code)
    funds = list(session.scalars(stmt))
    accounts = {
        a
        for f in funds
        for a in (f.owed_account_id, f.transit_account_id, f.custody_account_id)
        if a
    }
    if as_of is None:
        raw = ledger.balances(session, accounts)
    else:
        raw = defaultdict(int)
        ids = list(accounts)
        for i in range(0, len(ids), 500):
            rows = session.execute(
                select(Posting.account_id, func.sum(Posting.amount))
                .where(Posting.account_id.in_(ids[i : i + 500]), Posting.effective_on <= as_of)
                .group_by(Posting.account_id)
            )
            for account_id, total in rows:
                raw[account_id] = int(total)
    settled_stmt = select(
        RemittanceBatch.fund_id,
        RemittanceBatch.number,
        RemittanceBatch.settled_amount,
        RemittanceBatch.accepted_sum,
    ).where(RemittanceBatch.status == "settled")
    if as_of is not None:
        settled_stmt = settled_stmt.where(RemittanceBatch.settled_on <= as_of)
    settled: dict[object, int] = defaultdict(int)
    difference: dict[object, int] = defaultdict(int)
    flagged: dict[object, list[str]] = defaultdict(list)
    for fund_id, number, amount, accepted in session.execute(settled_stmt):
        settled[fund_id] += amount or 0
        diff = (amount or 0) - accepted
        difference[fund_id] += diff
        if diff:
            flagged[fund_id].append(f"RB{number:06d}")
    out = []
    for f in funds:
        c = f.currency
        # Liabilities: a credit balance (negative, debit-positive) is what the fund is owed.
        out.append(
            FundFigures(
                fund_code=f.code,
                name=f.name,
                currency=c,
                custody=f.custody,
                owed=format_minor(-raw.get(f.owed_account_id, 0), c),
                in_transit=format_minor(-raw.get(f.transit_account_id, 0), c),
                settled=format_minor(settled[f.id], c),
                custody_balance=(
                    format_minor(-raw.get(f.custody_account_id, 0), c)
                    if f.custody_account_id
                    else None
                ),
                settlement_difference=format_minor(difference[f.id], c),
                flagged_batches=flagged[f.id],
            )
        )
    return FundsReport(as_of=as_of, funds=out)
