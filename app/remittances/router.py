"""HTTP endpoints of remittances: batches, their lines and files, the fund's acknowledgement
and settlement, a fund office's view, and the per-fund report (mounted under /api/v1)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from app.core.deps import DbSession
from app.core.errors import Conflict, NotFound, ValidationFailed, problem_response
from app.core.idempotency import IdempotencyKey, fingerprint, run_idempotent
from app.core.money import format_minor
from app.core.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from app.core.schemas import BusinessDate, Page
from app.funds.adapters import csv_file, json_file, pain001
from app.funds.models import Fund
from app.remittances import reports, service
from app.remittances.http import (
    Preparer,
    Viewer,
    batch_read,
    fund_scope,
    lifecycle_step,
    read_batch,
)
from app.remittances.models import RemittanceBatch, RemittanceLine
from app.remittances.schemas import (
    BatchCreate,
    BatchRead,
    BatchStatus,
    CancelRequest,
    FileFormat,
    FundsReport,
    LineRead,
    LineStatus,
)

router: APIRouter = APIRouter(tags=["remittances"])


FILE_FORMATS: dict[str, tuple[Any, str, str, str]] = {
    # format: (renderer, media type, file extension, the adapter whose config shapes it)
    "csv": (csv_file.render, csv_file.MEDIA_TYPE, "csv", "csv"),
    "json": (json_file.render, json_file.MEDIA_TYPE, "json", "http_json"),
    "pain.001": (pain001.render, pain001.MEDIA_TYPE, "xml", "pain001"),
}


# -- batches ------------------------------------------------------------------------------------


@router.post(
    "/remittances",
    status_code=201,
    response_model=BatchRead,
    responses={409: {"description": "nothing owed to the fund, or Idempotency-Key reused"}},
)
def create_batch(
    body: BatchCreate, session: DbSession, who: Preparer, idempotency_key: IdempotencyKey = None
) -> Response:
    """Make a draft batch of every contribution owed to the fund for periods ending on or
    before `through` and not in a live batch, one line per member and period."""

    def operation() -> tuple[int, BatchRead]:
        batch = service.create_batch(
            session, who.actor, fund_code=body.fund_code, through=body.through
        )
        return 201, batch_read(batch, body.fund_code)

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint("POST", "/remittances", body.model_dump(mode="json")),
        operation,
    )


def _list(
    session: DbSession,
    *,
    fund_code: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[BatchRead]:
    after = decode_cursor(cursor, 1)
    stmt = (
        select(RemittanceBatch, Fund.code)
        .join(
            Fund,
            (Fund.organisation_id == RemittanceBatch.organisation_id)
            & (Fund.id == RemittanceBatch.fund_id),
        )
        .order_by(RemittanceBatch.number.desc())
        .limit(limit + 1)
    )
    if fund_code is not None:
        stmt = stmt.where(Fund.code == fund_code)
    if status is not None:
        stmt = stmt.where(RemittanceBatch.status == status)
    if after is not None:
        if not isinstance(after[0], int):
            raise ValidationFailed.field("cursor", "not a cursor this list returned")
        stmt = stmt.where(RemittanceBatch.number < after[0])
    rows = session.execute(stmt).all()
    nxt = encode_cursor([rows[limit - 1][0].number]) if len(rows) > limit else None
    return Page(items=[batch_read(b, code) for b, code in rows[:limit]], next_cursor=nxt)


@router.get("/remittances", response_model=Page[BatchRead])
def list_batches(
    session: DbSession,
    who: Viewer,
    fund_code: str | None = None,
    status: BatchStatus | None = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[BatchRead]:
    """Batches, newest first. A fund office sees its own fund's only."""
    scope = fund_scope(who)
    if scope is not None:
        if fund_code is not None and fund_code != scope:
            return Page(items=[], next_cursor=None)
        fund_code = scope
    return _list(session, fund_code=fund_code, status=status, limit=limit, cursor=cursor)


