"""HTTP endpoints of enrolments (mounted under /api/v1, after the members router).

Roles: admins and treasurers enrol members and units and end enrolments; auditors read them.
Their OpenAPI tag stays `members`, where the API has always listed them.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.core.deps import Caller, DbSession, Principal
from app.core.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from app.core.roles import Role
from app.core.schemas import Page
from app.schemes import enrolments
from app.schemes.schemas import EnrolmentCreate, EnrolmentRead, EnrolmentUpdate

router = APIRouter(tags=["members"])

Manager = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer))]
Reader = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer, Role.auditor))]


@router.post("/enrolments", status_code=201, response_model=EnrolmentRead)
def create_enrolment(body: EnrolmentCreate, session: DbSession, who: Manager) -> EnrolmentRead:
    """Enrol a unit (daily_per_unit) or a member (monthly, per_harvest) in a scheme."""
    enrolment = enrolments.create_enrolment(session, who.actor, body)
    return enrolments.enrolment_reads(session, [enrolment])[0]


@router.get("/enrolments", response_model=Page[EnrolmentRead])
def list_enrolments(
    session: DbSession,
    who: Reader,
    member_id: uuid.UUID | None = None,
    unit_id: uuid.UUID | None = None,
    scheme_code: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[EnrolmentRead]:
    """Enrolments in the order they were made."""
    after = decode_cursor(cursor, 1)
    rows, nxt = enrolments.list_enrolments(
        session,
        member_id=member_id,
        unit_id=unit_id,
        scheme_code=scheme_code,
        limit=limit,
        after=after[0] if after else None,
    )
    return Page(
        items=enrolments.enrolment_reads(session, rows),
        next_cursor=encode_cursor([nxt]) if nxt is not None else None,
    )


@router.get("/enrolments/{enrolment_id}", response_model=EnrolmentRead)
def get_enrolment(enrolment_id: uuid.UUID, session: DbSession, who: Reader) -> EnrolmentRead:
    return enrolments.enrolment_reads(session, [enrolments.get_enrolment(session, enrolment_id)])[0]


@router.patch("/enrolments/{enrolment_id}", response_model=EnrolmentRead)
def update_enrolment(
    enrolment_id: uuid.UUID, body: EnrolmentUpdate, session: DbSession, who: Manager
) -> EnrolmentRead:
    """End an enrolment (`ends_on`), or change the declared income for later dues."""
    enrolment = enrolments.update_enrolment(session, who.actor, enrolment_id, body)
    return enrolments.enrolment_reads(session, [enrolment])[0]
