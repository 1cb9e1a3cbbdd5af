"""Receipts: posting one, reading them, reversing one (the service layer of app.collections).

Collection sheets and imports (`sheets`) post through the same machinery (`receipts`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from app.collections import credit as credit_book
from app.collections import lookups
from app.collections import receipts as engine
from app.collections.allocation import DueQueue
from app.collections.models import Allocation, Collector, Receipt
from app.collections.payers import lock_member_with_dues
from app.core import audit, dialect, metrics
from app.core.audit import Actor
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.money import MoneyError, check_currency, parse_minor
from app.core.schemas import EARLIEST_DATE
from app.ledger import ownership
from app.ledger import service as ledger
from app.schemes.models import Due

ReversalGuard = Callable[[Session, list[uuid.UUID]], None]

REVERSAL_GUARDS: list[ReversalGuard] = []
"""Called with the ids of the ContributionShare rows a receipt reversal would undo, before
anything is written, in the reversal's transaction. A guard refuses the reversal by raising a
DomainError (remittances raises Conflict, 409, when a share is already in a sealed or
submitted batch). Guards must not write."""


def _receipt_number(session: Session, ref: str) -> str | None:
    """A receipt entry's owner reference is the receipt's id (its number comes later in the
    same transaction); people know it by its number."""
    try:
        receipt_id = uuid.UUID(ref)
    except ValueError:
        return None
    number = session.scalar(select(Receipt.receipt_number).where(Receipt.id == receipt_id))
    return None if number is None else str(number)


ownership.register(
    "receipt",
    noun="receipt",
    undo="reverse the receipt (POST /api/v1/receipts/{id}/reverse), which undoes its dues too",
    label=_receipt_number,
)
ownership.register(
    "prepaid_credit",
    noun="the prepaid credit of",
    undo="it is given back when the receipt that paid the credit is reversed",
)

FUTURE_TOLERANCE = timedelta(days=1)  # a collector's phone clock may run ahead


def run_reversal_guards(session: Session, share_ids: list[uuid.UUID]) -> None:
    """Ask every registered guard whether these shares may be undone (each may raise)."""
    for guard in REVERSAL_GUARDS:
        guard(session, share_ids)


# -- validation at the edge ---------------------------------------------------------------------


def field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def amount_errors(
    text: str,
    currency: str,
    book_currency: str,
    *,
    field: str = "amount",
    allow_zero: bool = False,
) -> tuple[int, list[dict[str, str]]]:
    """Minor units of a positive (or, with `allow_zero`, non-negative) amount in the book
    currency, or the errors naming the fields."""
    try:
        check_currency(currency)
    except MoneyError as exc:
        return 0, [field_error("currency", str(exc))]
    if currency != book_currency:
        return 0, [field_error("currency", f"receipts are taken in {book_currency}")]
    try:
        minor = parse_minor(text, currency)
    except MoneyError as exc:
        return 0, [field_error(field, str(exc))]
    if minor < 0 or (minor == 0 and not allow_zero):
        return 0, [field_error(field, "must be greater than zero")]
    return minor, []


def instant_errors(value: datetime, field: str) -> list[dict[str, str]]:
    if value.tzinfo is None:
        return [field_error(field, "must carry a UTC offset")]
    if value.astimezone(UTC).date() < EARLIEST_DATE:
        return [field_error(field, f"must not be before {EARLIEST_DATE}")]
    if value > datetime.now(UTC) + FUTURE_TOLERANCE:
        return [field_error(field, "is in the future")]
    return []


def payer_errors(member_id: uuid.UUID | None, unit_id: uuid.UUID | None) -> list[dict[str, str]]:
    if (member_id is None) == (unit_id is None):
        return [field_error("member_id", "give member_id or unit_id: exactly one of them")]
    return []


def invalid(errors: list[dict[str, str]]) -> ValidationFailed:
    """The 422 for these field errors (its detail names the first)."""
    first = errors[0]
    return ValidationFailed(f"{first['field']}: {first['message']}", errors=errors)


def raise_errors(errors: list[dict[str, str]]) -> None:
    if errors:
        raise invalid(errors)


# -- posting ------------------------------------------------------------------------------------


def post_receipt(
    session: Session, actor: Actor, draft: engine.ReceiptDraft
) -> engine.PostedReceipt:
    """Post one receipt: its journal entry, its allocations to the oldest open dues, its
    contribution shares and its number, in the caller's transaction. 422 names the field of
    anything that cannot be posted; nothing is written then."""
    payer = draft.payer
    queue: DueQueue | None = None
    if payer[0] == "member" and dialect.is_postgres(session):
        # straight to the driver: lock the member, read its reachable dues
        info, queue = lock_member_with_dues(session, payer[1], draft.currency, draft.amount)
    else:
        info = engine.load_payers(session, [payer], lock=True).get(payer)
    if info is None:
        raise ValidationFailed.field(f"{payer[0]}_id", f"no such {payer[0]} in this organisation")
    if draft.collector_id is not None:
        cash_accounts = collector_cash_accounts(session, [draft.collector_id])
        if draft.collector_id not in cash_accounts:
            raise ValidationFailed.field("collector_id", "no such collector in this organisation")
        debit_account_id = cash_accounts[draft.collector_id]
    else:
        debit_account_id = engine.debit_accounts(session, actor, [draft], draft.currency)[
            draft.channel
        ]
    if queue is None:
        queue = engine.load_open_dues(session, [payer], draft.currency, {payer: draft.amount})[
            payer
        ]
    funds = engine.load_funds(session, engine.fund_codes([queue]))
    planned = engine.plan_receipt(draft, info, queue, funds, debit_account_id)
    if isinstance(planned, engine.Rejection):
        raise invalid(planned.errors)
    stranded = engine.refuse_stranded_credit(session, [planned])
    if stranded:
        raise invalid(stranded[draft.id].errors)
    # No audit event per receipt: the receipt row itself (immutable but for its reversal)
    # records who took it and when, under a gapless number, and its journal entry is
    # append-only. A chained audit event would add a second per-organisation lock (the
    # chain head) and three statements to every receipt. Reversals are audited.
    (posted,) = engine.write_receipts(session, actor, [planned], funds)
    return posted


def collector_cash_accounts(
    session: Session, collector_ids: list[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """The cash account of each of these collectors that exists (a collector's never changes)."""

    def read(ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        found: dict[uuid.UUID, uuid.UUID] = {}
        for criterion in engine.among(session, Collector.id, ids):
            rows = session.execute(select(Collector.id, Collector.cash_account_id).where(criterion))
            found.update({cid: account for cid, account in rows})
        return found

    return lookups.cached(
        session, lookups.COLLECTOR_CASH, engine.organisation(session), collector_ids, read
    )


def get_receipt(session: Session, receipt_id: uuid.UUID) -> Receipt:
    found = session.scalar(select(Receipt).where(Receipt.id == receipt_id))
    if found is None:
        raise NotFound(f"no receipt {receipt_id}")
    return found


def receipt_allocations(
    session: Session, receipt_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, int]]]:
    """What each receipt paid on each due when it was posted (its positive allocations)."""
    out: dict[uuid.UUID, list[tuple[uuid.UUID, int]]] = {r: [] for r in receipt_ids}
    for criterion in engine.among(session, Allocation.receipt_id, receipt_ids):
        rows = session.execute(
            select(Allocation.receipt_id, Allocation.due_id, Allocation.amount)
            .join(
                Due,
                and_(
                    Due.organisation_id == Allocation.organisation_id, Due.id == Allocation.due_id
                ),
            )
            .where(criterion, Allocation.source == "receipt", Allocation.amount > 0)
            # as allocated: oldest due first
            .order_by(Allocation.receipt_id, Due.due_on, Due.period_start, Due.id)
        )
        for rid, due_id, amount in rows:
            if rid is not None:
                out[rid].append((due_id, int(amount)))
    return out


