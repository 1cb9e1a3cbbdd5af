"""Collection sheets and CSV imports: many receipts at once, each item judged on its own.

An item is `created`, a `duplicate` (its client id was seen before for that collector: the
answer names the original receipt), or `rejected` with field errors; a rejected item never
blocks or loses the others. The whole request is one transaction of a handful of
statements, whatever its size (see `receipts`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.collections import receipts as engine
from app.collections import rounds
from app.collections.messages import NO_SUCH_PAYER
from app.collections.models import Allocation, Collector, Receipt
from app.collections.schemas import ItemError, ItemResult, PayerRead, PeriodPaid, SheetItem
from app.collections.service import ReceiptInput, check_receipt
from app.core import audit
from app.core.audit import Actor
from app.core.errors import validation_errors
from app.core.messages import N_, FieldError, Template
from app.core.money import format_minor
from app.schemes.models import Due

_ITEM = TypeAdapter(SheetItem)

NOT_AN_OBJECT = Template("sheet.item_not_object", N_("each receipt must be a JSON object"))
REPEATS_REJECTED = Template(
    "sheet.repeats_rejected_item", N_("repeats an earlier item of this request, which was rejected")
)

NO_ACCOUNT = uuid.UUID(int=0)
"""Where a dry run's plans say the money would go: nowhere, since nothing is posted."""


@dataclass(slots=True)
class Candidate:
    """One item of a sheet or row of a file, on its way to becoming a receipt."""

    position: int  # index in the request (0-based)
    client_id: str | None
    collector_id: uuid.UUID | None
    draft: engine.ReceiptDraft | None = None
    errors: list[FieldError] = field(default_factory=list)
    status: str = "pending"
    receipt_id: uuid.UUID | None = None
    receipt_number: int | None = None
    duplicate_of: Candidate | None = None  # an earlier item of the same request

    def reject(self, errors: list[FieldError]) -> None:
        self.status, self.errors, self.draft = "rejected", errors, None


def validate_item(
    position: int, raw: object, collector_id: uuid.UUID | None, book_currency: str
) -> Candidate:
    """Check one item's shape and values; a Candidate with a draft, or with its errors."""
    if not isinstance(raw, dict):
        c = Candidate(position, None, collector_id)
        c.reject([FieldError("item", NOT_AN_OBJECT())])
        return c
    client_id = raw.get("client_id")
    c = Candidate(position, client_id if isinstance(client_id, str) else None, collector_id)
    try:
        item = _ITEM.validate_python(raw)
    except ValidationError as exc:
        c.reject(validation_errors(exc.errors()))
        return c
    raw_receipt = ReceiptInput(
        member_id=item.member_id,
        unit_id=item.unit_id,
        amount=item.amount,
        currency=item.currency,
        received_at=item.received_at,
        channel=item.channel,
        reference=item.reference,
        client_id=item.client_id,
    )
    checked = check_receipt(raw_receipt, book_currency=book_currency, collector_id=collector_id)
    if isinstance(checked, list):
        c.reject(checked)
    else:
        c.draft = checked
    return c


UNKNOWN_PAYER = Template(
    "sheet.unknown_payer", N_("no member or transport unit has the number or plate %(payer)s")
)
AMBIGUOUS_PAYER = Template(
    "sheet.ambiguous_payer",
    N_("%(payer)s is both a member number and a plate: choose the payer from the round"),
)
PAYER_OR_ID = Template(
    "sheet.payer_and_id", N_("give payer or member_id or unit_id, not two of them")
)


def validate_sheet(
    session: Session, raws: list[Any], collector_id: uuid.UUID | None, book_currency: str
) -> list[Candidate]:
    """`validate_item` for each item of a sheet, after resolving the items that name their
    payer by number or plate (`payer`) rather than by id."""
    typed = {
        raw["payer"]
        for raw in raws
        if isinstance(raw, dict) and isinstance(raw.get("payer"), str) and raw["payer"].strip()
    }
    found = rounds.resolve(session, typed) if typed else {}
    out = []
    for i, raw in enumerate(raws):
        text = raw.get("payer") if isinstance(raw, dict) else None
        if not isinstance(text, str):
            out.append(validate_item(i, raw, collector_id, book_currency))
            continue
        named_by_id = raw.get("member_id") is not None or raw.get("unit_id") is not None
        hits = found.get(text, [])
        item = {k: v for k, v in raw.items() if k != "payer"}
        if len(hits) == 1 and not named_by_id:
            kind, payer_id = hits[0]
            item[f"{kind}_id"] = str(payer_id)
            out.append(validate_item(i, item, collector_id, book_currency))
            continue
        c = validate_item(i, item, collector_id, book_currency)
        problem = (
            PAYER_OR_ID()
            if named_by_id
            else UNKNOWN_PAYER(payer=text.strip())
            if not hits
            else AMBIGUOUS_PAYER(payer=text.strip())
        )
        others = [e for e in c.errors if e.field not in {"member_id", "unit_id"}]
        c.reject([FieldError("payer", problem), *others])
        out.append(c)
    return out


