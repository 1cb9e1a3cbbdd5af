"""Receipts: posting one, reading them, reversing one (the service layer of app.collections).

Collection sheets and imports (`sheets`) post through the same machinery (`receipts`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session

from app.collections import access, lookups
from app.collections import credit as credit_book
from app.collections import receipts as engine
from app.collections.allocation import DueQueue
from app.collections.fields import instant_error, minor_amount
from app.collections.messages import NO_RECEIPT, NO_SUCH_COLLECTOR, NO_SUCH_PAYER
from app.collections.models import Allocation, Collector, Receipt
from app.collections.payers import lock_member_with_dues
from app.collections.vocabulary import Channel, PayerKind, ReceiptStatus
from app.core import audit, dialect, metrics
from app.core.audit import Actor
from app.core.deps import Principal
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.messages import AT_MOST_CHARS, N_, FieldError, Template
from app.ledger import ownership
from app.ledger import service as ledger
from app.schemes.models import Due

ReversalGuard = Callable[[Session, list[uuid.UUID]], None]

REVERSAL_GUARDS: list[ReversalGuard] = []
"""Called with the ids of the ContributionShare rows a receipt reversal would undo, before
anything is written, in the reversal's transaction. A guard refuses the reversal by raising a
DomainError (remittances raises Conflict, 409, when a share is already in a sealed or
submitted batch). Guards must not write."""

ReversedHook = Callable[[Session, Actor, Receipt], None]

RECEIPT_REVERSED_HOOKS: list[ReversedHook] = []
"""Called with each receipt just reversed, in the reversal's transaction, after its entry,
allocations and shares are undone: a service whose rows hang on the receipt follows it
(payments puts the payment it came from back in suspense)."""


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


def run_reversal_guards(session: Session, share_ids: list[uuid.UUID]) -> None:
    """Ask every registered guard whether these shares may be undone (each may raise)."""
    for guard in REVERSAL_GUARDS:
        guard(session, share_ids)


# -- the checks of a receipt --------------------------------------------------------------------


ONE_PAYER = Template("receipt.one_payer", N_("give member_id or unit_id: exactly one of them"))
NOT_A_CHANNEL = Template("receipt.unknown_channel", N_("must be one of %(expected)s"))
REFERENCE_CHARS = 120
ALREADY_REVERSED = Template(
    "receipt.already_reversed", N_("receipt %(number)s was already reversed")
)
CREDIT_MOVED = Template(
    "receipt.credit_moved",
    N_(
        "the payer's prepaid credit was moved outside receipts (e.g. by a manual journal "
        "entry): this receipt's credit cannot be taken back; correct that entry first"
    ),
)
ENTRY_REVERSED = Template(
    "receipt.entry_reversed_in_journal",
    N_(
        "the journal entry of receipt %(number)s was reversed directly in the journal; the "
        "receipt cannot be reversed again"
    ),
)


@dataclass(frozen=True, slots=True)
class ReceiptInput:
    """A receipt as a caller has it, nothing checked yet: the amount as decimal text in
    `currency`, the payer (a member or a unit: exactly one), the channel's word. Every way a
    receipt comes in (the API, the pages, collection sheets, CSV imports, and whatever comes
    next) turns it into a `ReceiptDraft` through `check_receipt`, and only there."""

    member_id: uuid.UUID | None
    unit_id: uuid.UUID | None
    amount: str
    currency: str
    received_at: datetime
    channel: str
    reference: str | None = None
    client_id: str | None = None


def check_receipt(
    raw: ReceiptInput, *, book_currency: str, collector_id: uuid.UUID | None
) -> engine.ReceiptDraft | list[FieldError]:
    """The draft of a receipt that may be posted, or what is wrong with it (one error per
    field at fault): one payer, a positive amount in the book currency, a known channel, a
    time with its offset that is neither before the service's first day nor in the future."""
    errors: list[FieldError] = []
    if (raw.member_id is None) == (raw.unit_id is None):
        errors.append(FieldError("member_id", ONE_PAYER()))
    minor = minor_amount(raw.amount, raw.currency, book_currency)
    if isinstance(minor, FieldError):
        errors.append(minor)
    late = instant_error(raw.received_at, "received_at")
    if late is not None:
        errors.append(late)
    if raw.channel not in Channel.values():
        expected = " or ".join(
            [", ".join(repr(v) for v in Channel.values()[:-1]), repr(Channel.values()[-1])]
        )
        errors.append(FieldError("channel", NOT_A_CHANNEL(expected=expected)))
    if raw.reference is not None and len(raw.reference) > REFERENCE_CHARS:
        errors.append(FieldError("reference", AT_MOST_CHARS(count=REFERENCE_CHARS)))
    if errors or isinstance(minor, FieldError):
        return errors
    return engine.ReceiptDraft(
        member_id=raw.member_id,
        unit_id=raw.unit_id,
        amount=minor,
        currency=raw.currency,
        received_at=raw.received_at,
        channel=Channel(raw.channel),
        collector_id=collector_id,
        reference=raw.reference,
        client_id=raw.client_id,
    )


def receipt_draft(
    raw: ReceiptInput, *, book_currency: str, collector_id: uuid.UUID | None
) -> engine.ReceiptDraft:
    """`check_receipt`'s draft, or its errors as a 422."""
    checked = check_receipt(raw, book_currency=book_currency, collector_id=collector_id)
    if isinstance(checked, list):
        raise ValidationFailed.fields(checked)
    return checked


