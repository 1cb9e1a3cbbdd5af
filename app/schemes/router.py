"""HTTP endpoints of schemes, harvests, dues, standing, arrears and quotes (under /api/v1).

Roles: admins and treasurers load schemes, record harvests and generate dues; auditors read
everything here; collectors read schemes, quotes, a member's dues and standing (they tell
members what they owe and recruit new ones). Fund offices have nothing here.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Select, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from app.core import clock
from app.core.deps import Caller, DbSession, Principal
from app.core.documents import ReadFirst, read_first
from app.core.idempotency import IdempotencyKey, fingerprint, run_idempotent
from app.core.money import format_minor
from app.core.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from app.core.roles import Role
from app.core.schemas import BusinessDate, Page
from app.members.models import UnitCrew
from app.members.service import get_member
from app.schemes import generation, quote, service, standing
from app.schemes.models import Due, Scheme, SchemeVersion
from app.schemes.schedule import MAX_SCHEDULE_BYTES, SCHEDULE_BOUNDS, ScheduleUpload, read_schedule
from app.schemes.schemas import (
    ArrearsLineRead,
    ArrearsPage,
    CoverageRead,
    DueRead,
    DueStatus,
    GenerateRead,
    GenerateRequest,
    HarvestCreate,
    HarvestRead,
    QuoteRead,
    SchemeLoadRead,
    SchemeRead,
    SchemeVersionRead,
    StandingRead,
    UnitArrearsRead,
)

router = APIRouter(tags=["schemes"])

Manager = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer))]
Reader = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer, Role.auditor))]
FieldReader = Annotated[
    Principal, Depends(Caller(Role.admin, Role.treasurer, Role.auditor, Role.collector))
]


async def _schedule_body(request: Request) -> ReadFirst[ScheduleUpload]:
    """The schedule in the body, read and checked before the request's session is touched:
    on SQLite the first query takes the write lock (`BEGIN IMMEDIATE`), so a slow or hostile
    parse there would stall every organisation."""
    return await read_first(read_schedule, await request.body(), "request body")


ScheduleBody = Annotated[ReadFirst[ScheduleUpload], Depends(_schedule_body)]


def _scheme_read(session: DbSession, scheme: Scheme) -> SchemeRead:
    versions = service.list_versions(session, scheme)
    return SchemeRead(
        id=scheme.id,
        code=scheme.code,
        name=scheme.name,
        kind=scheme.kind,
        currency=scheme.currency,
        created_at=scheme.created_at,
        versions=[SchemeVersionRead.model_validate(v) for v in versions],
    )


# -- schemes ------------------------------------------------------------------------------------


@router.post(
    "/schemes",
    status_code=201,
    response_model=SchemeLoadRead,
    responses={
        200: {"description": "every version in the file was loaded already: nothing new"},
        409: {"description": "a loaded version would change, or dues already cover its dates"},
        413: {"description": f"the file is over {MAX_SCHEDULE_BYTES} bytes (`bound: size`)"},
        422: {
            "description": "the schedule is not valid: `errors` lists every field path; a file "
            "that breaks a bound names it in `errors[].bound` (aliases, depth, nodes, scalar, "
            "tags, documents, syntax, encoding, time)"
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": (
                "a schedule file (SCHEDULES.md), as YAML text or the same as JSON. It is read "
                "before any transaction begins, within bounds: at most "
                f"{MAX_SCHEDULE_BYTES} bytes (413), and no YAML aliases or anchors, at most "
                f"{SCHEDULE_BOUNDS.max_depth} levels of nesting, "
                f"{SCHEDULE_BOUNDS.max_nodes} values, {SCHEDULE_BOUNDS.max_scalar_chars} "
                f"characters a value, one document, no tags, {SCHEDULE_BOUNDS.seconds:g} s "
                "to read (422 naming the bound)"
            ),
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "text/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def load_scheme(
    upload: ScheduleBody, response: Response, session: DbSession, who: Manager
) -> SchemeLoadRead:
    """Load a schedule: create the scheme, or add the versions it does not have yet.

    Versions are immutable and effective-dated: one already loaded is skipped when unchanged
    and refused (409) when it differs; a new one must start after every loaded one and after
    the dues already generated. Every mistake is listed in `errors` with its field path.
    """
    schedule = upload.get()  # read before the session was touched; refused here if it broke a bound

    def load() -> SchemeLoadRead:
        result = service.load_schedule(session, who.actor, schedule, "request body")
        read = _scheme_read(session, result.scheme)
        return SchemeLoadRead(
            **read.model_dump(),
            created=result.created,
            added_versions=[v.version for v in result.added],
        )

    loaded = await run_in_threadpool(load)
    if not loaded.created and not loaded.added_versions:
        response.status_code = 200
    return loaded


@router.get("/schemes", response_model=Page[SchemeRead])
def list_schemes(
    session: DbSession, who: FieldReader, limit: Limit = 50, cursor: CursorParam = None
) -> Page[SchemeRead]:
    """Schemes by code, each with all its versions."""
    after = decode_cursor(cursor, 1)
    stmt = select(Scheme).order_by(Scheme.code).limit(limit + 1)
    if after:
        stmt = stmt.where(Scheme.code > after[0])
    rows = list(session.scalars(stmt))
    nxt = encode_cursor([rows[limit - 1].code]) if len(rows) > limit else None
    return Page(items=[_scheme_read(session, s) for s in rows[:limit]], next_cursor=nxt)


@router.get("/schemes/{code}", response_model=SchemeRead)
def get_scheme(code: str, session: DbSession, who: FieldReader) -> SchemeRead:
    """A scheme with all its versions, oldest first."""
    return _scheme_read(session, service.get_scheme(session, code))


@router.get("/schemes/{code}/quote", response_model=QuoteRead)
def quote_scheme(
    code: str,
    session: DbSession,
    who: FieldReader,
    declared_income: Annotated[
        str | None,
        Query(max_length=40, description='monthly income, or expected harvest value ("15000.00")'),
    ] = None,
    months: Annotated[
        int, Query(ge=1, le=quote.MAX_MONTHS, description="how many months to total")
    ] = 1,
    as_of: Annotated[
        BusinessDate | None, Query(description="default: today, in the organisation's time zone")
    ] = None,
) -> QuoteRead:
    """What a prospective member would pay per period and to which funds (writes nothing)."""
    scheme = service.get_scheme(session, code)
    return quote.quote(
        scheme,
        service.list_versions(session, scheme),
        declared_income=declared_income,
        months=months,
        as_of=as_of or clock.today(who.time_zone),
    )


# -- dues ---------------------------------------------------------------------------------------


def due_reads(session: DbSession, dues: list[Due]) -> list[DueRead]:
    if not dues:
        return []
    ids = {d.scheme_version_id for d in dues}
    rows = session.execute(
        select(SchemeVersion.id, SchemeVersion.version, Scheme.code)
        .join(
            Scheme,
            (Scheme.organisation_id == SchemeVersion.organisation_id)
            & (Scheme.id == SchemeVersion.scheme_id),
        )
        .where(SchemeVersion.id.in_(ids))
    )
    info = {vid: (number, code) for vid, number, code in rows}
    return [
        DueRead(
            id=d.id,
            member_id=d.member_id,
            unit_id=d.unit_id,
            enrolment_id=d.enrolment_id,
            harvest_id=d.harvest_id,
            scheme_code=info[d.scheme_version_id][1],
            scheme_version=info[d.scheme_version_id][0],
            period_start=d.period_start,
            period_end=d.period_end,
            due_on=d.due_on,
            currency=d.currency,
            amount=format_minor(d.amount, d.currency),
            paid=format_minor(d.paid, d.currency),
            status=d.status,
        )
        for d in dues
    ]


def _status_filter(status: DueStatus | None) -> ColumnElement[bool] | None:
    if status == "open":
        return Due.paid == 0
    if status == "partial":
        return (Due.paid > 0) & (Due.paid < Due.amount)
    if status == "paid":
        return Due.paid >= Due.amount
    return None


def _due_page(
    session: DbSession, stmt: Select[Due], limit: int, cursor: str | None
) -> Page[DueRead]:
    after = decode_cursor(cursor, 2)
    if after:
        stmt = stmt.where(tuple_(Due.period_start, Due.id) > tuple_(*after))
    rows = list(session.scalars(stmt.order_by(Due.period_start, Due.id).limit(limit + 1)))
    page = rows[:limit]
    nxt = encode_cursor([page[-1].period_start, page[-1].id]) if len(rows) > limit else None
    return Page(items=due_reads(session, page), next_cursor=nxt)


@router.post(
    "/dues/generate",
    response_model=GenerateRead,
    responses={409: {"description": "Idempotency-Key reused with another payload"}},
)
def generate_dues(
    body: GenerateRequest, session: DbSession, who: Manager, idempotency_key: IdempotencyKey = None
) -> Response:
    """Make every due of every daily and monthly enrolment for periods ending by `through`.

    Running it again, or with an earlier date, creates nothing new (`created: 0`). Prepaid
    credit is applied to the new dues in the same transaction.
    """

    def operation() -> tuple[int, GenerateRead]:
        result = generation.generate_dues(session, who.actor, body.through)
        return 200, GenerateRead(
            through=result.through,
            created=result.created,
            enrolments=result.enrolments,
            payers=result.payers,
        )

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint("POST", "/dues/generate", body.model_dump(mode="json")),
        operation,
    )


@router.get("/dues", response_model=Page[DueRead])
def list_dues(
    session: DbSession,
    who: Reader,
    member_id: uuid.UUID | None = None,
    unit_id: uuid.UUID | None = None,
    scheme_code: Annotated[str | None, Query(max_length=64)] = None,
    status: DueStatus | None = None,
    from_: Annotated[
        BusinessDate | None, Query(alias="from", description="periods ending on or after")
    ] = None,
    to: Annotated[BusinessDate | None, Query(description="periods starting on or before")] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[DueRead]:
    """Dues by period start; `member_id` keeps the member's own dues (a unit's are under
    `unit_id`; `GET /members/{id}/dues` adds the units the member is covered by)."""
    stmt = select(Due)
    if member_id is not None:
        stmt = stmt.where(Due.member_id == member_id)
    if unit_id is not None:
        stmt = stmt.where(Due.unit_id == unit_id)
    if scheme_code is not None:
        stmt = stmt.where(Due.scheme_id.in_(select(Scheme.id).where(Scheme.code == scheme_code)))
    where = _status_filter(status)
    if where is not None:
        stmt = stmt.where(where)
    if from_ is not None:
        stmt = stmt.where(Due.period_end >= from_)
    if to is not None:
        stmt = stmt.where(Due.period_start <= to)
    return _due_page(session, stmt, limit, cursor)


@router.get("/members/{member_id}/dues", response_model=Page[DueRead])
def member_dues(
    member_id: uuid.UUID,
    session: DbSession,
    who: FieldReader,
    status: DueStatus | None = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[DueRead]:
    """The member's dues and those of the units the member is covered crew of."""
    member = get_member(session, member_id)
    covered_units = select(UnitCrew.unit_id).where(
        UnitCrew.member_id == member.id, UnitCrew.covered.is_(True)
    )
    stmt = select(Due).where((Due.member_id == member.id) | Due.unit_id.in_(covered_units))
    where = _status_filter(status)
    if where is not None:
        stmt = stmt.where(where)
    return _due_page(session, stmt, limit, cursor)