def periods_paid(
    session: Session, receipt_ids: list[uuid.UUID], currency: str
) -> dict[uuid.UUID, list[PeriodPaid]]:
    """The periods each receipt's money paid (net of any undoing), oldest first."""
    out: dict[uuid.UUID, list[PeriodPaid]] = defaultdict(list)
    for criterion in engine.among(session, Allocation.receipt_id, receipt_ids):
        rows = session.execute(
            select(
                Allocation.receipt_id,
                Due.period_start,
                Due.period_end,
                func.sum(Allocation.amount),
            )
            .join(
                Due,
                (Due.organisation_id == Allocation.organisation_id) & (Due.id == Allocation.due_id),
            )
            .where(criterion)
            .group_by(Allocation.receipt_id, Due.id, Due.period_start, Due.period_end)
            .order_by(Allocation.receipt_id, Due.period_start)
        )
        for receipt_id, start, end, amount in rows:
            if amount and receipt_id is not None:
                out[receipt_id].append(
                    PeriodPaid(
                        period_start=start,
                        period_end=end,
                        amount=format_minor(int(amount), currency),
                    )
                )
    return out


@dataclass(frozen=True, slots=True)
class PostedFacts:
    """What the collector's phone shows of a posted item: the receipt's own amount (a
    duplicate answers with the original's, whatever the resent item said) and its payer."""

    amount: str
    payer: PayerRead | None


def posted_facts(
    session: Session, receipt_ids: list[uuid.UUID], currency: str
) -> dict[uuid.UUID, PostedFacts]:
    """Each receipt's amount and payer, by number or plate and name (for the slip)."""
    found: dict[uuid.UUID, tuple[uuid.UUID | None, uuid.UUID | None, int]] = {}
    for criterion in engine.among(session, Receipt.id, receipt_ids):
        rows = session.execute(
            select(Receipt.id, Receipt.member_id, Receipt.unit_id, Receipt.amount).where(criterion)
        )
        found.update({rid: (m, u, a) for rid, m, u, a in rows})
    members = [m for m, _, _ in found.values() if m is not None]
    units = [u for _, u, _ in found.values() if u is not None]
    lines = {ln.id: ln for ln in rounds.round_lines(session, members, units, date.min)}
    out: dict[uuid.UUID, PostedFacts] = {}
    for rid, (member_id, unit_id, amount) in found.items():
        line = lines.get(member_id or unit_id)  # type: ignore[arg-type]
        payer = (
            PayerRead(
                kind="member" if member_id else "unit",
                member_id=member_id,
                unit_id=unit_id,
                number=line.number,
                name=line.name,
            )
            if line is not None
            else None
        )
        out[rid] = PostedFacts(format_minor(amount, currency), payer)
    return out


