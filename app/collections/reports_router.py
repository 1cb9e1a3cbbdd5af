"""HTTP endpoints for a member's statement and the collections report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.collections import reports
from app.collections.schemas import (
    CollectionsReport,
    CollectionsRow,
    Statement,
    StatementLine,
)
from app.collections.vocabulary import ReportGrouping
from app.core.deps import Caller, DbSession, Principal
from app.core.errors import ValidationFailed
from app.core.messages import N_, Template
from app.core.money import format_minor
from app.core.roles import Role
from app.core.schemas import BusinessDate

router = APIRouter(tags=["reports"])

Reader = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer, Role.auditor))]
StatementReader = Annotated[
    Principal, Depends(Caller(Role.admin, Role.treasurer, Role.auditor, Role.collector))
]
From = Annotated[
    BusinessDate | None,
    Query(alias="from", description="first day (the organisation's, in its time zone)"),
]
To = Annotated[
    BusinessDate | None,
    Query(description="last day (the organisation's, in its time zone), inclusive"),
]


TO_BEFORE_FROM = Template("report.to_before_from", N_("must not be before from"))


def check_range(from_: object, to: object) -> None:
    if from_ is not None and to is not None and from_ > to:  # type: ignore[operator]
        raise ValidationFailed.field("to", TO_BEFORE_FROM())


@router.get("/members/{member_id}/statement", response_model=Statement, tags=["members"])
def member_statement(
    member_id: uuid.UUID,
    session: DbSession,
    who: StatementReader,
    from_: From = None,
    to: To = None,
) -> Statement:
    """The member's dues, receipts, allocations and reversals, oldest first, each with the
    balance after it: what the member owes (open dues minus prepaid credit; negative is
    credit). Allocation lines say which due took the money and change nothing. A receipt's
    line is on the organisation's day it was received (its `time_zone`, `GET /organisation`)."""
    check_range(from_, to)
    data = reports.member_statement(session, member_id, from_, to)
    cur = who.currency
    return Statement(
        member_id=data.member.id,
        member_number=data.member.member_number,
        full_name=data.member.full_name,
        currency=cur,
        from_=from_,
        to=to,
        opening_balance=format_minor(data.opening, cur),
        closing_balance=format_minor(data.closing, cur),
        lines=[
            StatementLine(
                on=ln.on,
                kind=ln.kind,
                description=ln.description,
                due_id=ln.due_id,
                receipt_id=ln.receipt_id,
                receipt_number=ln.receipt_number,
                amount=format_minor(ln.amount, cur),
                change=format_minor(ln.change, cur),
                balance=format_minor(balance, cur),
            )
            for ln, balance in data.lines
        ],
    )


@router.get("/reports/collections", response_model=CollectionsReport)
def collections_report(
    session: DbSession,
    who: Reader,
    group_by: ReportGrouping = ReportGrouping.day,
    from_: From = None,
    to: To = None,
) -> CollectionsReport:
    """Posted receipts received in the range, grouped by day, collector, fund or scheme.

    Days are the organisation's, in its `time_zone` (`GET /organisation`): a receipt taken
    at 21:00 in Santo Domingo (01:00 UTC the next day) counts on the day it was taken.

    By fund, the rows are what the receipts paid to each fund, plus `fee` (the
    intermediary's fee) and `credit` (what became prepaid credit); by scheme, what they paid
    on each scheme's dues, plus `credit`. The rows always sum to `total`. Reversed receipts
    are left out and counted in `reversed`."""
    check_range(from_, to)
    data = reports.collections_report(session, group_by, from_, to)
    cur = who.currency
    return CollectionsReport(
        group_by=group_by,
        from_=from_,
        to=to,
        currency=cur,
        rows=[
            CollectionsRow(
                key=r.key, label=r.label, receipts=r.receipts, amount=format_minor(r.amount, cur)
            )
            for r in data.rows
        ],
        total=format_minor(data.total, cur),
        receipts=data.receipts,
        reversed=data.reversed,
    )