# -- harvests -----------------------------------------------------------------------------------


@router.post(
    "/harvests",
    status_code=201,
    response_model=HarvestRead,
    responses={409: {"description": "this harvest is recorded already, or the key was reused"}},
)
def record_harvest(
    body: HarvestCreate, session: DbSession, who: Manager, idempotency_key: IdempotencyKey = None
) -> Response:
    """Record a harvest: creates the member's per-harvest due (prepaid credit applied to it)."""

    def operation() -> tuple[int, HarvestRead]:
        harvest, due = service.record_harvest(
            session,
            who.actor,
            member_id=body.member_id,
            scheme_code=body.scheme_code,
            harvested_on=body.harvested_on,
            declared_value=body.declared_value,
        )
        session.refresh(due)  # the dues-created hooks may have paid part of it from credit
        return 201, HarvestRead(
            id=harvest.id,
            member_id=harvest.member_id,
            scheme_code=body.scheme_code,
            harvested_on=harvest.harvested_on,
            declared_value=None
            if harvest.declared_value is None
            else format_minor(harvest.declared_value, due.currency),
            due=due_reads(session, [due])[0],
        )

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint("POST", "/harvests", body.model_dump(mode="json")),
        operation,
    )


# -- standing and arrears -----------------------------------------------------------------------


