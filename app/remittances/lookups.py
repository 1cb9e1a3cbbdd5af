"""Remittance batches looked up (404 outside the caller's scope), their funds, the status a
step needs, and the join settings of the set-based statements: what the batch service,
documents and settlement share, below all three so none imports another's module back."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.core import dialect
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.funds.models import Fund
from app.remittances.models import RemittanceBatch


def fund_by_code(session: Session, code: str, *, field: str | None = "fund_code") -> Fund:
    """The fund with this code: 422 naming `field` if there is none (404 when field is None)."""
    fund = session.scalar(select(Fund).where(Fund.code == code))
    if fund is None:
        if field is None:
            raise NotFound(f"no fund {code!r}")
        raise ValidationFailed.field(field, f"no fund with code {code!r} in this organisation")
    return fund


def get_batch(
    session: Session, batch_id: uuid.UUID, *, fund_code: str | None = None, lock: bool = False
) -> RemittanceBatch:
    """The batch, or 404; a fund office (`fund_code`) sees only its own fund's batches."""
    stmt = select(RemittanceBatch).where(RemittanceBatch.id == batch_id)
    if fund_code is not None:
        stmt = stmt.where(
            RemittanceBatch.fund_id.in_(select(Fund.id).where(Fund.code == fund_code))
        )
    if lock:
        # Two lifecycle steps on one batch queue here instead of both reading its old status.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    batch = session.scalar(stmt)
    if batch is None:
        raise NotFound(f"no remittance batch {batch_id}")
    return batch


def fund_of(session: Session, batch: RemittanceBatch) -> Fund:
    fund = session.scalar(select(Fund).where(Fund.id == batch.fund_id))
    if fund is None:  # pragma: no cover - a foreign key guarantees it
        raise NotFound(f"no fund {batch.fund_id}")
    return fund


def require_status(batch: RemittanceBatch, *allowed: str, action: str) -> None:
    if batch.status not in allowed:
        raise Conflict(
            f"batch {batch.reference} is {batch.status}: only a batch that is "
            f"{' or '.join(allowed)} can be {action}"
        )


def bulk_joins(session: Session) -> Any:
    """Turn nested-loop joins off for this transaction (PostgreSQL); returns the undo."""
    if not dialect.is_postgres(session):
        return lambda: None
    before = session.execute(
        text("SELECT current_setting('enable_nestloop'), current_setting('work_mem')")
    ).one()
    # ... and give the sorts of a 100,000-line batch memory instead of temporary files.
    session.execute(
        text(
            "SELECT set_config('enable_nestloop', 'off', true), "
            "set_config('work_mem', '64MB', true)"
        )
    )
    return lambda: session.execute(
        text("SELECT set_config('enable_nestloop', :a, true), set_config('work_mem', :b, true)"),
        {"a": before[0], "b": before[1]},
    )