# -- reversal -----------------------------------------------------------------------------------


def reverse_receipt(session: Session, actor: Actor, receipt_id: uuid.UUID, reason: str) -> Receipt:
    """Reverse a receipt, once: the mirror of its entry, its allocations and shares undone.

    The dues it paid are open again. Prepaid credit it gave that later dues already took is
    given back by those dues first, newest allocation first (their shares undone too), so
    the payer's credit never goes below zero; whatever credit the payer still has afterwards
    goes to its open dues, oldest first. Registered REVERSAL_GUARDS see every share that
    would be undone before anything is written. 409 if already reversed; a blank reason is
    422 naming `reason`.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationFailed.field("reason", "a reversal needs a reason")
    receipt = get_receipt(session, receipt_id)
    if receipt.status == "reversed":
        raise Conflict(f"receipt {receipt.receipt_number} was already reversed")
    payer: engine.Payer = (
        ("member", receipt.member_id) if receipt.member_id else ("unit", receipt.unit_id)  # type: ignore[assignment]
    )
    info = engine.load_payers(session, [payer], lock=True)[payer]
    # Re-read under the payer's lock: a concurrent reversal of it has committed or waits.
    session.refresh(receipt)
    if receipt.status == "reversed":
        raise Conflict(f"receipt {receipt.receipt_number} was already reversed")

    own = credit_book.live_allocations(
        session, Allocation.receipt_id == receipt.id, Allocation.source == "receipt"
    )
    give_back: list[credit_book.AllocationToUndo] = []
    if receipt.credit:
        available = credit_book.credit_balances(session, [info])[payer]
        shortfall = receipt.credit - available
        if shortfall > 0:
            for a in credit_book.credit_allocations_newest_first(session, payer):
                give_back.append(a)
                shortfall -= a.amount
                if shortfall <= 0:
                    break
        if shortfall > 0:
            raise Conflict(
                "the payer's prepaid credit was moved outside receipts (e.g. by a manual journal "
                "entry): this receipt's credit cannot be taken back; correct that entry first"
            )
    own_shares = credit_book.shares_of(session, [a.id for a in own])
    back_shares = credit_book.shares_of(session, [a.id for a in give_back])
    run_reversal_guards(session, [s.id for s in own_shares] + [s.id for s in back_shares])

    if give_back:
        credit_book.undo_credit_allocations(
            session, actor, info, give_back, back_shares, reason=f"receipt reversed: {reason}"
        )
    reversal_id = reverse_entry(session, actor, receipt, reason)
    credit_book.undo_rows(session, own, own_shares, reversal_id)
    receipt.status = "reversed"
    receipt.reversal_journal_id = reversal_id
    receipt.reversed_at = datetime.now(UTC)
    receipt.reversal_reason = reason
    receipt.reversed_by = actor.name
    session.flush()
    audit.record(
        session,
        actor,
        "receipt.reverse",
        "receipt",
        receipt.id,
        {
            "receipt_number": receipt.receipt_number,
            "reason": reason,
            "journal_id": str(reversal_id),
            "allocations_undone": len(own),
            "credit_given_back_by_dues": sum(a.amount for a in give_back),
        },
    )
    credit_book.apply_credit(session, actor, {payer})
    metrics.count_after_commit(session, "receipts_reversed")
    return receipt


def reverse_entry(session: Session, actor: Actor, receipt: Receipt, reason: str) -> uuid.UUID:
    try:
        return ledger.reverse(session, actor, receipt.journal_id, reason=reason)
    except Conflict:
        raise Conflict(
            f"the journal entry of receipt {receipt.receipt_number} was reversed directly in "
            "the journal; the receipt cannot be reversed again"
        ) from None
