"""Posting receipts in sets: one receipt, or a sheet of thousands, in a handful of statements.

The same machinery serves `POST /receipts`, collection sheets and CSV imports:

1. `load_payers` (in `payers`, with the other reads) locks the payers (members, then units, each in id order, so concurrent
   writers never deadlock) and reads what a payment needs: the credit account and the
   members a unit's contributions count for.
2. `load_open_dues` reads every payer's unpaid dues, oldest first, with their rules.
3. `plan_receipt` allocates in memory (see `allocation`), refusing what cannot be posted.
4. `write_receipts` posts one journal entry per receipt through the ledger, bulk-inserts the
   allocations and contribution shares, raises the dues' `paid`, applies the stored
   balances, and only then takes the receipt numbers and inserts the receipts: the
   organisation's counter row stays locked from that moment to the commit, the shortest
   time possible, and numbers are never skipped (a failed transaction gives its numbers
   back with everything else).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, Table, Uuid, bindparam, text
from sqlalchemy.orm import Session

from app.collections import accounts, bulk
from app.collections.allocation import DueQueue, Payment, attribute, totals
from app.collections.models import Allocation, ContributionShare, Receipt
from app.collections.payers import (
    CHUNK,
    FundAccounts,
    PayerInfo,
    among,
    chunks,
    fund_codes,
    load_funds,
    load_open_dues,
    load_payers,
    organisation,
    units_paid_through,
)
from app.collections.vocabulary import Channel, PayerKind, ReceiptStatus
from app.core import clock, dialect, metrics
from app.core.audit import Actor
from app.core.database import utcnow
from app.core.ids import uuid7
from app.core.messages import N_, FieldError, Template
from app.ledger import service as ledger
from app.schemes.models import Due
from app.schemes.service import Payer

# the reads a receipt needs live in `payers`; they are part of this engine's interface
__all__ = [
    "CHUNK",
    "FundAccounts",
    "Payer",
    "PayerInfo",
    "PlannedReceipt",
    "PostedReceipt",
    "ReceiptDraft",
    "Rejection",
    "among",
    "chunks",
    "credit_lines",
    "debit_accounts",
    "fee_account",
    "fund_codes",
    "insert_payments",
    "load_funds",
    "load_open_dues",
    "load_payers",
    "organisation",
    "payment_rows",
    "plan_receipt",
    "refuse_stranded_credit",
    "take_numbers",
    "write_receipts",
]

# Core tables: bulk rows go in through them, without the ORM's per-row bookkeeping.
RECEIPT = cast(Table, Receipt.__table__)
ALLOCATION = cast(Table, Allocation.__table__)
SHARE = cast(Table, ContributionShare.__table__)
DUE = cast(Table, Due.__table__)


@dataclass(slots=True)
class ReceiptDraft:
    """A receipt that may be posted (amount in minor units): made by
    `app.collections.service.check_receipt`, the one place a receipt's values are checked."""

    member_id: uuid.UUID | None
    unit_id: uuid.UUID | None
    amount: int
    currency: str
    received_at: datetime
    channel: Channel
    collector_id: uuid.UUID | None
    reference: str | None = None
    client_id: str | None = None
    id: uuid.UUID = field(default_factory=uuid7)

    @property
    def payer(self) -> Payer:
        if self.member_id is not None:
            return (PayerKind.member, self.member_id)
        assert self.unit_id is not None
        return (PayerKind.unit, self.unit_id)


def debit_accounts(
    session: Session, actor: Actor, drafts: Iterable[ReceiptDraft], currency: str
) -> dict[str, uuid.UUID]:
    """The clearing accounts that receipts without a collector need, by channel."""
    channels = {d.channel for d in drafts if d.collector_id is None}
    return {
        ch: accounts.shared_account(session, actor, accounts.CLEARING_BY_CHANNEL[ch], currency)
        for ch in sorted(channels)
    }


