"""HTTP endpoints of remittances: batches, their lines and files, the fund's acknowledgement
and settlement, a fund office's view, and the per-fund report (mounted under /api/v1)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy import select

from app.core.deps import READERS, Caller, DbSession, Principal
from app.core.errors import Conflict, NotFound, ValidationFailed, problem_response
from app.core.money import MoneyError, format_minor, parse_minor
from app.core.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from app.core.schemas import BusinessDate, Page
from app.funds.adapters import csv_file, json_file, pain001
from app.funds.models import Fund
from app.funds.registry import LineAnswer
from app.identity.models import Role
from app.ledger.idempotency import IdempotencyKey, fingerprint, run_idempotent
from app.remittances import reports, service, settlement
from app.remittances.models import RemittanceBatch, RemittanceLine
from app.remittances.schemas import (
    AcknowledgementCreate,
    AcknowledgementRead,
    BatchCreate,
    BatchRead,
    BatchStatus,
    CancelRequest,
    FileFormat,
    FundsReport,
    LineRead,
    LineStatus,
    SettlementCreate,
    SettlementRead,
)

router = APIRouter(tags=["remittances"])

Viewer = Annotated[Principal, Depends(Caller(*READERS, Role.fund_office))]
Preparer = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer))]
Answerer = Annotated[Principal, Depends(Caller(Role.treasurer, Role.fund_office))]

FILE_FORMATS: dict[str, tuple[Any, str, str, str]] = {
    # format: (renderer, media type, file extension, the adapter whose config shapes it)
    "csv": (csv_file.render, csv_file.MEDIA_TYPE, "csv", "csv"),
    "json": (json_file.render, json_file.MEDIA_TYPE, "json", "http_json"),
    "pain.001": (pain001.render, pain001.MEDIA_TYPE, "xml", "pain001"),
}


def fund_scope(who: Principal) -> str | None:
    """A fund office acts only for its own fund; everyone else sees every fund."""
    return who.fund_code if who.role == Role.fund_office else None


def batch_read(batch: RemittanceBatch, fund_code: str) -> BatchRead:
    c = batch.currency
    settled = None
    if batch.settled_amount is not None and batch.settled_on is not None:
        diff = batch.settlement_difference or 0
        settled = SettlementRead(
            amount=format_minor(batch.settled_amount, c),
            settled_on=batch.settled_on,
            reference=batch.settlement_reference,
            account_id=batch.settlement_account_id,
            journal_id=batch.settlement_journal_id,
            difference=format_minor(diff, c),
            flagged=diff != 0,
        )
    return BatchRead(
        id=batch.id,
        reference=batch.reference,
        fund_code=fund_code,
        status=batch.status,
        through=batch.through,
        currency=c,
        line_count=batch.line_count,
        control_sum=format_minor(batch.control_sum, c),
        accepted_count=batch.accepted_count,
        accepted_sum=format_minor(batch.accepted_sum, c),
        rejected_count=batch.rejected_count,
        rejected_sum=format_minor(batch.rejected_sum, c),
        pending_count=batch.line_count - batch.accepted_count - batch.rejected_count,
        created_at=batch.created_at,
        created_by=batch.created_by,
        sealed_at=batch.sealed_at,
        submitted_at=batch.submitted_at,
        acknowledged_at=batch.acknowledged_at,
        settled_at=batch.settled_at,
        cancelled_at=batch.cancelled_at,
        cancel_reason=batch.cancel_reason,
        seal_journal_id=batch.seal_journal_id,
        delivery=batch.delivery,
        settlement=settled,
    )


def _read(session: DbSession, batch: RemittanceBatch) -> BatchRead:
    return batch_read(batch, service.fund_of(session, batch).code)


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
        who.organisation_id,
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
    return _read(session, service.get_batch(session, batch_id, fund_code=fund_scope(who)))


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


def _step(
    session: DbSession,
    who: Principal,
    batch_id: uuid.UUID,
    name: str,
    key: str | None,
    payload: Any,
    act: Any,
) -> Response:
    def operation() -> tuple[int, BatchRead]:
        return 200, _read(session, act())

    return run_idempotent(
        session,
        who.organisation_id,
        key,
        fingerprint("POST", f"/remittances/{batch_id}/{name}", payload),
        operation,
    )


@router.post(
    "/remittances/{batch_id}/seal",
    response_model=BatchRead,
    responses={409: {"description": "the batch is not a draft"}},
)
def seal_batch(
    batch_id: uuid.UUID, session: DbSession, who: Preparer, idempotency_key: IdempotencyKey = None
) -> Response:
    """Seal a draft: no line changes after this; its control sum moves from owed to in transit."""
    return _step(
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
    return _step(
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
        response = _step(session, who, batch_id, "submit", idempotency_key, {}, act)
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


# -- the fund's answer --------------------------------------------------------------------------

ACK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": AcknowledgementCreate.model_json_schema()},
            "application/xml": {
                "schema": {"type": "string", "description": "an ISO 20022 pain.002 status report"}
            },
        },
    }
}


@router.post(
    "/remittances/{batch_id}/acknowledgement",
    response_model=AcknowledgementRead,
    openapi_extra=ACK_BODY,
    responses={409: {"description": "not submitted yet, settled, or a line decided otherwise"}},
)
async def acknowledge_batch(
    batch_id: uuid.UUID,
    request: Request,
    session: DbSession,
    who: Answerer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The fund's decision per line: JSON `{lines: [{end_to_end_id, status, reason?}]}` or a
    pain.002 document (Content-Type application/xml). Rejected lines are owed again."""
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_xml = content_type in ("application/xml", "text/xml") or body.lstrip().startswith(b"<")
    return await _run_sync(
        lambda: _acknowledge(session, who, batch_id, body, is_xml, idempotency_key)
    )