@router.get("/funds/{code}/remittances", response_model=Page[BatchRead])
def list_fund_batches(
    code: str,
    session: DbSession,
    who: Viewer,
    status: BatchStatus | None = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[BatchRead]:
    """One fund's batches, newest first: what a fund office pulls. Another fund's is 404."""
    scope = fund_scope(who)
    if scope is not None and scope != code:
        raise NotFound(f"no fund {code!r}")
    service.fund_by_code(session, code, field=None)
    return _list(session, fund_code=code, status=status, limit=limit, cursor=cursor)


@router.get("/remittances/{batch_id}", response_model=BatchRead)
def get_batch(batch_id: uuid.UUID, session: DbSession, who: Viewer) -> BatchRead:
    return read_batch(session, service.get_batch(session, batch_id, fund_code=fund_scope(who)))


@router.get("/remittances/{batch_id}/lines", response_model=Page[LineRead])
def list_lines(
    batch_id: uuid.UUID,
    session: DbSession,
    who: Viewer,
    status: LineStatus | None = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[LineRead]:
    """The batch's lines in order (`?status=rejected` lists what the fund refused)."""
    batch = service.get_batch(session, batch_id, fund_code=fund_scope(who))
    after = decode_cursor(cursor, 1)
    stmt = (
        select(RemittanceLine)
        .where(RemittanceLine.batch_id == batch.id)
        .order_by(RemittanceLine.line_number)
        .limit(limit + 1)
    )
    if status is not None:
        stmt = stmt.where(RemittanceLine.status == status)
    if after is not None:
        if not isinstance(after[0], int):
            raise ValidationFailed.field("cursor", "not a cursor this list returned")
        stmt = stmt.where(RemittanceLine.line_number > after[0])
    rows = list(session.scalars(stmt))
    c = batch.currency
    items = [
        LineRead(
            line_id=ln.id,
            line_number=ln.line_number,
            end_to_end_id=ln.end_to_end_id,
            member_id=ln.member_id,
            affiliation_number=ln.affiliation_number,
            period_start=ln.period_start,
            period_end=ln.period_end,
            amount=format_minor(ln.amount, c),
            status=ln.status,
            reason=ln.reason,
            decided_at=ln.decided_at,
        )
        for ln in rows[:limit]
    ]
    nxt = encode_cursor([rows[limit - 1].line_number]) if len(rows) > limit else None
    return Page(items=items, next_cursor=nxt)


@router.post(
    "/remittances/{batch_id}/seal",
    response_model=BatchRead,
    responses={409: {"description": "the batch is not a draft"}},
)
def seal_batch(
    batch_id: uuid.UUID, session: DbSession, who: Preparer, idempotency_key: IdempotencyKey = None
) -> Response:
    """Seal a draft: no line changes after this; its control sum moves from owed to in transit."""
    return lifecycle_step(
        session,
        who,
        batch_id,
        "seal",
        idempotency_key,
        {},
        lambda: service.seal(session, who.actor, batch_id),
    )


@router.post(
    "/remittances/{batch_id}/cancel",
    response_model=BatchRead,
    responses={409: {"description": "the batch is not a draft"}},
)
def cancel_batch(
    batch_id: uuid.UUID,
    session: DbSession,
    who: Preparer,
    body: CancelRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Cancel a draft: its contributions are owed again and go into the next batch."""
    reason = body.reason if body else None
    return lifecycle_step(
        session,
        who,
        batch_id,
        "cancel",
        idempotency_key,
        {"reason": reason},
        lambda: service.cancel(session, who.actor, batch_id, reason),
    )


@router.post(
    "/remittances/{batch_id}/submit",
    response_model=BatchRead,
    responses={
        409: {"description": "the batch is not sealed"},
        502: {"description": "the fund could not be reached or refused it; the batch stays sealed"},
    },
)
def submit_batch(
    batch_id: uuid.UUID, session: DbSession, who: Preparer, idempotency_key: IdempotencyKey = None
) -> Response:
    """Hand a sealed batch to the fund's adapter (push, file for download, or custody)."""
    failure: dict[str, str] = {}

    def act() -> RemittanceBatch:
        try:
            return service.submit(session, who.actor, batch_id)
        except service.FundUnreachable as exc:
            failure["error"] = exc.detail
            raise

    try:
        response = lifecycle_step(session, who, batch_id, "submit", idempotency_key, {}, act)
    except service.FundUnreachable as exc:
        # Without an Idempotency-Key the error surfaces here: answer it ourselves so that
        # the failed attempt recorded below commits instead of rolling back with it.
        service.record_failed_delivery(session, who.actor, batch_id, exc.detail)
        return problem_response(
            exc.status, exc.to_problem(f"/api/v1/remittances/{batch_id}/submit")
        )
    if "error" in failure:
        service.record_failed_delivery(session, who.actor, batch_id, failure["error"])
    return response


@router.get(
    "/remittances/{batch_id}/file",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}, "application/json": {}, "application/xml": {}},
            "description": "the batch, streamed",
        },
        409: {"description": "a draft or cancelled batch has no file"},
    },
)
def download_file(
    batch_id: uuid.UUID,
    request: Request,
    session: DbSession,
    who: Viewer,
    format: Annotated[FileFormat, Query(description="csv, json or pain.001")] = "csv",
) -> StreamingResponse:
    """The sealed batch as a file: CSV (header, lines, trailer with the control totals), JSON,
    or ISO 20022 pain.001.001.09 (valid against the official XSD). Streamed."""
    batch = service.get_batch(session, batch_id, fund_code=fund_scope(who))
    if batch.status in ("draft", "cancelled"):
        raise Conflict(f"batch {batch.reference} is {batch.status}: seal it to have its file")
    fund = service.fund_of(session, batch)
    render, media_type, ext, adapter_name = FILE_FORMATS[format]
    config = dict(fund.adapter_config or {}) if fund.adapter == adapter_name else {}
    # The download reads with its own session; end this read-only transaction now so the
    # stream never waits on it (SQLite takes its lock at BEGIN).
    session.commit()
    stream = service.stream_file(
        request.app.state.session_factory, batch.organisation_id, batch.id, render, config
    )
    return StreamingResponse(
        stream,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{batch.reference}.{ext}"'},
    )


# -- report -------------------------------------------------------------------------------------


@router.get("/reports/funds", response_model=FundsReport, tags=["reports"])
def funds_report(session: DbSession, who: Viewer, as_of: BusinessDate | None = None) -> FundsReport:
    """Per fund: owed (collected, not sealed), in transit (sealed, not settled), settled, and
    any settlement difference, flagged. A fund office sees its own fund only."""
    return reports.funds_report(session, as_of=as_of, fund_code=fund_scope(who))


# The fund's answers (acknowledgement, settlement) and affiliations live beside this module.
from app.remittances.affiliations_router import router as affiliations_router  # noqa: E402
from app.remittances.answers_router import router as answers_router  # noqa: E402

router.include_router(answers_router)
router.include_router(affiliations_router)
