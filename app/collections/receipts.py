"""Posting receipts in sets: one receipt, or a sheet of thousands, in a handful of statements.

The same machinery serves `POST /receipts`, collection sheets and CSV imports:

1. `load_payers` locks the payers (members, then units, each in id order, so concurrent
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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Table,
    Uuid,
    any_,
    bindparam,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.collections import accounts, bulk, lookups
from app.collections.allocation import DueQueue, OpenDue, Payment, attribute, totals
from app.collections.models import Allocation, ContributionShare, Receipt, ReceiptCounter
from app.core.audit import Actor
from app.core.database import bound_organisation, utcnow
from app.core.ids import uuid7
from app.funds.models import Fund
from app.ledger import service as ledger
from app.members.models import Member, TransportUnit, UnitCrew
from app.schemes.models import Due, SchemeVersion
from app.schemes.service import Payer

CHUNK = 1000  # ids per IN list: far below every driver's parameter limit

T = TypeVar("T")

# Core tables: bulk rows go in through them, without the ORM's per-row bookkeeping.
RECEIPT = cast(Table, Receipt.__table__)
ALLOCATION = cast(Table, Allocation.__table__)
SHARE = cast(Table, ContributionShare.__table__)
DUE = cast(Table, Due.__table__)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def among(session: Session, column: Any, values: Iterable[Any]) -> Iterator[Any]:
    """Criteria selecting rows whose `column` is one of `values`: one per statement to run.

    PostgreSQL takes the whole set as one array parameter (`= ANY(:values)`), so a sheet of
    2,000 receipts reads its payers in one statement; SQLite gets IN lists of CHUNK values.
    """
    ordered = sorted(set(values))
    if not ordered:
        return
    if session.get_bind().dialect.name == "postgresql":
        yield column == any_(bindparam(None, ordered, type_=ARRAY(column.type)))
        return
    for chunk in chunks(ordered):
        yield column.in_(chunk)


def organisation(session: Session) -> uuid.UUID:
    org = bound_organisation(session)
    if org is None:
        raise RuntimeError("collections needs a session bound to an organisation")
    return org


# -- what a receipt needs to know ---------------------------------------------------------------


@dataclass(slots=True)
class ReceiptDraft:
    """A receipt to post, already validated at the edge (amount in minor units)."""

    member_id: uuid.UUID | None
    unit_id: uuid.UUID | None
    amount: int
    currency: str
    received_at: datetime
    channel: str
    collector_id: uuid.UUID | None
    reference: str | None = None
    client_id: str | None = None
    id: uuid.UUID = field(default_factory=uuid7)

    @property
    def payer(self) -> Payer:
        if self.member_id is not None:
            return ("member", self.member_id)
        assert self.unit_id is not None
        return ("unit", self.unit_id)


@dataclass(slots=True)
class PayerInfo:
    kind: str  # "member" or "unit"
    id: uuid.UUID
    label: str  # member number or registration
    credit_account_id: uuid.UUID
    attributed_to: list[uuid.UUID]  # the members a payment counts for

    @property
    def field(self) -> str:
        return f"{self.kind}_id"


def load_payers(session: Session, payers: Iterable[Payer], *, lock: bool) -> dict[Payer, PayerInfo]:
    """The payers that exist, locked (`FOR NO KEY UPDATE`) when `lock`: members, then units.

    A unit's payments count for its covered crew; with no covered crew, for its owner; with
    neither, `attributed_to` is empty and nothing can be allocated for it.
    """
    member_ids = sorted({i for kind, i in payers if kind == "member"})
    unit_ids = sorted({i for kind, i in payers if kind == "unit"})
    out: dict[Payer, PayerInfo] = {}
    for criterion in among(session, Member.id, member_ids):
        stmt: Any = (
            select(Member.id, Member.member_number, Member.credit_account_id)
            .where(criterion)
            .order_by(Member.id)
        )
        if lock:
            stmt = stmt.with_for_update(key_share=True)
        for mid, number, account_id in session.execute(stmt):
            out[("member", mid)] = PayerInfo("member", mid, number, account_id, [mid])
    owners: dict[uuid.UUID, uuid.UUID | None] = {}
    for criterion in among(session, TransportUnit.id, unit_ids):
        stmt = (
            select(
                TransportUnit.id,
                TransportUnit.registration,
                TransportUnit.credit_account_id,
                TransportUnit.owner_member_id,
            )
            .where(criterion)
            .order_by(TransportUnit.id)
        )
        if lock:
            stmt = stmt.with_for_update(key_share=True)
        for uid, registration, account_id, owner in session.execute(stmt):
            out[("unit", uid)] = PayerInfo("unit", uid, registration, account_id, [])
            owners[uid] = owner
    if owners:
        crews: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for criterion in among(session, UnitCrew.unit_id, owners):
            rows = session.execute(
                select(UnitCrew.unit_id, UnitCrew.member_id).where(
                    criterion, UnitCrew.covered.is_(True)
                )
            )
            for uid, mid in rows:
                crews[uid].append(mid)
        for uid, owner in owners.items():
            covered = sorted(crews.get(uid, []))
            out[("unit", uid)].attributed_to = covered or ([owner] if owner else [])
    return out


def load_open_dues(
    session: Session,
    payers: Iterable[Payer],
    currency: str,
    needs: Mapping[Payer, int] | None = None,
) -> dict[Payer, DueQueue]:
    """The payers' unpaid dues in `currency`, oldest first, with their scheme rules.

    With `needs` (minor units each payer is about to pay) PostgreSQL returns only the dues
    that money can reach: those whose older open dues owe less than it in all. A payer with
    a year of open daily dues paying one day reads one due, not three hundred.
    """
    payer_list = list(payers)
    queues: dict[Payer, DueQueue] = {p: DueQueue() for p in payer_list}
    cols = (
        Due.id,
        Due.member_id,
        Due.unit_id,
        Due.due_on,
        Due.period_start,
        Due.period_end,
        Due.amount,
        Due.paid,
        Due.scheme_version_id,
    )
    rows: list[Any] = []
    for kind, column in (("member", Due.member_id), ("unit", Due.unit_id)):
        ids = [i for k, i in payer_list if k == kind]
        if needs is not None and ids and bulk.is_postgres(session):
            rows.extend(
                reachable_dues(session, column, ids, [needs[(kind, i)] for i in ids], currency)
            )
            continue
        for criterion in among(session, column, ids):
            rows.extend(
                session.execute(
                    select(*cols).where(criterion, Due.paid < Due.amount, Due.currency == currency)
                )
            )
    org = organisation(session)

    def read_rules(version_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
        found: dict[uuid.UUID, dict[str, Any]] = {}
        for criterion in among(session, SchemeVersion.id, version_ids):
            rows = session.execute(select(SchemeVersion.id, SchemeVersion.rules).where(criterion))
            found.update({vid: r for vid, r in rows})
        return found

    rules = lookups.cached(
        session, lookups.RULES, org, sorted({r.scheme_version_id for r in rows}), read_rules
    )
    for r in rows:
        payer: Payer = ("member", r.member_id) if r.member_id is not None else ("unit", r.unit_id)
        queues[payer].dues.append(
            OpenDue(
                r.id,
                r.due_on,
                r.period_start,
                r.period_end,
                int(r.amount) - int(r.paid),
                rules[r.scheme_version_id],
            )
        )
    for queue in queues.values():
        queue.sort()
    return queues


_REACHABLE = """
SELECT id, member_id, unit_id, due_on, period_start, period_end, amount, paid, scheme_version_id
FROM (
    SELECT due.id, due.member_id, due.unit_id, due.due_on, due.period_start, due.period_end,
           due.amount, due.paid, due.scheme_version_id, wanted.need,
           coalesce(sum(due.amount - due.paid) OVER (
               PARTITION BY due.{payer} ORDER BY due.due_on, due.period_start, due.id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS older
    FROM unnest(:ids, :needs) AS wanted(payer, need)
    JOIN due ON due.organisation_id = :org AND due.{payer} = wanted.payer
    WHERE due.paid < due.amount AND due.currency = :currency
) AS open_due
WHERE older < need
"""


def reachable_dues(
    session: Session, column: Any, ids: list[uuid.UUID], needs: list[int], currency: str
) -> Any:
    """PostgreSQL: the open dues of these payers that `needs` can reach, oldest first."""
    stmt = text(_REACHABLE.format(payer=column.key)).bindparams(
        bindparam("ids", type_=ARRAY(Uuid())),
        bindparam("needs", type_=ARRAY(BigInteger())),
        bindparam("org", type_=Uuid()),
    )
    return session.execute(
        stmt,
        {"ids": ids, "needs": needs, "org": organisation(session), "currency": currency},
    )


@dataclass(frozen=True, slots=True)
class FundAccounts:
    fund_id: uuid.UUID
    owed_account_id: uuid.UUID


def load_funds(session: Session, codes: Iterable[str]) -> dict[str, FundAccounts]:
    """The organisation's funds with these codes (those that exist), by code."""

    def read(wanted: list[str]) -> dict[str, FundAccounts]:
        found: dict[str, FundAccounts] = {}
        for criterion in among(session, Fund.code, wanted):
            rows = session.execute(
                select(Fund.code, Fund.id, Fund.owed_account_id).where(criterion)
            )
            found.update({code: FundAccounts(fid, owed) for code, fid, owed in rows})
        return found

    return lookups.cached(session, lookups.FUNDS, organisation(session), sorted(set(codes)), read)


def fund_codes(queues: Iterable[DueQueue]) -> set[str]:
    """Every fund the payers' open dues split to."""
    return {str(s["fund"]) for q in queues for d in q.dues for s in d.rules["split"]}


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
    errors: list[dict[str, str]]


def plan_receipt(
    draft: ReceiptDraft,
    payer: PayerInfo,
    queue: DueQueue,
    funds: dict[str, FundAccounts],
    debit_account_id: uuid.UUID,
) -> PlannedReceipt | Rejection:
    """Allocate a receipt to the payer's oldest open dues; the rest is prepaid credit."""
    if not payer.attributed_to:
        return Rejection(
            [
                {
                    "field": payer.field,
                    "message": "this unit has no covered crew member and no owner to count "
                    "its contributions for; add its crew first",
                }
            ]
        )
    missing = {str(s["fund"]) for d in queue.dues for s in d.rules["split"]} - funds.keys()
    if missing:
        return Rejection(
            [
                {
                    "field": payer.field,
                    "message": f"a scheme of this payer splits to fund {sorted(missing)[0]}, "
                    "which does not exist",
                }
            ]
        )
    payments, credit = queue.take(draft.amount)
    return PlannedReceipt(draft, payer, payments, credit, debit_account_id)


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
    """Insert allocations and shares, and add to the dues' `paid` (negative to undo)."""
    bulk.insert_rows(session, ALLOCATION, alloc_rows)
    bulk.insert_rows(session, SHARE, share_rows)
    bulk.add_to_paid(session, DUE, organisation(session), due_paid)


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
                effective_on=d.received_at.astimezone(UTC).date(),
                lines=lines,
                kind="receipt",
                id=r.journal_id,
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
    # Everything else first (pending ORM rows such as audit events, then stored balances):
    # from the counter update on, this transaction holds the organisation's receipt numbers.
    session.flush()
    ledger.flush_balances(session)
    first = take_numbers(session, len(planned))
    receipt_rows = [
        {
            "organisation_id": org,
            "id": r.draft.id,
            "receipt_number": first + i,
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
            "status": "posted",
            "journal_id": r.journal_id,
            "reversal_journal_id": None,
            "reversed_at": None,
            "reversal_reason": None,
            "reversed_by": None,
            "created_at": now,
            "created_by": actor.name,
        }
        for i, r in enumerate(planned)
    ]
    bulk.insert_rows(session, RECEIPT, receipt_rows)
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


def take_numbers(session: Session, count: int) -> int:
    """Reserve `count` consecutive receipt numbers in one statement; return the first.

    The counter row is created by the organisation's first receipt (upsert), then locked by
    each writer until its transaction ends: a rolled-back transaction gives its numbers back,
    so the numbers that exist have no gaps.
    """
    org = organisation(session)
    upsert: Any = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = upsert(ReceiptCounter).values(organisation_id=org, last_number=count)
    stmt = stmt.on_conflict_do_update(
        index_elements=["organisation_id"],
        set_={"last_number": ReceiptCounter.last_number + stmt.excluded.last_number},
    ).returning(ReceiptCounter.last_number)
    last = int(session.execute(stmt).scalar_one())
    return last - count + 1
