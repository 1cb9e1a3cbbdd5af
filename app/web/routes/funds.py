"""A fund's page, read only: what it is, how it is reached, and what is owed to it, in transit
and settled (the same figures as the funds report)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from starlette.responses import Response

from app.core.money import parse_minor
from app.core.roles import Role
from app.funds import service as funds
from app.remittances import access
from app.remittances.models import AffiliationBatch, RemittanceBatch
from app.remittances.reports import funds_report
from app.web.deps import DbSession, WebRole, WebUser
from app.web.routes.dashboard import today
from app.web.templating import PREFIX, render

router = APIRouter(prefix=PREFIX)

Viewer = Annotated[
    WebUser, Depends(WebRole(Role.admin, Role.treasurer, Role.auditor, Role.fund_office))
]


def _minor(text: str | None, currency: str) -> int | None:
    return None if text is None else parse_minor(text, currency, allow_negative=True)


@router.get("/funds/{code}")
def fund_page(request: Request, db: DbSession, who: Viewer, code: str) -> Response:
    code = code[:32]
    access.require_fund(who.principal, code)
    fund = funds.get_fund(db, code)
    day = today(who)
    figures = funds_report(db, as_of=None, fund_code=fund.code).funds[0]
    c = fund.currency
    batches = list(
        db.scalars(
            select(RemittanceBatch)
            .where(RemittanceBatch.fund_id == fund.id)
            .order_by(RemittanceBatch.created_at.desc())
            .limit(20)
        )
    )
    affiliations = list(
        db.scalars(
            select(AffiliationBatch)
            .where(AffiliationBatch.fund_id == fund.id)
            .order_by(AffiliationBatch.created_at.desc())
            .limit(20)
        )
    )
    settlement = fund.settlement_account
    return render(
        request,
        "funds/page.html",
        {
            "fund": fund,
            "as_of": day,
            "owed": _minor(figures.owed, c),
            "in_transit": _minor(figures.in_transit, c),
            "settled": _minor(figures.settled, c),
            "custody": _minor(figures.custody_balance, c),
            "difference": _minor(figures.settlement_difference, c),
            "flagged": figures.flagged_batches,
            "settlement": (
                settlement
                if isinstance(settlement, dict)
                else ({"": str(settlement)} if settlement else {})
            ),
            "batches": batches,
            "affiliations": affiliations,
        },
    )
