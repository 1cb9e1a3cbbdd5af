"""HTTP endpoints of the funds package (mounted under /api/v1 by app.main).

Admins manage funds; admins, treasurers and auditors read them. Collectors and fund offices
have nothing to do here (a fund office reads its batches under /funds/{code}/remittances).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlalchemy import select

from app.core.deps import READERS, Caller, DbSession, Principal
from app.core.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from app.core.roles import Role
from app.core.schemas import Page
from app.funds import service
from app.funds.models import Fund
from app.funds.schemas import FundCreate, FundRead, FundUpdate

router = APIRouter(tags=["funds"])

Reader = Annotated[Principal, Depends(Caller(*READERS))]
Admin = Annotated[Principal, Depends(Caller(Role.admin))]
FundCodePath = Annotated[str, Path(max_length=32, description="the fund's code")]


@router.post("/funds", status_code=201, response_model=FundRead)
def create_fund(body: FundCreate, session: DbSession, who: Admin) -> Fund:
    """Create a fund and open its ledger accounts (owed, in transit, custody)."""
    return service.create_fund(session, who.actor, body)


@router.get("/funds", response_model=Page[FundRead])
def list_funds(
    session: DbSession, who: Reader, limit: Limit = 50, cursor: CursorParam = None
) -> Page[FundRead]:
    """The organisation's funds, by code."""
    after = decode_cursor(cursor, 1)
    stmt = select(Fund).order_by(Fund.code).limit(limit + 1)
    if after:
        stmt = stmt.where(Fund.code > after[0])
    rows = list(session.scalars(stmt))
    nxt = encode_cursor([rows[limit - 1].code]) if len(rows) > limit else None
    return Page(items=[FundRead.model_validate(f) for f in rows[:limit]], next_cursor=nxt)


@router.get("/funds/{code}", response_model=FundRead)
def get_fund(code: FundCodePath, session: DbSession, who: Reader) -> Fund:
    return service.get_fund(session, code)


@router.patch("/funds/{code}", response_model=FundRead)
def update_fund(code: FundCodePath, body: FundUpdate, session: DbSession, who: Admin) -> Fund:
    """Change what may change; `code` and `currency` are fixed once the fund exists."""
    return service.update_fund(session, who.actor, code, body)
