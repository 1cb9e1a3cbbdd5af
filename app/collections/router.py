"""HTTP endpoints of collections (mounted under /api/v1 by app.main): receipts, collection
sheets and CSV imports here; collectors, hand-overs and reports in the routers included below.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import Response

from app.collections import access, imports, reports, service, sheets
from app.collections import receipts as engine
from app.collections.cash_router import router as cash_router
from app.collections.models import Receipt
from app.collections.reports_router import router as reports_router
from app.collections.rounds_router import router as rounds_router
from app.collections.schemas import (
    AllocationRead,
    ImportResult,
    ReceiptCreate,
    ReceiptRead,
    ReversalRead,
    ReverseReceipt,
    SheetCreate,
    SheetResult,
)
from app.collections.vocabulary import ReceiptStatus
from app.core import pagination
from app.core.audit import Actor
from app.core.deps import Caller, DbSession, Principal
from app.core.documents import ReadFirst, read_first
from app.core.errors import ValidationFailed
from app.core.idempotency import IdempotencyKey, fingerprint, run_idempotent
from app.core.money import format_minor
from app.core.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from app.core.roles import Role
from app.core.schemas import BusinessDate, Page

router = APIRouter(tags=["collections"])
router.include_router(rounds_router)  # before cash_router: /collectors/me is not an id
router.include_router(cash_router)
router.include_router(reports_router)

Taker = Annotated[Principal, Depends(Caller(Role.treasurer, Role.collector))]
Viewer = Annotated[
    Principal, Depends(Caller(Role.admin, Role.treasurer, Role.auditor, Role.collector))
]
Treasurer = Annotated[Principal, Depends(Caller(Role.treasurer))]

PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "role not allowed"},
    409: {"description": "Idempotency-Key reused with another payload, or a state conflict"},
    422: {"description": "invalid request; `errors` names each field"},
}


# -- receipts -----------------------------------------------------------------------------------


def receipt_read(r: Receipt, allocations: list[tuple[uuid.UUID, int]]) -> ReceiptRead:
    reversal = None
    if r.status == ReceiptStatus.reversed and r.reversal_journal_id and r.reversed_at:
        reversal = ReversalRead(
            journal_id=r.reversal_journal_id,
            reason=r.reversal_reason or "",
            reversed_at=r.reversed_at,
            reversed_by=r.reversed_by or "",
        )
    return ReceiptRead(
        id=r.id,
        receipt_number=r.receipt_number,
        member_id=r.member_id,
        unit_id=r.unit_id,
        amount=format_minor(r.amount, r.currency),
        currency=r.currency,
        received_at=r.received_at,
        channel=r.channel,
        collector_id=r.collector_id,
        reference=r.reference,
        client_id=r.client_id,
        status=r.status,
        journal_id=r.journal_id,
        allocations=[
            AllocationRead(due_id=d, amount=format_minor(a, r.currency)) for d, a in allocations
        ],
        credit=format_minor(r.credit, r.currency),
        created_at=r.created_at,
        created_by=r.created_by,
        reversal=reversal,
    )


def receipt_reads(session: DbSession, rows: list[Receipt]) -> list[ReceiptRead]:
    allocations = service.receipt_allocations(session, [r.id for r in rows])
    return [receipt_read(r, allocations[r.id]) for r in rows]


def posted_read(
    draft: engine.ReceiptDraft, posted: engine.PostedReceipt, actor: Actor
) -> ReceiptRead:
    return ReceiptRead(
        id=posted.id,
        receipt_number=posted.receipt_number,
        member_id=draft.member_id,
        unit_id=draft.unit_id,
        amount=format_minor(draft.amount, draft.currency),
        currency=draft.currency,
        received_at=draft.received_at,
        channel=draft.channel,
        collector_id=draft.collector_id,
        reference=draft.reference,
        client_id=draft.client_id,
        status=ReceiptStatus.posted,
        journal_id=posted.journal_id,
        allocations=[
            AllocationRead(due_id=d, amount=format_minor(a, draft.currency))
            for d, a in posted.allocations
        ],
        credit=format_minor(posted.credit, draft.currency),
        created_at=posted.created_at,
        created_by=actor.name,
        reversal=None,
    )


@router.post("/receipts", status_code=201, response_model=ReceiptRead, responses=PROBLEMS)
def create_receipt(
    body: ReceiptCreate,
    session: DbSession,
    who: Taker,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record money received from a member or a unit, in one transaction: its journal entry
    (debit the collector's cash, or the desk, bank or mobile-money clearing account; credit
    each fund's owed account, fee income, and the payer's prepaid credit for what no due
    takes), its allocations to the payer's oldest open dues and its gapless number."""

    def operation() -> tuple[int, ReceiptRead]:
        raw = service.ReceiptInput(
            member_id=body.member_id,
            unit_id=body.unit_id,
            amount=body.amount,
            currency=body.currency,
            received_at=body.received_at,
            channel=body.channel,
            reference=body.reference,
        )
        draft, posted = service.record_receipt(session, who, raw, collector_id=body.collector_id)
        return 201, posted_read(draft, posted, who.actor)

    response = run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint("POST", "/receipts", body.model_dump(mode="json")),
        operation,
        savepoint=False,  # nothing is written before; a refused receipt rolls back whole
    )
    session.commit()  # here, in this worker thread, before the answer leaves (saves a hop)
    return response