def item_result(c: Candidate) -> ItemResult:
    """The answer for one item (or row): its status, its receipt, or why it was rejected."""
    return ItemResult(
        client_id=c.client_id,
        status=c.status,
        receipt_id=c.receipt_id,
        receipt_number=c.receipt_number,
        errors=[ItemError.of(e) for e in c.errors] if c.status == "rejected" else None,
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    candidates: list[Candidate]

    def count(self, status: str) -> int:
        return sum(1 for c in self.candidates if c.status == status)


def post_candidates(
    session: Session,
    actor: Actor,
    candidates: list[Candidate],
    *,
    dry_run: bool = False,
    action: str,
    details: dict[str, Any],
) -> Outcome:
    """Post every valid candidate once; mark the others duplicate or rejected, in place.

    Concurrent requests for the same collector (a sheet resent while the first is still
    running) are serialised on the collector's row, so the second sees the first's receipts
    and answers `duplicate`; desk items (no collector) serialise on the receipt counter.
    """
    live = [c for c in candidates if c.draft is not None]
    collector_ids = sorted({c.collector_id for c in live if c.collector_id is not None})
    collectors = lock_collectors(session, collector_ids, lock=not dry_run)
    if not dry_run and any(c.collector_id is None for c in live):
        engine.take_numbers(session, 0)  # lock the counter: desk client ids are checked next
    mark_duplicates(session, candidates)
    live = [c for c in live if c.status == "pending"]

    payers = engine.load_payers(session, {c.draft.payer for c in live if c.draft}, lock=not dry_run)
    for c in live:
        assert c.draft is not None
        if c.draft.payer not in payers:
            kind = c.draft.payer[0]
            c.reject([FieldError(f"{kind}_id", NO_SUCH_PAYER[kind]())])
    live = [c for c in live if c.status == "pending"]
    currency = live[0].draft.currency if live and live[0].draft else ""
    drafts = [c.draft for c in live if c.draft]
    # A dry run writes nothing: the desk's clearing accounts are opened on first use, and a
    # plan needs no real one to be checked.
    clearing = (
        {d.channel: NO_ACCOUNT for d in drafts}
        if dry_run
        else engine.debit_accounts(session, actor, drafts, currency)
    )
    needs: dict[engine.Payer, int] = defaultdict(int)
    for c in live:
        assert c.draft is not None
        needs[c.draft.payer] += c.draft.amount
    queues = engine.load_open_dues(session, needs, currency, needs)
    funds = engine.load_funds(session, engine.fund_codes(queues.values()))
    planned: list[tuple[Candidate, engine.PlannedReceipt]] = []
    for c in live:
        d = c.draft
        assert d is not None
        debit = (
            collectors[d.collector_id].cash_account_id if d.collector_id else clearing[d.channel]
        )
        plan = engine.plan_receipt(d, payers[d.payer], queues[d.payer], funds, debit)
        if isinstance(plan, engine.Rejection):
            c.reject(plan.errors)
        else:
            planned.append((c, plan))
    stranded = engine.refuse_stranded_credit(session, [p for _, p in planned])
    for c, plan in planned:
        if plan.draft.id in stranded:
            c.reject(stranded[plan.draft.id].errors)
    planned = [(c, p) for c, p in planned if p.draft.id not in stranded]
    if dry_run:
        for c, _ in planned:
            c.status = "valid"
        resolve_in_request_duplicates(candidates)
        return Outcome(candidates)
    outcome = Outcome(candidates)
    audit.record(
        session,
        actor,
        action,
        "receipt",
        None,
        {
            **details,
            "created": len(planned),
            "duplicates": outcome.count("duplicate"),
            "rejected": outcome.count("rejected"),
        },
    )
    posted = engine.write_receipts(session, actor, [p for _, p in planned], funds)
    for (c, _), r in zip(planned, posted, strict=True):
        c.status, c.receipt_id, c.receipt_number = "created", r.id, r.receipt_number
    resolve_in_request_duplicates(candidates)
    return outcome


def lock_collectors(
    session: Session, collector_ids: list[uuid.UUID], *, lock: bool
) -> dict[uuid.UUID, Collector]:
    out: dict[uuid.UUID, Collector] = {}
    for criterion in engine.among(session, Collector.id, collector_ids):
        stmt: Any = select(Collector).where(criterion).order_by(Collector.id)
        if lock:
            stmt = stmt.with_for_update(key_share=True)
        out.update({c.id: c for c in session.scalars(stmt)})
    return out


def mark_duplicates(session: Session, candidates: list[Candidate]) -> None:
    """Items whose (collector, client id) has a receipt already are duplicates of it; an item
    repeating the client id of an earlier item of this request answers as that item did."""
    live = [c for c in candidates if c.status == "pending"]
    by_collector: dict[uuid.UUID | None, set[str]] = {}
    for c in live:
        assert c.client_id is not None
        by_collector.setdefault(c.collector_id, set()).add(c.client_id)
    existing: dict[tuple[uuid.UUID | None, str], tuple[uuid.UUID, int]] = {}
    for collector_id, client_ids in by_collector.items():
        owner = (
            Receipt.collector_id.is_(None)
            if collector_id is None
            else Receipt.collector_id == collector_id
        )
        for criterion in engine.among(session, Receipt.client_id, client_ids):
            rows = session.execute(
                select(Receipt.client_id, Receipt.id, Receipt.receipt_number).where(
                    owner, criterion
                )
            )
            for client_id, rid, number in rows:
                if client_id is not None:
                    existing[(collector_id, client_id)] = (rid, number)
    first_in_request: dict[tuple[uuid.UUID | None, str], Candidate] = {}
    for c in candidates:
        if c.client_id is None:
            continue
        key = (c.collector_id, c.client_id)
        if c.status != "pending":
            first_in_request.setdefault(key, c)
        elif key in existing:
            c.status = "duplicate"
            c.receipt_id, c.receipt_number = existing[key]
        elif key in first_in_request:
            c.status = "duplicate"
            c.duplicate_of = first_in_request[key]
        else:
            first_in_request[key] = c


def resolve_in_request_duplicates(candidates: list[Candidate]) -> None:
    """A duplicate of an earlier item of the same request answers with that item's receipt."""
    for c in candidates:
        original = c.duplicate_of
        if original is None or c.status != "duplicate":
            continue
        if original.status in {"created", "valid"}:
            c.receipt_id, c.receipt_number = original.receipt_id, original.receipt_number
        else:
            c.reject([FieldError("client_id", REPEATS_REJECTED())])
