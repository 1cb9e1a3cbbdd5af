"""Batches of both kinds looked up and listed (404 outside the caller's scope, see access.py),
their funds, and the join settings of the set-based statements: what the batch service,
affiliations, documents and settlement share, below all of them so none imports another's
module back."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.core import dialect
from app.core.deps import Principal
from app.core.errors import NotFound, ValidationFailed
from app.core.messages import N_, Template
from app.core.pagination import NOT_A_CURSOR, decode_cursor, encode_cursor
from app.funds.models import Fund
from app.funds.service import NO_FUND
from app.remittances import access
from app.remittances.models import AffiliationBatch, RemittanceBatch

NO_FUND_WITH_CODE = Template(
    "fund.unknown_code", N_("no fund with code %(code)s in this organisation")
)
NO_REMITTANCE_BATCH = Template("batch.not_found", N_("no remittance batch %(id)s"))
NO_AFFILIATION_BATCH = Template("affiliation_batch.not_found", N_("no affiliation batch %(id)s"))

AnyBatch = TypeVar("AnyBatch", RemittanceBatch, AffiliationBatch)

_NOT_FOUND: dict[type[Any], Template] = {
    RemittanceBatch: NO_REMITTANCE_BATCH,
    AffiliationBatch: NO_AFFILIATION_BATCH,
}


def fund_by_code(session: Session, code: str, *, field: str | None = "fund_code") -> Fund:
    """The fund with this code: 422 naming `field` if there is none (404 when field is None)."""
    fund = session.scalar(select(Fund).where(Fund.code == code))
    if fund is None:
        if field is None:
            raise NotFound(NO_FUND(code=repr(code)))
        raise ValidationFailed.field(field, NO_FUND_WITH_CODE(code=repr(code)))
    return fund


def find_batch(
    session: Session,
    kind: type[AnyBatch],
    batch_id: uuid.UUID,
    *,
    caller: Principal | None = None,
    fund_code: str | None = None,
    lock: bool = False,
) -> AnyBatch:
    """A remittance or affiliation batch, or 404; one outside the caller's scope (a fund
    office's own fund, or `fund_code`) is 404 too."""
    stmt = select(kind).where(kind.id == batch_id)
    scope = access.fund_scope(caller) or fund_code
    if scope is not None:
        stmt = stmt.where(kind.fund_id.in_(select(Fund.id).where(Fund.code == scope)))
    if lock:
        # Two lifecycle steps on one batch queue here instead of both reading its old status.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    batch = session.scalar(stmt)
    if batch is None:
        raise NotFound(_NOT_FOUND[kind](id=batch_id))
    return batch


def get_batch(
    session: Session,
    batch_id: uuid.UUID,
    *,
    caller: Principal | None = None,
    fund_code: str | None = None,
    lock: bool = False,
) -> RemittanceBatch:
    """The remittance batch, or 404 (see find_batch)."""
    return find_batch(
        session, RemittanceBatch, batch_id, caller=caller, fund_code=fund_code, lock=lock
    )


def get_affiliation_batch(
    session: Session,
    batch_id: uuid.UUID,
    *,
    caller: Principal | None = None,
    fund_code: str | None = None,
    lock: bool = False,
) -> AffiliationBatch:
    """The affiliation batch, or 404 (see find_batch)."""
    return find_batch(
        session, AffiliationBatch, batch_id, caller=caller, fund_code=fund_code, lock=lock
    )


def fund_of(session: Session, batch: RemittanceBatch | AffiliationBatch) -> Fund:
    """The fund a batch (of either kind) is for."""
    fund = session.scalar(select(Fund).where(Fund.id == batch.fund_id))
    if fund is None:  # pragma: no cover - a foreign key guarantees it
        raise NotFound(NO_FUND(code=batch.fund_id))
    return fund


def list_batches(
    session: Session,
    kind: type[AnyBatch],
    caller: Principal | None,
    *,
    fund_code: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[tuple[AnyBatch, Fund]], str | None]:
    """Batches of one kind with their funds, newest first, within the caller's scope, and the
    cursor of the next page (None on the last)."""
    narrowed = access.listed_fund(caller, fund_code)
    if isinstance(narrowed, access.Nothing):
        return [], None
    after = decode_cursor(cursor, 1)
    stmt = (
        select(kind, Fund)
        .join(Fund, (Fund.organisation_id == kind.organisation_id) & (Fund.id == kind.fund_id))
        .order_by(kind.number.desc())
        .limit(limit + 1)
    )
    if narrowed is not None:
        stmt = stmt.where(Fund.code == narrowed)
    if status is not None:
        stmt = stmt.where(kind.status == status)
    if after is not None:
        if not isinstance(after[0], int):
            raise ValidationFailed.field("cursor", NOT_A_CURSOR())
        stmt = stmt.where(kind.number < after[0])
    rows = [(b, f) for b, f in session.execute(stmt).all()]
    nxt = encode_cursor([rows[limit - 1][0].number]) if len(rows) > limit else None
    return rows[:limit], nxt


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