# -- planning -----------------------------------------------------------------------------------


@dataclass(slots=True)
class PlannedReceipt:
    draft: ReceiptDraft
    payer: PayerInfo
    payments: list[Payment]
    credit: int
    debit_account_id: uuid.UUID
    journal_id: uuid.UUID = field(default_factory=uuid7)


@dataclass(frozen=True, slots=True)
class Rejection:
    errors: list[FieldError]


NO_CREW = Template(
    "receipt.unit_without_crew",
    N_(
        "this unit has no covered crew member and no owner to count its contributions for; "
        "add its crew first"
    ),
)
MISSING_FUND = Template(
    "receipt.fund_missing",
    N_("a scheme of this payer splits to fund %(fund)s, which does not exist"),
)
OWED_ON_UNIT = Template(
    "receipt.member_owes_on_unit",
    N_(
        "member %(number)s has no enrolment of their own: their contributions are owed on "
        "unit %(units)s, where they are covered crew; post the receipt to the unit (unit_id)"
    ),
)


def plan_receipt(
    draft: ReceiptDraft,
    payer: PayerInfo,
    queue: DueQueue,
    funds: dict[str, FundAccounts],
    debit_account_id: uuid.UUID,
) -> PlannedReceipt | Rejection:
    """Allocate a receipt to the payer's oldest open dues; the rest is prepaid credit."""
    if not payer.attributed_to:
        return Rejection([FieldError(payer.field, NO_CREW())])
    missing = {str(s["fund"]) for d in queue.dues for s in d.rules["split"]} - funds.keys()
    if missing:
        return Rejection([FieldError(payer.field, MISSING_FUND(fund=sorted(missing)[0]))])
    payments, credit = queue.take(draft.amount)
    return PlannedReceipt(draft, payer, payments, credit, debit_account_id)


def refuse_stranded_credit(
    session: Session, planned: Iterable[PlannedReceipt]
) -> dict[uuid.UUID, Rejection]:
    """Receipts that would leave a member credit nothing will ever take, by draft id.

    A crew member whose contributions are owed on their transport unit has no dues of their
    own: what a receipt in their name leaves over would sit as prepaid credit while the
    unit's dues stay in arrears. Such a receipt is refused, pointing to the unit. Only
    receipts that leave credit are looked at, so a receipt that pays dues costs nothing more.
    """
    leaving = [p for p in planned if p.credit > 0 and p.payer.kind == PayerKind.member]
    if not leaving:
        return {}
    on = clock.local_date(
        min(p.draft.received_at for p in leaving), clock.session_zone(session)
    )  # the organisation's day
    units = units_paid_through(session, {p.payer.id for p in leaving}, on)
    out: dict[uuid.UUID, Rejection] = {}
    for p in leaving:
        registrations = units.get(p.payer.id)
        if registrations:
            out[p.draft.id] = Rejection(
                [
                    FieldError(
                        "member_id", OWED_ON_UNIT(number=p.payer.label, units=list(registrations))
                    )
                ]
            )
    return out


# -- writing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostedReceipt:
    id: uuid.UUID
    receipt_number: int
    journal_id: uuid.UUID
    allocations: list[tuple[uuid.UUID, int]]  # (due id, minor units)
    credit: int
    created_at: datetime


