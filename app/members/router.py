"""HTTP endpoints of members and transport units (mounted under /api/v1; enrolments: app.schemes).

Roles: admins and treasurers manage members and units; auditors read them;
collectors read members and units (they need to find payers on the road). Fund offices
have nothing here.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile

from app.core.deps import Caller, DbSession, Principal
from app.core.documents import CsvTable, ReadFirst, read_first
from app.core.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from app.core.roles import Role
from app.core.schemas import Page
from app.members import importer, service, units
from app.members.schemas import (
    ImportResult,
    MemberCreate,
    MemberRead,
    MemberStatus,
    MemberUpdate,
    UnitCreate,
    UnitRead,
    UnitUpdate,
)

router = APIRouter(tags=["members"])

Manager = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer))]
PayerReader = Annotated[
    Principal, Depends(Caller(Role.admin, Role.treasurer, Role.auditor, Role.collector))
]
SearchText = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        description="text found (case-insensitively) in the name, member number, national id or phone",
    ),
]


# -- members ------------------------------------------------------------------------------------


@router.post(
    "/members",
    status_code=201,
    response_model=MemberRead,
    responses={
        409: {
            "description": "the member number is taken, or another member holds one of the "
            "affiliation numbers at that fund (type affiliation-number-taken, naming the holder)"
        }
    },
)
def create_member(body: MemberCreate, session: DbSession, who: Manager) -> MemberRead:
    """Create a member (and its prepaid-credit account). 409 if the member number is taken,
    or if another member holds one of its affiliation numbers at that fund: one number, one
    member (the problem's `errors[0].holder` is the holder's member number)."""
    member = service.create_member(session, who.actor, body)
    return service.member_reads(session, [member])[0]


@router.get("/members", response_model=Page[MemberRead])
def list_members(
    session: DbSession,
    who: PayerReader,
    q: SearchText = None,
    status: MemberStatus | None = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[MemberRead]:
    """Members by member number; `q` searches name, member number, national id and phone."""
    after = decode_cursor(cursor, 1)
    rows, nxt = service.search_members(
        session, q=q, status=status, limit=limit, after=after[0] if after else None
    )
    return Page(
        items=service.member_reads(session, rows),
        next_cursor=encode_cursor([nxt]) if nxt is not None else None,
    )


async def _members_file(
    file: Annotated[UploadFile, File(description="CSV with a header row (see docs/members.md)")],
) -> ReadFirst[CsvTable]:
    """The file read within its bounds before the request's session is touched (on SQLite
    the first query takes the write lock); a refusal is raised after authentication."""
    content = await file.read(importer.MAX_BYTES + 1)
    return await read_first(importer.read_members_csv, content, file.filename or "upload")


@router.post("/members/import", response_model=ImportResult)
def import_members(
    upload: Annotated[ReadFirst[CsvTable], Depends(_members_file)],
    session: DbSession,
    who: Manager,
    dry_run: Annotated[bool, Query(description="check every row, write nothing")] = False,
) -> ImportResult:
    """Import members from CSV: one result per row (`created`, `valid` on a dry run,
    `duplicate` for a member number that exists, `rejected` with errors). A bad row writes
    nothing and never blocks the good ones. The file is read before any transaction, within
    bounds (docs/reliability.md): 64 MiB and 200,000 rows (413), 64 values a row and 1,000
    characters a value (422 naming the bound)."""
    table = upload.get()
    return importer.import_members(session, who.actor, table, dry_run=dry_run, source=table.name)


@router.get("/members/{member_id}", response_model=MemberRead)
def get_member(member_id: uuid.UUID, session: DbSession, who: PayerReader) -> MemberRead:
    return service.member_reads(session, [service.get_member(session, member_id)])[0]


@router.patch(
    "/members/{member_id}",
    response_model=MemberRead,
    responses={
        409: {
            "description": "another member holds one of the affiliation numbers at that fund "
            "(type affiliation-number-taken, naming the holder)"
        }
    },
)
def update_member(
    member_id: uuid.UUID, body: MemberUpdate, session: DbSession, who: Manager
) -> MemberRead:
    """Change details, status or affiliation numbers (a null number removes that one). A
    number another member holds at that fund is 409, naming the holder."""
    member = service.update_member(session, who.actor, member_id, body)
    return service.member_reads(session, [member])[0]


# -- transport units ----------------------------------------------------------------------------


@router.post("/units", status_code=201, response_model=UnitRead)
def create_unit(body: UnitCreate, session: DbSession, who: Manager) -> UnitRead:
    """Create a transport unit with its crew (and its prepaid-credit account)."""
    unit = units.create_unit(session, who.actor, body)
    return units.unit_reads(session, [unit])[0]


@router.get("/units", response_model=Page[UnitRead])
def list_units(
    session: DbSession,
    who: PayerReader,
    q: Annotated[
        str | None, Query(min_length=1, max_length=32, description="part of the registration")
    ] = None,
    member_id: Annotated[
        uuid.UUID | None, Query(description="units this member is crew of")
    ] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[UnitRead]:
    """Units by registration."""
    after = decode_cursor(cursor, 1)
    rows, nxt = units.search_units(
        session, q=q, member_id=member_id, limit=limit, after=after[0] if after else None
    )
    return Page(
        items=units.unit_reads(session, rows),
        next_cursor=encode_cursor([nxt]) if nxt is not None else None,
    )


@router.get("/units/{unit_id}", response_model=UnitRead)
def get_unit(unit_id: uuid.UUID, session: DbSession, who: PayerReader) -> UnitRead:
    return units.unit_reads(session, [units.get_unit(session, unit_id)])[0]


@router.patch("/units/{unit_id}", response_model=UnitRead)
def update_unit(unit_id: uuid.UUID, body: UnitUpdate, session: DbSession, who: Manager) -> UnitRead:
    """Change kind, status, owner or crew; `crew` replaces the whole crew (owner included)."""
    unit = units.update_unit(session, who.actor, unit_id, body)
    return units.unit_reads(session, [unit])[0]
