"""Transport units with their crews (who drives, who collects, whose coverage they count for)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from app.collections.models import Receipt
from app.members import units as unit_service
from app.members.models import Member, TransportUnit
from app.schemes.models import Due
from app.web.deps import DbSession, Reader
from app.web.templating import PREFIX, render

router = APIRouter(prefix=PREFIX)


@router.get("/units")
def list_units(request: Request, db: DbSession, who: Reader, q: str | None = None) -> Response:
    q = (q or "").strip()[:40] or None
    rows, _ = unit_service.search_units(db, q=q, member_id=None, limit=200, after=None)
    crews = unit_service.crews_of(db, [u.id for u in rows])
    people = {
        m.id: m
        for m in db.scalars(
            select(Member).where(Member.id.in_({c.member_id for cs in crews.values() for c in cs}))
        )
    }
    return render(
        request, "units/list.html", {"rows": rows, "crews": crews, "people": people, "q": q or ""}
    )


@router.get("/units/{unit_id}")
def unit_page(request: Request, db: DbSession, who: Reader, unit_id: uuid.UUID) -> Response:
    unit: TransportUnit = unit_service.get_unit(db, unit_id)
    crew = unit_service.crews_of(db, [unit.id]).get(unit.id, [])
    people = {
        m.id: m
        for m in db.scalars(select(Member).where(Member.id.in_([c.member_id for c in crew])))
    }
    dues = list(
        db.scalars(
            select(Due).where(Due.unit_id == unit.id).order_by(Due.period_start.desc()).limit(31)
        )
    )
    receipts = list(
        db.scalars(
            select(Receipt)
            .where(Receipt.unit_id == unit.id)
            .order_by(Receipt.receipt_number.desc())
            .limit(20)
        )
    )
    return render(
        request,
        "units/page.html",
        {"unit": unit, "crew": crew, "people": people, "dues": dues, "receipts": receipts},
    )
