"""HTTP endpoints for the fund's answer about a remittance batch: acknowledgement per line
(JSON or pain.002) and settlement (included in the remittances router)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from app.core.deps import DbSession, Principal
from app.core.documents import ReadFirst, read_first
from app.core.errors import ValidationFailed
from app.core.idempotency import IdempotencyKey, fingerprint, run_idempotent
from app.core.messages import MUST_BE_POSITIVE
from app.core.money import MoneyError, format_minor, parse_minor
from app.funds.adapters import pain002
from app.funds.registry import LineAnswer
from app.remittances import service, settlement
from app.remittances.answers import reason_missing
from app.remittances.http import Answerer, lifecycle_step, read_batch
from app.remittances.messages import REJECTION_NEEDS_REASON
from app.remittances.models import RemittanceBatch
from app.remittances.schemas import (
    AcknowledgementCreate,
    AcknowledgementRead,
    BatchRead,
    SettlementCreate,
)

router = APIRouter(tags=["remittances"])


@dataclass(frozen=True, slots=True)
class _Answer:
    """The fund's answer as sent: a pain.002 report (XML) or the JSON lines, read and checked."""

    body: bytes
    report: pain002.Pain002 | None
    lines: AcknowledgementCreate | None


def _read_answer(body: bytes, content_type: str) -> _Answer:
    media = content_type.split(";")[0].strip().lower()
    if media in ("application/xml", "text/xml") or body.lstrip().startswith(b"<"):
        return _Answer(body, pain002.parse_pain002(body), None)
    try:
        parsed = AcknowledgementCreate.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    for i, line in enumerate(parsed.lines):
        if reason_missing(line.status, line.reason):
            raise ValidationFailed.field(f"lines.{i}.reason", REJECTION_NEEDS_REASON())
    return _Answer(body, None, parsed)


async def _answer_body(request: Request) -> ReadFirst[_Answer]:
    """The body read, bounded and checked before the request's session is touched (on
    SQLite its first query takes the write lock); a refusal is raised after authentication."""
    return await read_first(
        _read_answer, await request.body(), request.headers.get("content-type", "")
    )


AnswerBody = Annotated[ReadFirst[_Answer], Depends(_answer_body)]


ACK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": AcknowledgementCreate.model_json_schema()},
            "application/xml": {
                "schema": {
                    "type": "string",
                    "description": "an ISO 20022 pain.002 status report, read before any "
                    "transaction within bounds: at most 32 MiB (413), no DOCTYPE or entities, "
                    "at most 64 levels and 2,000,000 elements (422 naming the bound)",
                }
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
    answer: AnswerBody,
    batch_id: uuid.UUID,
    session: DbSession,
    who: Answerer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The fund's decision per line: JSON `{lines: [{end_to_end_id, status, reason?}]}` or a
    pain.002 document (Content-Type application/xml). Rejected lines are owed again."""
    document = answer.get()  # read before the session was touched; refused here if bad
    return await _run_sync(lambda: _acknowledge(session, who, batch_id, document, idempotency_key))


async def _run_sync(fn: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn)


def _acknowledge(
    session: DbSession,
    who: Principal,
    batch_id: uuid.UUID,
    answer: _Answer,
    key: str | None,
) -> Response:
    report, parsed, body = answer.report, answer.lines, answer.body
    payload: Any = (
        {"pain.002": hashlib.sha256(body).hexdigest()}
        if report is not None
        else parsed.model_dump(mode="json")
        if parsed is not None
        else None
    )

    def operation() -> tuple[int, AcknowledgementRead]:
        if report is not None:
            batch = service.batch(session, who, batch_id)
            answers = settlement.answers_from_pain002(session, batch, report)
            batch, ack = settlement.acknowledge(
                session,
                who.actor,
                batch_id,
                answers,
                source="pain.002",
                document=body.decode("utf-8", errors="replace"),
                message_id=report.message_id,
                caller=who,
                field_prefix="TxInfAndSts",
            )
        else:
            assert parsed is not None
            answers = [LineAnswer(ln.end_to_end_id, ln.status, ln.reason) for ln in parsed.lines]
            batch, ack = settlement.acknowledge(
                session, who.actor, batch_id, answers, source="json", caller=who
            )
        return 200, AcknowledgementRead(
            acknowledgement_id=ack.id,
            accepted=ack.accepted_count,
            rejected=ack.rejected_count,
            rejected_sum=format_minor(ack.rejected_sum, batch.currency),
            journal_id=ack.journal_id,
            batch=read_batch(session, batch),
        )

    return run_idempotent(
        session,
        who,
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

    def act() -> RemittanceBatch:
        batch = service.batch(session, who, batch_id)
        try:
            amount = parse_minor(body.amount, batch.currency)
        except MoneyError as exc:
            raise ValidationFailed.field("amount", exc.message) from None
        if amount == 0:
            raise ValidationFailed.field("amount", MUST_BE_POSITIVE())
        return settlement.settle(
            session,
            who.actor,
            batch_id,
            amount=amount,
            settled_on=body.settled_on,
            reference=body.reference,
            bank_account_id=body.bank_account_id,
            caller=who,
        )

    return lifecycle_step(
        session,
        who,
        batch_id,
        "settlement",
        idempotency_key,
        body.model_dump(mode="json"),
        act,
    )