def payment_rows(
    org: uuid.UUID,
    payments: list[Payment],
    attributed_to: list[uuid.UUID],
    *,
    receipt_id: uuid.UUID | None,
    journal_id: uuid.UUID,
    funds: dict[str, FundAccounts],
    now: datetime,
    alloc_rows: list[dict[str, Any]],
    share_rows: list[dict[str, Any]],
) -> None:
    """Allocation rows for the payments and their contribution shares, appended in place."""
    source = "credit" if receipt_id is None else "receipt"
    for pay in payments:
        allocation_id = uuid7()
        alloc_rows.append(
            {
                "organisation_id": org,
                "id": allocation_id,
                "due_id": pay.due.id,
                "receipt_id": receipt_id,
                "source": source,
                "amount": pay.amount,
                "journal_id": journal_id,
                "reverses_id": None,
                "allocated_at": now,
            }
        )
        for code, part in pay.parts:
            if part == 0:
                continue
            for member_id, share in attribute(part, attributed_to):
                share_rows.append(
                    {
                        "organisation_id": org,
                        "id": uuid7(),
                        "allocation_id": allocation_id,
                        "due_id": pay.due.id,
                        "fund_id": funds[code].fund_id,
                        "member_id": member_id,
                        "period_start": pay.due.period_start,
                        "period_end": pay.due.period_end,
                        "amount": share,
                        "reverses_id": None,
                        "created_at": now,
                    }
                )


def credit_lines(
    payments: list[Payment], funds: dict[str, FundAccounts], fee_account_id: uuid.UUID | None
) -> list[ledger.Line]:
    """Credit each fund's owed account with its part of the payments, and fee income."""
    t = totals(payments)
    lines = [
        ledger.Line.credit(funds[code].owed_account_id, part)
        for code, part in sorted(t.by_fund.items())
        if part != 0
    ]
    if t.fee:
        assert fee_account_id is not None
        lines.append(ledger.Line.credit(fee_account_id, t.fee))
    return lines


def insert_payments(
    session: Session,
    alloc_rows: list[dict[str, Any]],
    share_rows: list[dict[str, Any]],
    due_paid: dict[uuid.UUID, int],
) -> None:
    """Insert allocations and shares, and add to the dues' `paid` (negative to undo).

    On PostgreSQL all three are one statement over arrays, whatever the number of rows.
    """
    if dialect.is_postgres(session):
        changes = [(due_id, delta) for due_id, delta in due_paid.items() if delta]
        if not (alloc_rows or share_rows or changes):
            return
        dialect.run(
            session,
            _PAYMENTS_PG,
            {
                "org": organisation(session),
                **{f"a_{k}": [r[k] for r in alloc_rows] for k in _ALLOCATION_COLUMNS},
                **{f"s_{k}": [r[k] for r in share_rows] for k in _SHARE_COLUMNS},
                "d_id": [c[0] for c in changes],
                "d_delta": [c[1] for c in changes],
            },
        )
        return
    bulk.insert_rows(session, ALLOCATION, alloc_rows)
    bulk.insert_rows(session, SHARE, share_rows)
    bulk.add_to_paid(session, DUE, organisation(session), due_paid)


def _unnest(prefix: str, columns: dict[str, str], *, ordinality: bool = False) -> str:
    """`unnest(%(p_col)b::type[], ...) AS p(col, ...)`: one array parameter per column."""
    arrays = ", ".join(f"%({prefix}_{c})b::{t}[]" for c, t in columns.items())
    names = [*columns, "ord"] if ordinality else list(columns)
    with_ordinality = " WITH ORDINALITY" if ordinality else ""
    return f"unnest({arrays}){with_ordinality} AS {prefix}({', '.join(names)})"


_ALLOCATION_COLUMNS = {
    "id": "uuid",
    "due_id": "uuid",
    "receipt_id": "uuid",
    "source": "text",
    "amount": "bigint",
    "journal_id": "uuid",
    "reverses_id": "uuid",
    "allocated_at": "timestamptz",
}
_SHARE_COLUMNS = {
    "id": "uuid",
    "allocation_id": "uuid",
    "due_id": "uuid",
    "fund_id": "uuid",
    "member_id": "uuid",
    "period_start": "date",
    "period_end": "date",
    "amount": "bigint",
    "reverses_id": "uuid",
    "created_at": "timestamptz",
}
# Foreign keys between the three are checked at the end of the statement, when all are in.
_PAYMENTS_PG = (
    f"WITH a AS (INSERT INTO allocation (organisation_id, {', '.join(_ALLOCATION_COLUMNS)}) "
    f"SELECT %(org)s, a.* FROM {_unnest('a', _ALLOCATION_COLUMNS)}), "
    f"s AS (INSERT INTO contribution_share (organisation_id, {', '.join(_SHARE_COLUMNS)}) "
    f"SELECT %(org)s, s.* FROM {_unnest('s', _SHARE_COLUMNS)}) "
    "UPDATE due SET paid = due.paid + d.delta "
    "FROM unnest(%(d_id)b::uuid[], %(d_delta)b::bigint[]) AS d(id, delta) "
    "WHERE due.organisation_id = %(org)s AND due.id = d.id"
)


