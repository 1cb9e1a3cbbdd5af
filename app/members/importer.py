"""Bulk member import from CSV: per-row results, a dry run, set-based writes.

The header names the columns: `member_number`, `full_name`, `joined_on` (required),
`national_id`, `phone`, `sector`, `status` (optional) and `affiliation:FUND` (the member's
number at that fund). Comma or semicolon; UTF-8 with or without BOM.

Each row is checked on its own: a bad row is rejected with its errors and writes nothing; the
good rows are not blocked by it. A member number that exists already is a `duplicate` (left
as it is: an import never changes a member), so a file can be sent again safely. Writes are
a few statements whatever the size: the credit accounts in bulk, the members in bulk, the
affiliations in bulk.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import Actor
from app.core.database import bound_organisation, utcnow
from app.core.documents import CsvBounds, CsvTable, read_csv
from app.core.errors import Conflict, ValidationFailed, validation_errors
from app.core.ids import uuid7
from app.core.messages import AT_MOST_CHARS, N_, FieldError, Template
from app.funds.service import funds_by_code, organisation_currency
from app.ledger import service as ledger
from app.ledger.models import AccountType
from app.members.models import Member, MemberAffiliation
from app.members.schemas import ImportResult, ImportRowResult, ImportRowStatus, MemberCreate
from app.members.service import (
    AFFILIATION_MAX,
    credit_account_code,
    number_holders,
    search_text,
    taken_number,
)

REQUIRED = ("member_number", "full_name", "joined_on")
OPTIONAL = ("national_id", "phone", "sector", "status")
AFFILIATION_PREFIX = "affiliation:"
MAX_ROWS = 200_000
MAX_BYTES = 64 * 1024 * 1024
CSV_BOUNDS = CsvBounds(max_bytes=MAX_BYTES, max_rows=MAX_ROWS, max_field_chars=1_000)
"""A member row is a handful of short values: 1,000 characters a value is generous."""

EMPTY_FILE = Template(
    "member_import.empty", N_("the file is empty: the first line names the columns")
)
LACKS_COLUMNS = Template(
    "member_import.lacks_columns", N_("the header lacks column(s): %(columns)s")
)
COLUMN_TWICE = Template(
    "member_import.column_twice", N_("the header names column %(column)s twice")
)
UNKNOWN_COLUMNS = Template(
    "member_import.unknown_columns", N_("unknown column(s) %(columns)s; allowed: %(allowed)s")
)
NO_SUCH_FUND_COLUMN = Template(
    "member_import.no_fund", N_("column %(column)s names no fund of this organisation")
)
TOO_MANY_VALUES = Template(
    "member_import.too_many_values", N_("more values than the header has columns")
)
EMPTY_ROW = Template("member_import.empty_row", N_("empty row"))
NUMBER_REPEATED = Template(
    "member_import.number_repeated", N_("%(number)s appears already on line %(line)s")
)
EXISTS_ALREADY = Template("member_import.exists", N_("exists already; not changed"))
CREATED_MEANWHILE = Template(
    "member_import.created_meanwhile",
    N_(
        "another request created some of these members meanwhile; nothing was imported: "
        "send the file again (existing members come back as duplicates)"
    ),
)


@dataclass(slots=True)
class _Row:
    line: int
    data: MemberCreate | None = None
    result: ImportRowResult = field(
        default_factory=lambda: ImportRowResult(row=0, status=ImportRowStatus.rejected)
    )

    def refuse(self, errors: Sequence[FieldError], status: ImportRowStatus) -> None:
        """This row is not created: `status` (rejected, duplicate), saying why."""
        self.data = None
        self.result.status = status
        self.result.errors = [e.to_json() for e in errors]


def read_members_csv(content: bytes, name: str = "upload") -> CsvTable:
    """The file read within `CSV_BOUNDS` (`app.core.documents.read_csv`), or 413/422 naming
    `file` and the bound. Pure: callers may read it before their transaction begins."""
    return read_csv(content, field="file", bounds=CSV_BOUNDS, name=name)


def _check_header(session: Session, header: Sequence[str] | None) -> dict[str, str]:
    """The affiliation columns {column: fund_code}; 422 for a header that cannot be read."""
    if not header:
        raise ValidationFailed.field("file", EMPTY_FILE())
    names = [h.strip() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ValidationFailed.field("file", LACKS_COLUMNS(columns=missing))
    seen: set[str] = set()
    affiliations: dict[str, str] = {}
    unknown = []
    for name in names:
        if name in seen:
            raise ValidationFailed.field("file", COLUMN_TWICE(column=repr(name)))
        seen.add(name)
        if name.startswith(AFFILIATION_PREFIX):
            affiliations[name] = name[len(AFFILIATION_PREFIX) :].strip()
        elif name not in REQUIRED and name not in OPTIONAL:
            unknown.append(name)
    if unknown:
        allowed = [*REQUIRED, *OPTIONAL, "affiliation:FUND"]
        raise ValidationFailed.field(
            "file", UNKNOWN_COLUMNS(columns=[repr(u) for u in unknown], allowed=allowed)
        )
    funds = funds_by_code(session, affiliations.values())
    for column, code in affiliations.items():
        if code not in funds:
            raise ValidationFailed.field("file", NO_SUCH_FUND_COLUMN(column=repr(column)))
    return affiliations


def import_members(
    session: Session,
    actor: Actor,
    content: bytes | CsvTable,
    *,
    dry_run: bool = False,
    source: str = "upload",
) -> ImportResult:
    """Import members from CSV bytes (or the file read already by `read_members_csv`); see
    the module docstring. Nothing is written on a dry run."""
    table = content if isinstance(content, CsvTable) else read_members_csv(content)
    affiliation_columns = _check_header(session, table.header)
    names = [h.strip() for h in table.header]
    funds = funds_by_code(session, affiliation_columns.values())
    rows: list[_Row] = []
    first_line: dict[str, int] = {}
    for record in table.records:
        line = record.line
        row = _Row(line)
        row.result = ImportRowResult(row=line, status=ImportRowStatus.rejected)
        rows.append(row)
        cells = record.cells
        if len(cells) > len(names):  # never drop a value silently
            row.refuse([FieldError("row", TOO_MANY_VALUES())], ImportRowStatus.rejected)
            continue
        values = {
            name: (cells[j].strip() if j < len(cells) else "") for j, name in enumerate(names)
        }
        if not any(values.values()):
            row.refuse([FieldError("row", EMPTY_ROW())], ImportRowStatus.rejected)
            continue
        number = values.get("member_number") or None
        row.result.member_number = number
        payload: dict[str, Any] = {
            k: v for k, v in values.items() if v and not k.startswith(AFFILIATION_PREFIX)
        }
        payload["affiliations"] = {
            affiliation_columns[k]: v
            for k, v in values.items()
            if k.startswith(AFFILIATION_PREFIX) and v
        }
        errors: list[FieldError] = []
        try:
            row.data = MemberCreate.model_validate(payload)
        except ValidationError as exc:
            errors = validation_errors(exc.errors())
        for code, value in payload["affiliations"].items():
            if len(value) > AFFILIATION_MAX:
                errors.append(
                    FieldError(f"{AFFILIATION_PREFIX}{code}", AT_MOST_CHARS(count=AFFILIATION_MAX))
                )
        if number and number in first_line:
            repeated = NUMBER_REPEATED(number=number, line=first_line[number])
            errors.append(FieldError("member_number", repeated))
        elif number:
            first_line[number] = line
        if errors:
            row.refuse(errors, ImportRowStatus.rejected)
    candidates = [r for r in rows if r.data is not None]
    existing = _existing(session, [r.data.member_number for r in candidates if r.data])
    for r in candidates:
        assert r.data is not None
        if r.data.member_number in existing:
            r.result.member_id = existing[r.data.member_number]
            r.refuse([FieldError("member_number", EXISTS_ALREADY())], ImportRowStatus.duplicate)
        else:
            r.result.status = ImportRowStatus.valid
    _refuse_taken_numbers(session, [r for r in rows if r.data is not None], funds)
    good = [r for r in rows if r.data is not None]
    if not dry_run and good:
        # one audit event for the whole import, naming every member it created
        try:
            with session.begin_nested():
                _write(session, actor, good, funds)
        except IntegrityError:
            raise Conflict(CREATED_MEANWHILE()) from None
        audit.record(
            session,
            actor,
            "member.import",
            "member",
            None,
            {
                "source": source,
                "rows": len(rows),
                "created": len(good),
                "member_numbers": [r.result.member_number for r in good],
            },
        )
    results = [r.result for r in rows]
    return ImportResult(
        dry_run=dry_run,
        created=sum(r.status == ImportRowStatus.created for r in results),
        valid=sum(r.status == ImportRowStatus.valid for r in results),
        duplicates=sum(r.status == ImportRowStatus.duplicate for r in results),
        rejected=sum(r.status == ImportRowStatus.rejected for r in results),
        results=results,
    )


def _refuse_taken_numbers(session: Session, rows: list[_Row], funds: dict[str, Any]) -> None:
    """One number at a fund, one member: a row whose number another member holds (or an
    earlier row of the file takes) is rejected, naming the holder's member number."""
    holders: dict[str, dict[str, str]] = {}  # fund code -> {number: holder's member number}
    for code in {c for r in rows if r.data for c in r.data.affiliations}:
        numbers = {
            r.data.affiliations[code] for r in rows if r.data and code in r.data.affiliations
        }
        held = number_holders(session, funds[code].id, numbers)
        holders[code] = {number: member for number, (_, member) in held.items()}
    for r in rows:
        assert r.data is not None
        errors = [
            taken_number(f"{AFFILIATION_PREFIX}{code}", code, number, holder)
            for code, number in r.data.affiliations.items()
            if (holder := holders[code].get(number)) is not None and holder != r.data.member_number
        ]
        if errors:
            r.refuse(errors, ImportRowStatus.rejected)
            continue
        for code, number in r.data.affiliations.items():
            holders[code][number] = r.data.member_number  # a later row of the file is refused