# -- posting ------------------------------------------------------------------------------------


def post_receipt(
    session: Session,
    actor: Actor,
    draft: engine.ReceiptDraft,
    *,
    debit_account_id: uuid.UUID | None = None,
) -> engine.PostedReceipt:
    """Post one receipt: its journal entry, its allocations to the oldest open dues, its
    contribution shares and its number, in the caller's transaction. 422 names the field of
    anything that cannot be posted; nothing is written then.

    The money is debited to the collector's cash, or the channel's clearing account; or to
    `debit_account_id` when a service already holds it (a payment matched out of suspense
    debits the suspense account that held it)."""
    payer = draft.payer
    queue: DueQueue | None = None
    if payer[0] == "member" and dialect.is_postgres(session):
        # straight to the driver: lock the member, read its reachable dues
        info, queue = lock_member_with_dues(session, payer[1], draft.currency, draft.amount)
    else:
        info = engine.load_payers(session, [payer], lock=True).get(payer)
    if info is None:
        raise ValidationFailed.field(f"{payer[0]}_id", NO_SUCH_PAYER[payer[0]]())
    if debit_account_id is None and draft.collector_id is not None:
        cash_accounts = collector_cash_accounts(session, [draft.collector_id])
        if draft.collector_id not in cash_accounts:
            raise ValidationFailed.field("collector_id", NO_SUCH_COLLECTOR())
        debit_account_id = cash_accounts[draft.collector_id]
    elif debit_account_id is None:
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
        raise ValidationFailed.fields(planned.errors)
    stranded = engine.refuse_stranded_credit(session, [planned])
    if stranded:
        raise ValidationFailed.fields(stranded[draft.id].errors)
    # No audit event per receipt: the receipt row itself (immutable but for its reversal)
    # records who took it and when, under a gapless number, and its journal entry is
    # append-only. A chained audit event would add a second per-organisation lock (the
    # chain head) and three statements to every receipt. Reversals are audited.
    (posted,) = engine.write_receipts(session, actor, [planned], funds)
    return posted


def record_receipt(
    session: Session, who: Principal, raw: ReceiptInput, *, collector_id: uuid.UUID | None
) -> tuple[engine.ReceiptDraft, engine.PostedReceipt]:
    """Take one receipt from the caller: the API's `POST /receipts` and the pages' form.

    The collector it is for: a collector's own always (403 naming another, see `access`); a
    treasurer names one or none. Checked (`check_receipt`: 422 naming each field) and posted
    (`post_receipt`) in the caller's transaction."""
    collector = access.acting_collector(session, who, collector_id)
    draft = receipt_draft(raw, book_currency=who.currency, collector_id=collector)
    return draft, post_receipt(session, who.actor, draft)


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


def get_receipt(session: Session, receipt_id: uuid.UUID, who: Principal | None = None) -> Receipt:
    """The receipt (404 if there is none); given the caller, only one it may see (404 too)."""
    found = session.scalar(select(Receipt).where(Receipt.id == receipt_id))
    if found is None:
        raise NotFound(NO_RECEIPT(id=receipt_id))
    return found if who is None else access.visible_receipt(session, who, found)


def receipts_seen(
    session: Session, who: Principal, *, collector_id: uuid.UUID | None = None
) -> Select[Receipt]:
    """The receipts the caller may see, newest number first: a collector's own only (403 if
    it names another collector); any other caller's, or the named collector's."""
    collector = access.acting_collector(session, who, collector_id)
    stmt = select(Receipt).order_by(Receipt.receipt_number.desc())
    if collector is not None:
        stmt = stmt.where(Receipt.collector_id == collector)
    return stmt


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
        raise ValidationFailed.field("reason", ownership.REASON_NEEDED())
    receipt = get_receipt(session, receipt_id)
    if receipt.status == ReceiptStatus.reversed:
        raise Conflict(ALREADY_REVERSED(number=receipt.receipt_number))
    payer: engine.Payer = (
        (PayerKind.member, receipt.member_id)  # type: ignore[assignment]
        if receipt.member_id
        else (PayerKind.unit, receipt.unit_id)
    )
    info = engine.load_payers(session, [payer], lock=True)[payer]
    # Re-read under the payer's lock: a concurrent reversal of it has committed or waits.
    session.refresh(receipt)
    if receipt.status == ReceiptStatus.reversed:
        raise Conflict(ALREADY_REVERSED(number=receipt.receipt_number))

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
            raise Conflict(CREDIT_MOVED())
    own_shares = credit_book.shares_of(session, [a.id for a in own])
    back_shares = credit_book.shares_of(session, [a.id for a in give_back])
    run_reversal_guards(session, [s.id for s in own_shares] + [s.id for s in back_shares])

    if give_back:
        credit_book.undo_credit_allocations(
            session, actor, info, give_back, back_shares, reason=f"receipt reversed: {reason}"
        )
    reversal_id = reverse_entry(session, actor, receipt, reason)
    credit_book.undo_rows(session, own, own_shares, reversal_id)
    receipt.status = ReceiptStatus.reversed
    receipt.reversal_journal_id = reversal_id
    receipt.reversed_at = datetime.now(UTC)
    receipt.reversal_reason = reason
    receipt.reversed_by = actor.name
    session.flush()
    for hook in RECEIPT_REVERSED_HOOKS:
        hook(session, actor, receipt)
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
        raise Conflict(ENTRY_REVERSED(number=receipt.receipt_number)) from None