def fee_account(
    session: Session, actor: Actor, payments: Iterable[Payment], currency: str
) -> uuid.UUID | None:
    if any(p.fee for p in payments):
        return accounts.shared_account(session, actor, accounts.FEE_INCOME, currency)
    return None


def write_receipts(
    session: Session,
    actor: Actor,
    planned: list[PlannedReceipt],
    funds: dict[str, FundAccounts],
) -> list[PostedReceipt]:
    """Post the planned receipts: entries, allocations, shares, dues, numbers, receipts."""
    if not planned:
        return []
    org = organisation(session)
    now = utcnow()
    tz = clock.zone(clock.session_zone(session))  # the organisation's day dates the entries
    currency = planned[0].draft.currency
    fee_id = fee_account(session, actor, (p for r in planned for p in r.payments), currency)
    entries: list[ledger.EntryDraft] = []
    alloc_rows: list[dict[str, Any]] = []
    share_rows: list[dict[str, Any]] = []
    due_paid: dict[uuid.UUID, int] = defaultdict(int)
    for r in planned:
        d = r.draft
        lines = [ledger.Line.debit(r.debit_account_id, d.amount)]
        lines += credit_lines(r.payments, funds, fee_id)
        if r.credit:
            lines.append(ledger.Line.credit(r.payer.credit_account_id, r.credit))
        entries.append(
            ledger.EntryDraft(
                description=f"Receipt from {r.payer.kind} {r.payer.label} ({d.channel})",
                effective_on=clock.local_date(d.received_at, tz),
                lines=lines,
                kind="receipt",
                id=r.journal_id,
                owner=ledger.Owner("receipt", str(d.id)),
            )
        )
        payment_rows(
            org,
            r.payments,
            r.payer.attributed_to,
            receipt_id=d.id,
            journal_id=r.journal_id,
            funds=funds,
            now=now,
            alloc_rows=alloc_rows,
            share_rows=share_rows,
        )
        for pay in r.payments:
            due_paid[pay.due.id] += pay.amount
    ledger.post_many(session, actor, entries)
    insert_payments(session, alloc_rows, share_rows, due_paid)
    # Everything else first (pending ORM rows, then stored balances): from the counter update
    # on, this transaction holds the organisation's receipt numbers, until its commit.
    session.flush()
    ledger.flush_balances(session)
    if dialect.is_postgres(session):
        first = _number_and_insert_pg(session, actor, org, planned, now)
    else:
        first = take_numbers(session, len(planned))
        bulk.insert_rows(
            session,
            RECEIPT,
            [_receipt_row(org, r, first + i, now, actor) for i, r in enumerate(planned)],
        )
    by_channel: dict[str, int] = defaultdict(int)
    for r in planned:
        by_channel[r.draft.channel] += 1
    for channel, n in sorted(by_channel.items()):
        metrics.count_after_commit(session, "receipts_posted", n, channel=channel)
    return [
        PostedReceipt(
            r.draft.id,
            first + i,
            r.journal_id,
            [(p.due.id, p.amount) for p in r.payments],
            r.credit,
            now,
        )
        for i, r in enumerate(planned)
    ]


