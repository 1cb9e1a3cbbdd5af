"""A member's statement and the collections report: read-only, a few set-based queries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Integer, and_, cast, func, select
from sqlalchemy.orm import Session

from app.collections.models import Allocation, Collector, ContributionShare, Receipt
from app.collections.vocabulary import ReceiptStatus, ReportGrouping
from app.core import clock, dialect
from app.core.errors import NotFound
from app.funds.models import Fund
from app.members.models import Member
from app.members.service import MEMBER_NOT_FOUND
from app.schemes.models import Due, Scheme


def received_within(tz: clock.Zone, from_: date | None, to: date | None) -> list[Any]:
    """Criteria on Receipt.received_at for the organisation's days (in `tz`) from `from_`
    through `to`, both inclusive."""
    criteria: list[Any] = []
    if from_ is not None:
        criteria.append(Receipt.received_at >= clock.day_start(from_, tz))
    if to is not None:
        criteria.append(Receipt.received_at < clock.day_start(to + timedelta(days=1), tz))
    return criteria


# -- statement ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    on: date
    kind: str
    description: str
    amount: int
    change: int  # + adds to what the member owes, - reduces it
    due_id: uuid.UUID | None = None
    receipt_id: uuid.UUID | None = None
    receipt_number: int | None = None
    # order within a day: dues first, then events by instant; a receipt's allocations
    # right after it, a reversal's undoing right after the reversal
    seq: tuple[int, datetime, str, int] = (0, datetime.min.replace(tzinfo=UTC), "", 0)


@dataclass(frozen=True, slots=True)
class StatementData:
    member: Member
    opening: int
    lines: list[tuple[Line, int]]  # each line with the balance after it
    closing: int


def member_statement(
    session: Session, member_id: uuid.UUID, from_: date | None, to: date | None
) -> StatementData:
    """A member's dues, receipts, allocations and reversals with a running balance.

    The balance is what the member owes: dues add to it, receipts subtract, a reversal adds
    the receipt back. Allocations (a receipt's or prepaid credit's money going onto a due,
    or given back) are shown for the record and change nothing, so the balance is the
    member's open dues minus their prepaid credit; negative means credit. Lines before
    `from` make the opening balance. The member's own dues and receipts only: a transport
    unit's are on the unit's.
    """
    member = session.scalar(select(Member).where(Member.id == member_id))
    if member is None:
        raise NotFound(MEMBER_NOT_FOUND(id=member_id))
    tz = clock.zone(clock.session_zone(session))  # a receipt's line is on the organisation's day
    lines: list[Line] = []
    dues = session.execute(
        select(Due.id, Due.due_on, Due.period_start, Due.period_end, Due.amount, Scheme.code)
        .join(
            Scheme, and_(Scheme.organisation_id == Due.organisation_id, Scheme.id == Due.scheme_id)
        )
        .where(Due.member_id == member_id)
    )
    due_label: dict[uuid.UUID, str] = {}
    for did, due_on, start, end, amount, code in dues:
        label = f"{code} {start}" + ("" if start == end else f"..{end}")
        due_label[did] = label
        lines.append(
            Line(
                due_on,
                "due",
                f"Due {label}",
                amount,
                amount,
                due_id=did,
                seq=(0, datetime.combine(start, time(), tzinfo=UTC), str(did), 0),
            )
        )
    receipts = list(
        session.execute(
            select(
                Receipt.id,
                Receipt.receipt_number,
                Receipt.received_at,
                Receipt.amount,
                Receipt.channel,
                Receipt.reversed_at,
                Receipt.reversal_reason,
            ).where(Receipt.member_id == member_id)
        )
    )
    numbers = {r.id: r.receipt_number for r in receipts}
    received = {r.id: r.received_at for r in receipts}
    reversed_at = {r.id: r.reversed_at for r in receipts if r.reversed_at is not None}
    for r in receipts:
        lines.append(
            Line(
                clock.local_date(r.received_at, tz),
                "receipt",
                f"Receipt {r.receipt_number} ({r.channel})",
                r.amount,
                -r.amount,
                receipt_id=r.id,
                receipt_number=r.receipt_number,
                seq=(1, r.received_at, str(r.id), 0),
            )
        )
        if r.reversed_at is not None:
            lines.append(
                Line(
                    clock.local_date(r.reversed_at, tz),
                    "reversal",
                    f"Receipt {r.receipt_number} reversed: {r.reversal_reason or ''}".strip(),
                    r.amount,
                    r.amount,
                    receipt_id=r.id,
                    receipt_number=r.receipt_number,
                    seq=(1, r.reversed_at, str(r.id), 2),
                )
            )
    allocations = session.execute(
        select(
            Allocation.id,
            Allocation.due_id,
            Allocation.receipt_id,
            Allocation.source,
            Allocation.amount,
            Allocation.allocated_at,
        )
        .join(
            Due,
            and_(Due.organisation_id == Allocation.organisation_id, Due.id == Allocation.due_id),
        )
        .where(Due.member_id == member_id)
    )
    for aid, due_id, receipt_id, source, amount, at in allocations:
        label = due_label.get(due_id, str(due_id))
        seq = (1, at, str(aid), 0)
        if receipt_id in received:
            # shown with the receipt (or its reversal), on its day
            at = received[receipt_id] if amount > 0 else reversed_at.get(receipt_id, at)
            seq = (1, at, str(receipt_id), 1 if amount > 0 else 3)
        if source == "receipt":
            number = numbers.get(receipt_id) if receipt_id else None
            kind = "allocation"
            text = (
                f"Receipt {number} paid on due {label}"
                if amount > 0
                else f"Receipt {number} no longer pays due {label}"
            )
        elif amount > 0:
            kind, number, text = "credit_applied", None, f"Prepaid credit paid on due {label}"
        else:
            kind, number, text = "credit_undone", None, f"Prepaid credit given back by due {label}"
        lines.append(
            Line(
                clock.local_date(at, tz),
                kind,
                text,
                abs(amount),
                0,
                due_id=due_id,
                receipt_id=receipt_id,
                receipt_number=number,
                seq=seq,
            )
        )
    lines.sort(key=lambda ln: (ln.on, ln.seq))
    opening = sum(ln.change for ln in lines if from_ is not None and ln.on < from_)
    balance = opening
    shown: list[tuple[Line, int]] = []
    for ln in lines:
        if (from_ is not None and ln.on < from_) or (to is not None and ln.on > to):
            continue
        balance += ln.change
        shown.append((ln, balance))
    return StatementData(member, opening, shown, balance)


# -- collections report -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportRow:
    key: str
    label: str
    receipts: int
    amount: int


@dataclass(frozen=True, slots=True)
class CollectionsData:
    rows: list[ReportRow]
    total: int
    receipts: int
    reversed: int


def collections_report(
    session: Session, group_by: str, from_: date | None, to: date | None
) -> CollectionsData:
    """Posted receipts received from `from_` through `to` (the organisation's days, in its
    time zone), grouped.

    By day and by collector each receipt counts once. By fund, each fund's row is what the
    receipts paid to it, with a `fee` row for the intermediary's fee and a `credit` row for
    what became prepaid credit; by scheme, what they paid on each scheme's dues, and the
    `credit` row. Every grouping's rows sum to the same total.
    """
    tz = clock.session_zone(session)
    in_range = [Receipt.status == ReceiptStatus.posted.value, *received_within(tz, from_, to)]
    total, count = session.execute(
        select(func.coalesce(func.sum(Receipt.amount), 0), func.count(Receipt.id)).where(*in_range)
    ).one()
    reversed_count = session.scalar(
        select(func.count(Receipt.id)).where(
            Receipt.status == ReceiptStatus.reversed.value, *received_within(tz, from_, to)
        )
    )
    if group_by == ReportGrouping.day:
        rows = by_day(session, in_range, tz)
    elif group_by == ReportGrouping.collector:
        rows = by_collector(session, in_range)
    else:
        rows = (
            by_fund(session, in_range)
            if group_by == ReportGrouping.fund
            else by_scheme(session, in_range)
        )
        credit, with_credit = session.execute(
            select(
                func.coalesce(func.sum(Receipt.credit), 0),
                func.count(Receipt.id).filter(Receipt.credit > 0),
            ).where(*in_range)
        ).one()
        if credit:
            rows.append(ReportRow("credit", "Prepaid credit", int(with_credit), int(credit)))
    return CollectionsData(rows, int(total), int(count), int(reversed_count or 0))


def by_day(session: Session, in_range: list[Any], tz: str) -> list[ReportRow]:
    """One row per day of the organisation (in `tz`) on which receipts were received."""
    if dialect.is_postgres(session):
        day: Any = func.date(func.timezone(tz, Receipt.received_at))
        rows = session.execute(
            select(day, func.count(Receipt.id), func.sum(Receipt.amount))
            .where(*in_range)
            .group_by(day)
            .order_by(day)
        )
        return [ReportRow(str(d), str(d), int(n), int(a)) for d, n, a in rows]
    # SQLite keeps instants as UTC text and knows no time zones: sum per UTC quarter hour in
    # SQL (every zone's offset and clock change falls on a quarter hour, so a quarter hour
    # lies within one local day), then give each quarter hour its local day here.
    quarter = func.substr(Receipt.received_at, 1, 14).op("||")(
        func.printf("%02d", cast(func.substr(Receipt.received_at, 15, 2), Integer) / 15 * 15)
    )
    totals: dict[date, tuple[int, int]] = {}
    for q, n, a in session.execute(
        select(quarter, func.count(Receipt.id), func.sum(Receipt.amount))
        .where(*in_range)
        .group_by(quarter)
    ):
        on = clock.local_date(datetime.fromisoformat(str(q)).replace(tzinfo=UTC), tz)
        count, amount = totals.get(on, (0, 0))
        totals[on] = (count + int(n), amount + int(a))
    return [ReportRow(str(d), str(d), n, a) for d, (n, a) in sorted(totals.items())]


def by_collector(session: Session, in_range: list[Any]) -> list[ReportRow]:
    rows = session.execute(
        select(Receipt.collector_id, func.count(Receipt.id), func.sum(Receipt.amount))
        .where(*in_range)
        .group_by(Receipt.collector_id)
    ).all()
    names = dict(
        session.execute(
            select(Collector.id, Collector.name).where(
                Collector.id.in_([r[0] for r in rows if r[0] is not None])
            )
        ).all()
    )
    out = [
        ReportRow(
            str(cid) if cid else "desk",
            names.get(cid, "?") if cid else "Desk, bank and mobile money",
            int(n),
            int(a),
        )
        for cid, n, a in rows
    ]
    return sorted(out, key=lambda r: (r.key == "desk", r.label, r.key))


def by_fund(session: Session, in_range: list[Any]) -> list[ReportRow]:
    share_rows = session.execute(
        select(
            Fund.code,
            Fund.name,
            func.count(func.distinct(Receipt.id)),
            func.sum(ContributionShare.amount),
        )
        .select_from(ContributionShare)
        .join(
            Allocation,
            and_(
                Allocation.organisation_id == ContributionShare.organisation_id,
                Allocation.id == ContributionShare.allocation_id,
            ),
        )
        .join(
            Receipt,
            and_(
                Receipt.organisation_id == Allocation.organisation_id,
                Receipt.id == Allocation.receipt_id,
            ),
        )
        .join(
            Fund,
            and_(
                Fund.organisation_id == ContributionShare.organisation_id,
                Fund.id == ContributionShare.fund_id,
            ),
        )
        .where(*in_range)
        .group_by(Fund.code, Fund.name)
        .order_by(Fund.code)
    ).all()
    allocated, with_allocations = session.execute(
        select(func.coalesce(func.sum(Allocation.amount), 0), func.count(func.distinct(Receipt.id)))
        .select_from(Allocation)
        .join(
            Receipt,
            and_(
                Receipt.organisation_id == Allocation.organisation_id,
                Receipt.id == Allocation.receipt_id,
            ),
        )
        .where(*in_range)
    ).one()
    rows = [ReportRow(code, name, int(n), int(a)) for code, name, n, a in share_rows]
    fee = int(allocated) - sum(r.amount for r in rows)
    if fee:
        rows.append(ReportRow("fee", "Intermediary's fee", int(with_allocations), fee))
    return rows


def by_scheme(session: Session, in_range: list[Any]) -> list[ReportRow]:
    rows = session.execute(
        select(
            Scheme.code,
            Scheme.name,
            func.count(func.distinct(Receipt.id)),
            func.sum(Allocation.amount),
        )
        .select_from(Allocation)
        .join(
            Receipt,
            and_(
                Receipt.organisation_id == Allocation.organisation_id,
                Receipt.id == Allocation.receipt_id,
            ),
        )
        .join(
            Due,
            and_(Due.organisation_id == Allocation.organisation_id, Due.id == Allocation.due_id),
        )
        .join(
            Scheme, and_(Scheme.organisation_id == Due.organisation_id, Scheme.id == Due.scheme_id)
        )
        .where(*in_range)
        .group_by(Scheme.code, Scheme.name)
        .order_by(Scheme.code)
    )
    return [ReportRow(code, name, int(n), int(a)) for code, name, n, a in rows]