async def _run_sync(fn: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn)


def _acknowledge(
    session: DbSession,
    who: Principal,
    batch_id: uuid.UUID,
    body: bytes,
    is_xml: bool,
    key: str | None,
) -> Response:
    scope = fund_scope(who)
    if is_xml:
        payload: Any = {"pain.002": hashlib.sha256(body).hexdigest()}
    else:
        try:
            parsed = AcknowledgementCreate.model_validate_json(body or b"{}")
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None
        payload = parsed.model_dump(mode="json")
        for i, line in enumerate(parsed.lines):
            if line.status == "rejected" and not (line.reason and line.reason.strip()):
                raise ValidationFailed.field(f"lines.{i}.reason", "a rejection needs a reason")

    def operation() -> tuple[int, AcknowledgementRead]:
        if is_xml:
            report = settlement.parse_pain002(body)
            batch = service.get_batch(session, batch_id, fund_code=scope)
            answers = settlement.answers_from_pain002(session, batch, report)
            batch, ack = settlement.acknowledge(
                session,
                who.actor,
                batch_id,
                answers,
                source="pain.002",
                document=body.decode("utf-8", errors="replace"),
                message_id=report.message_id,
                fund_code=scope,
                field_prefix="TxInfAndSts",
            )
        else:
            answers = [LineAnswer(ln.end_to_end_id, ln.status, ln.reason) for ln in parsed.lines]
            batch, ack = settlement.acknowledge(
                session, who.actor, batch_id, answers, source="json", fund_code=scope
            )
        return 200, AcknowledgementRead(
            acknowledgement_id=ack.id,
            accepted=ack.accepted_count,
            rejected=ack.rejected_count,
            rejected_sum=format_minor(ack.rejected_sum, batch.currency),
            journal_id=ack.journal_id,
            batch=_read(session, batch),
        )

    return run_idempotent(
        session,
        who.organisation_id,
        key,
        fingerprint("POST", f"/remittances/{batch_id}/acknowledgement", payload),
        operation,
    )


@router.post(
    "/remittances/{batch_id}/settlement",
    response_model=BatchRead,
    responses={409: {"description": "the batch is not acknowledged, or nothing was accepted"}},
)
def settle_batch(
    batch_id: uuid.UUID,
    body: SettlementCreate,
    session: DbSession,
    who: Answerer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Confirm what was paid to the fund. A settled amount that differs from the accepted sum
    is recorded and flagged (`settlement.flagged`), never absorbed."""
    scope = fund_scope(who)

    def act() -> RemittanceBatch:
        batch = service.get_batch(session, batch_id, fund_code=scope)
        try:
            amount = parse_minor(body.amount, batch.currency)
        except MoneyError as exc:
            raise ValidationFailed.field("amount", str(exc)) from None
        if amount == 0:
            raise ValidationFailed.field("amount", "must be greater than zero")
        return settlement.settle(
            session,
            who.actor,
            batch_id,
            amount=amount,
            settled_on=body.settled_on,
            reference=body.reference,
            bank_account_id=body.bank_account_id,
            fund_code=scope,
        )

    return _step(
        session,
        who,
        batch_id,
        "settlement",
        idempotency_key,
        body.model_dump(mode="json"),
        act,
    )


# -- report -------------------------------------------------------------------------------------


@router.get("/reports/funds", response_model=FundsReport, tags=["reports"])
def funds_report(session: DbSession, who: Viewer, as_of: BusinessDate | None = None) -> FundsReport:
    """Per fund: owed (collected, not sealed), in transit (sealed, not settled), settled, and
    any settlement difference, flagged. A fund office sees its own fund only."""
    return reports.funds_report(session, as_of=as_of, fund_code=fund_scope(who))


# Affiliations go out the same way; their endpoints live beside this module.
from app.remittances.affiliations_router import router as affiliations_router  # noqa: E402

router.include_router(affiliations_router)