def _receipt_row(
    org: uuid.UUID, r: PlannedReceipt, number: int, now: datetime, actor: Actor
) -> dict[str, Any]:
    return {
        "organisation_id": org,
        "id": r.draft.id,
        "receipt_number": number,
        "member_id": r.draft.member_id,
        "unit_id": r.draft.unit_id,
        "amount": r.draft.amount,
        "currency": r.draft.currency,
        "received_at": r.draft.received_at,
        "channel": r.draft.channel,
        "collector_id": r.draft.collector_id,
        "reference": r.draft.reference,
        "client_id": r.draft.client_id,
        "credit": r.credit,
        "status": ReceiptStatus.posted.value,
        "journal_id": r.journal_id,
        "reversal_journal_id": None,
        "reversed_at": None,
        "reversal_reason": None,
        "reversed_by": None,
        "created_at": now,
        "created_by": actor.name,
    }


_RECEIPT_COLUMNS = {
    "id": "uuid",
    "member_id": "uuid",
    "unit_id": "uuid",
    "amount": "bigint",
    "currency": "text",
    "received_at": "timestamptz",
    "channel": "text",
    "collector_id": "uuid",
    "reference": "text",
    "client_id": "text",
    "credit": "bigint",
    "journal_id": "uuid",
}
# The counter and the receipts in one statement: the counter row is locked from here to the
# commit, and nothing but the commit (and the idempotency record) comes after it.
_NUMBER_AND_INSERT_PG = (
    "WITH n AS (INSERT INTO receipt_counter (organisation_id, last_number) "
    "VALUES (%(org)s, %(n)s) ON CONFLICT (organisation_id) DO UPDATE "
    "SET last_number = receipt_counter.last_number + excluded.last_number "
    "RETURNING last_number), "
    f"ins AS (INSERT INTO receipt (organisation_id, receipt_number, {', '.join(_RECEIPT_COLUMNS)}, "
    "status, created_at, created_by) "
    f"SELECT %(org)s, n.last_number - %(n)s + r.ord, "
    f"{', '.join('r.' + c for c in _RECEIPT_COLUMNS)}, 'posted', %(now)s, %(by)s "
    f"FROM n, {_unnest('r', _RECEIPT_COLUMNS, ordinality=True)}) "
    "SELECT last_number FROM n"
)


def _number_and_insert_pg(
    session: Session, actor: Actor, org: uuid.UUID, planned: list[PlannedReceipt], now: datetime
) -> int:
    """PostgreSQL: take `len(planned)` numbers and insert the receipts; the first number."""
    rows = [_receipt_row(org, r, 0, now, actor) for r in planned]
    params: dict[str, Any] = {f"r_{k}": [row[k] for row in rows] for k in _RECEIPT_COLUMNS}
    params.update(org=org, n=len(planned), now=now, by=actor.name)
    last = int(dialect.run(session, _NUMBER_AND_INSERT_PG, params).fetchone()[0])
    return last - len(planned) + 1


def take_numbers(session: Session, count: int) -> int:
    """Reserve `count` consecutive receipt numbers in one statement; return the first.

    The counter row is created by the organisation's first receipt (upsert), then locked by
    each writer until its transaction ends: a rolled-back transaction gives its numbers back,
    so the numbers that exist have no gaps. (On PostgreSQL `write_receipts` takes them in
    the statement that inserts the receipts.)
    """
    last = int(
        session.execute(_TAKE_NUMBERS, {"org": organisation(session), "n": count}).scalar_one()
    )
    return last - count + 1


# The same text on PostgreSQL and SQLite (3.35+); built once, so the hot path compiles nothing.
_TAKE_NUMBERS = text(
    "INSERT INTO receipt_counter (organisation_id, last_number) VALUES (:org, :n) "
    "ON CONFLICT (organisation_id) DO UPDATE "
    "SET last_number = receipt_counter.last_number + excluded.last_number "
    "RETURNING last_number"
).bindparams(bindparam("org", type_=Uuid()), bindparam("n", type_=BigInteger()))