def _aging(values: dict[str, int], currency: str) -> dict[str, str]:
    return {k: format_minor(v, currency) for k, v in values.items()}


@router.get("/members/{member_id}/standing", response_model=StandingRead)
def member_standing(
    member_id: uuid.UUID,
    session: DbSession,
    who: FieldReader,
    as_of: Annotated[
        BusinessDate | None, Query(description="default: today, in the organisation's time zone")
    ] = None,
) -> StandingRead:
    """Paid-through date, arrears with aging, penalty, prepaid credit and coverage per fund."""
    member = get_member(session, member_id)
    currency = who.currency
    st = standing.member_standing(session, member, as_of or clock.today(who.time_zone))
    return StandingRead(
        member_id=member.id,
        as_of=st.as_of,
        currency=currency,
        paid_through=st.paid_through,
        arrears=format_minor(st.arrears, currency),
        aging=_aging(st.aging, currency),
        oldest_overdue_on=st.oldest_overdue_on,
        penalty=format_minor(st.penalty, currency),
        credit=format_minor(st.credit, currency),
        coverage=[
            CoverageRead(fund_code=c.fund_code, status=c.status, covered_until=c.covered_until)
            for c in st.coverage
        ],
    )


@router.get("/reports/arrears", response_model=ArrearsPage)
def arrears_report(
    session: DbSession,
    who: Reader,
    as_of: Annotated[
        BusinessDate | None, Query(description="default: today, in the organisation's time zone")
    ] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> ArrearsPage:
    """Every member with arrears on `as_of`, by member number, with aging and penalty.

    A covered crew member's line carries their unit's arrears (as their standing does), named
    in `through_units`; `total` counts every overdue due once, as the dashboard does."""
    day: date = as_of or clock.today(who.time_zone)
    after = decode_cursor(cursor, 1)
    lines, nxt = standing.arrears_page(
        session, day, limit=limit, after_number=after[0] if after else None
    )
    currency = who.currency
    owed = standing.overdue_by_age(session, day).get(currency, dict.fromkeys(standing.BUCKETS, 0))
    return ArrearsPage(
        currency=currency,
        total=format_minor(sum(owed.values()), currency),
        total_aging=_aging(owed, currency),
        items=[
            ArrearsLineRead(
                member_id=ln.member.id,
                member_number=ln.member.member_number,
                full_name=ln.member.full_name,
                arrears=format_minor(ln.standing.arrears, currency),
                own_arrears=format_minor(ln.own_arrears, currency),
                through_units=[
                    UnitArrearsRead(
                        unit_id=u.unit_id,
                        registration=u.registration,
                        arrears=format_minor(u.arrears, currency),
                    )
                    for u in ln.through_units
                ],
                aging=_aging(ln.standing.aging, currency),
                oldest_overdue_on=ln.standing.oldest_overdue_on,
                penalty=format_minor(ln.standing.penalty, currency),
                credit=format_minor(ln.standing.credit, currency),
                paid_through=ln.standing.paid_through,
            )
            for ln in lines
        ],
        next_cursor=encode_cursor([nxt]) if nxt is not None else None,
    )