@router.get("/receipts", response_model=Page[ReceiptRead])
def list_receipts(
    session: DbSession,
    who: Viewer,
    member_id: uuid.UUID | None = None,
    unit_id: uuid.UUID | None = None,
    collector_id: uuid.UUID | None = None,
    from_: Annotated[
        BusinessDate | None,
        Query(alias="from", description="received on or after (the organisation's day)"),
    ] = None,
    to: Annotated[
        BusinessDate | None, Query(description="received on or before (the organisation's day)")
    ] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[ReceiptRead]:
    """Receipts, newest number first. A collector sees its own receipts only."""
    stmt = service.receipts_seen(session, who, collector_id=collector_id)
    if member_id is not None:
        stmt = stmt.where(Receipt.member_id == member_id)
    if unit_id is not None:
        stmt = stmt.where(Receipt.unit_id == unit_id)
    # days are the organisation's (its time zone), as in the reports
    stmt = stmt.where(*reports.received_within(who.time_zone, from_, to))
    after = decode_cursor(cursor, 1)
    if after:
        if not isinstance(after[0], int):
            raise ValidationFailed.field("cursor", pagination.NOT_A_CURSOR())
        stmt = stmt.where(Receipt.receipt_number < after[0])
    rows = list(session.scalars(stmt.limit(limit + 1)))
    page = rows[:limit]
    nxt = encode_cursor([page[-1].receipt_number]) if len(rows) > limit else None
    return Page(items=receipt_reads(session, page), next_cursor=nxt)


@router.get("/receipts/{receipt_id}", response_model=ReceiptRead)
def get_receipt(receipt_id: uuid.UUID, session: DbSession, who: Viewer) -> ReceiptRead:
    return receipt_reads(session, [service.get_receipt(session, receipt_id, who)])[0]


@router.post(
    "/receipts/{receipt_id}/reverse",
    status_code=201,
    response_model=ReceiptRead,
    responses=PROBLEMS,
)
def reverse_receipt(
    receipt_id: uuid.UUID,
    body: ReverseReceipt,
    session: DbSession,
    who: Treasurer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Reverse a receipt, once (409 after): a mirror journal entry, its allocations and
    contribution shares undone, the dues it paid open again. Prepaid credit it gave that
    later dues took is given back by them first (see docs/collections.md)."""

    def operation() -> tuple[int, ReceiptRead]:
        receipt = service.reverse_receipt(session, who.actor, receipt_id, body.reason)
        return 201, receipt_reads(session, [receipt])[0]

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint("POST", f"/receipts/{receipt_id}/reverse", body.model_dump(mode="json")),
        operation,
    )


# -- collection sheets and imports --------------------------------------------------------------


@router.post("/collection-sheets", status_code=200, response_model=SheetResult, responses=PROBLEMS)
def post_sheet(
    body: SheetCreate,
    session: DbSession,
    who: Taker,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A collector's day of receipts, captured offline: one result per item, in order.

    An item whose `client_id` this collector sent before (in any sheet, even one half-sent)
    answers `duplicate` with the original receipt; a bad item is `rejected` with field
    errors and never blocks or loses the others. A treasurer names `collector_id`."""

    def operation() -> tuple[int, SheetResult]:
        collector_id = access.sheet_collector(session, who, body.collector_id)
        candidates = sheets.validate_sheet(session, body.receipts, collector_id, who.currency)
        outcome = sheets.post_candidates(
            session,
            who.actor,
            candidates,
            action="collection_sheet.post",
            details={"collector_id": str(collector_id), "collected_on": str(body.collected_on)},
        )
        posted = [c.receipt_id for c in candidates if c.receipt_id is not None]
        periods = sheets.periods_paid(session, posted, who.currency)
        facts = sheets.posted_facts(session, posted, who.currency)
        results = [sheets.item_result(c) for c in candidates]
        for c, result in zip(candidates, results, strict=True):
            if c.receipt_id is not None and c.receipt_id in facts:
                result.periods = periods.get(c.receipt_id, [])
                result.amount = facts[c.receipt_id].amount
                result.payer = facts[c.receipt_id].payer
        return 200, SheetResult(
            results=results,
            created=outcome.count("created"),
            duplicates=outcome.count("duplicate"),
            rejected=outcome.count("rejected"),
        )

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint("POST", "/collection-sheets", body.model_dump(mode="json")),
        operation,
    )


async def _receipts_file(
    file: Annotated[UploadFile, File(description="CSV, UTF-8 (BOM or not), comma or semicolon")],
) -> ReadFirst[imports.ReceiptsFile]:
    """The file read within its bounds before the request's session is touched (on SQLite
    the first query takes the write lock); a refusal is raised after authentication."""
    return await read_first(imports.read_receipts_file, await file.read())


@router.post("/imports/receipts", status_code=200, response_model=ImportResult, responses=PROBLEMS)
def import_receipts_csv(
    upload: Annotated[ReadFirst[imports.ReceiptsFile], Depends(_receipts_file)],
    session: DbSession,
    who: Taker,
    dry_run: Annotated[bool, Query(description="validate only; nothing is written")] = False,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Receipts from a CSV file, one result per row with its row number (the header is row 1).

    Columns: client_id, member_number or member_id, unit_registration or unit_id, amount,
    currency (default: the book currency), received_at (ISO 8601 with offset, or a date: 00:00
    that day in the organisation's time zone), channel, reference, collector (username; a
    collector's own upload is its).
    A row whose client_id was imported before answers `duplicate`. The file is read before
    any transaction, within bounds (docs/reliability.md): 8 MiB and 20,000 rows (413), 64
    values a row and 1,000 characters a value (422 naming the bound); a row with more values
    than the header is rejected."""
    content = upload.get()

    def operation() -> tuple[int, ImportResult]:
        return 200, imports.import_for(session, who, content, dry_run=dry_run)

    payload = {"sha256": content.sha256, "dry_run": dry_run}
    return run_idempotent(
        session,
        who,
        None if dry_run else idempotency_key,
        fingerprint("POST", "/imports/receipts", payload),
        operation,
    )
