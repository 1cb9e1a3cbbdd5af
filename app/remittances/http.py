"""What the remittances endpoints share: who may call, the batch as returned, and one
idempotent lifecycle step. (What a caller may see is the services' business: access.py.)"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import Response

from app.core.deps import READERS, Caller, DbSession, Principal
from app.core.idempotency import fingerprint, run_idempotent
from app.core.money import format_minor
from app.core.roles import Role
from app.remittances import service
from app.remittances.models import RemittanceBatch
from app.remittances.schemas import BatchRead, SettlementRead

Viewer = Annotated[Principal, Depends(Caller(*READERS, Role.fund_office))]
Preparer = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer))]
Answerer = Annotated[Principal, Depends(Caller(Role.treasurer, Role.fund_office))]


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


def read_batch(session: DbSession, batch: RemittanceBatch) -> BatchRead:
    return batch_read(batch, service.fund_of(session, batch).code)


def lifecycle_step(
    session: DbSession,
    who: Principal,
    batch_id: uuid.UUID,
    name: str,
    key: str | None,
    payload: Any,
    act: Any,
) -> Response:
    def operation() -> tuple[int, BatchRead]:
        return 200, read_batch(session, act())

    return run_idempotent(
        session,
        who,
        key,
        fingerprint("POST", f"/remittances/{batch_id}/{name}", payload),
        operation,
    )