def _existing(session: Session, numbers: list[str]) -> dict[str, uuid.UUID]:
    found: dict[str, uuid.UUID] = {}
    for i in range(0, len(numbers), 1000):
        chunk = numbers[i : i + 1000]
        rows = session.execute(
            select(Member.member_number, Member.id).where(Member.member_number.in_(chunk))
        )
        found.update({number: member_id for number, member_id in rows})
    return found


def _write(session: Session, actor: Actor, good: list[_Row], funds: dict[str, Any]) -> None:
    org = bound_organisation(session)
    currency = organisation_currency(session)
    accounts = ledger.open_accounts(
        session,
        actor,
        [
            ledger.AccountSpec(
                code=credit_account_code(r.data.member_number),
                name=f"Prepaid credit of {r.data.member_number}",
                type=AccountType.liability,
                currency=currency,
                owner=ledger.Owner("member", r.data.member_number),
            )
            for r in good
            if r.data is not None
        ],
    )
    now = utcnow()
    members: list[dict[str, Any]] = []
    affiliations: list[dict[str, Any]] = []
    for r in good:
        d = r.data
        assert d is not None
        member_id = uuid7()
        members.append(
            {
                "organisation_id": org,
                "id": member_id,
                "member_number": d.member_number,
                "full_name": d.full_name,
                "national_id": d.national_id,
                "phone": d.phone,
                "sector": d.sector,
                "status": d.status,
                "joined_on": d.joined_on,
                "credit_account_id": accounts[credit_account_code(d.member_number)],
                "search_text": search_text(d.member_number, d.full_name, d.national_id, d.phone),
                "created_at": now,
                "updated_at": now,
            }
        )
        for code, number in d.affiliations.items():
            affiliations.append(
                {
                    "organisation_id": org,
                    "id": uuid7(),
                    "member_id": member_id,
                    "fund_id": funds[code].id,
                    "affiliation_number": number,
                    "updated_at": now,
                }
            )
        r.result.status = ImportRowStatus.created
        r.result.member_id = member_id
    # Core executemany: one prepared statement per table, pipelined, no ORM work per row
    tables: list[tuple[Any, list[dict[str, Any]]]] = [
        (Member.__table__, members),
        (MemberAffiliation.__table__, affiliations),
    ]
    for table, values in tables:
        for i in range(0, len(values), 5000):
            session.execute(insert(table), values[i : i + 5000])
