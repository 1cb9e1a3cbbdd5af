"""HTTP endpoints of remittances: batches, their lines and files, the fund's acknowledgement
and settlement, a fund office's view, and the per-fund report (mounted under /api/v1)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from app.core.deps import DbSession
from app.core.errors import problem_response
from app.core.idempotency import IdempotencyKey, fingerprint, run_idempotent
from app.core.money import format_minor
from app.core.pagination import CursorParam, Limit
from app.core.schemas import BusinessDate, Page
from app.funds.models import Fund
from app.remittances import access, reports, service
from app.remittances.http import (
    Preparer,
    Viewer,
    batch_read,
    lifecycle_step,
    read_batch,
)
from app.remittances.models import RemittanceBatch
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


FILE_FORMATS = service.FILE_FORMATS  # (the pages import it from here)


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


def _page(rows: list[tuple[RemittanceBatch, Fund]], nxt: str | None) -> Page[BatchRead]:
    return Page(items=[batch_read(b, fund.code) for b, fund in rows], next_cursor=nxt)


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
    return _page(
        *service.batches(
            session, who, fund_code=fund_code, status=status, limit=limit, cursor=cursor
        )
    )


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
    return _page(
        *service.fund_batches(session, who, code, status=status, limit=limit, cursor=cursor)
    )


@router.get("/remittances/{batch_id}", response_model=BatchRead)
def get_batch(batch_id: uuid.UUID, session: DbSession, who: Viewer) -> BatchRead:
    return read_batch(session, service.batch(session, who, batch_id))


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
    batch, rows, nxt = service.lines(
        session, who, batch_id, status=status, limit=limit, cursor=cursor
    )
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
        for ln in rows
    ]
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
    file = service.batch_file(session, who, batch_id, format)
    # The download reads with its own session; end this read-only transaction now so the
    # stream never waits on it (SQLite takes its lock at BEGIN).
    session.commit()
    return StreamingResponse(
        service.stream_file(
            request.app.state.session_factory,
            file.organisation_id,
            file.batch_id,
            file.render,
            file.config,
        ),
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


# -- report -------------------------------------------------------------------------------------


@router.get("/reports/funds", response_model=FundsReport, tags=["reports"])
def funds_report(session: DbSession, who: Viewer, as_of: BusinessDate | None = None) -> FundsReport:
    """Per fund: owed (collected, not sealed), in transit (sealed, not settled), settled, and
    any settlement difference, flagged. A fund office sees its own fund only."""
    return reports.funds_report(session, as_of=as_of, fund_code=access.fund_scope(who))


# The fund's answers (acknowledgement, settlement) and affiliations live beside this module.
from app.remittances.affiliations_router import router as affiliations_router  # noqa: E402
from app.remittances.answers_router import router as answers_router  # noqa: E402

router.include_router(answers_router)
router.include_router(affiliations_router)
