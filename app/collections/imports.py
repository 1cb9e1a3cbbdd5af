"""CSV uploads of receipts (API, CLI and web form): rows become sheet items.

The file is UTF-8, with or without a byte-order mark; comma- or semicolon-separated (the
header row decides); amounts in the currency's decimals (a semicolon file may use a decimal
comma: `150,00`). Rows are numbered as a spreadsheet numbers them: the header is row 1.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.collections import access, sheets
from app.collections import receipts as engine
from app.collections.models import Collector
from app.collections.schemas import ImportResult, ImportRowResult
from app.collections.sheets import Candidate, validate_item
from app.core import clock
from app.core.audit import Actor
from app.core.deps import Principal
from app.core.documents import CsvBounds
from app.core.documents import read_csv as read_csv_table
from app.core.errors import ValidationFailed
from app.core.messages import N_, FieldError, Template
from app.members.models import Member, TransportUnit

COLUMNS = (
    "client_id",
    "member_number",
    "member_id",
    "unit_registration",
    "unit_id",
    "amount",
    "currency",
    "received_at",
    "channel",
    "reference",
    "collector",
)
REQUIRED = ("client_id", "amount", "received_at", "channel")
MAX_ROWS = 20_000
CSV_BOUNDS = CsvBounds(max_bytes=8 * 1024 * 1024, max_rows=MAX_ROWS, max_field_chars=1_000)
"""A receipt row is a dozen short values: 1,000 characters a value is generous."""

UNKNOWN_COLUMN = Template(
    "receipt_import.unknown_column", N_("unknown column %(column)s; the columns are %(columns)s")
)
MISSING_COLUMN = Template(
    "receipt_import.missing_column", N_("the header has no column %(column)s")
)
COLUMN_TWICE = Template("receipt_import.column_twice", N_("a column is named twice in the header"))
NO_PAYER_COLUMN = Template(
    "receipt_import.no_payer_column",
    N_("name the payer: a member_number, member_id, unit_registration or unit_id column"),
)
EXTRA_VALUES = Template(
    "receipt_import.extra_values", N_("more values than the header has columns")
)
UNKNOWN_COLLECTOR = Template("receipt_import.unknown_collector", N_("no collector named %(name)s"))
UNKNOWN_MEMBER = Template("receipt_import.unknown_member", N_("no member %(id)s"))
UNKNOWN_UNIT = Template("receipt_import.unknown_unit", N_("no unit %(registration)s"))
ONE_PAYER_PER_ROW = Template("receipt_import.one_payer", N_("name one payer per row"))
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")


@dataclass(frozen=True, slots=True)
class Row:
    number: int  # the header is row 1
    values: dict[str, str]
    extra: int = 0
    """Values past the header's last column: the row is rejected, naming them."""


def read_csv(content: bytes) -> list[Row]:
    """The file's data rows, read within `CSV_BOUNDS` (`app.core.documents.read_csv`; pure, so
    callers may read it before their transaction), or 413/422 naming `file` (and the bound)
    for a file that cannot be read as a whole."""
    table = read_csv_table(content, field="file", bounds=CSV_BOUNDS)
    delimiter = table.delimiter
    header = [h.strip().lower() for h in table.header]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise ValidationFailed.field(
            "file", UNKNOWN_COLUMN(column=repr(unknown[0]), columns=COLUMNS)
        )
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValidationFailed.field("file", MISSING_COLUMN(column=repr(missing[0])))
    if len(set(header)) != len(header):
        raise ValidationFailed.field("file", COLUMN_TWICE())
    if not {"member_number", "member_id", "unit_registration", "unit_id"} & set(header):
        raise ValidationFailed.field("file", NO_PAYER_COLUMN())
    rows: list[Row] = []
    for record in table.records:
        cells = record.cells
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        values = {h: (cells[j].strip() if j < len(cells) else "") for j, h in enumerate(header)}
        if delimiter == ";" and _DECIMAL_COMMA.match(values.get("amount", "")):
            values["amount"] = values["amount"].replace(",", ".")
        rows.append(Row(record.number, values, max(0, len(cells) - len(header))))
    return rows


@dataclass(frozen=True, slots=True)
class ReceiptsFile:
    """A receipts CSV read and checked without the database (before any transaction)."""

    sha256: str
    rows: list[Row]


def read_receipts_file(content: bytes) -> ReceiptsFile:
    return ReceiptsFile(hashlib.sha256(content).hexdigest(), read_csv(content))


def parse_instant(text: str, tz: clock.Zone) -> datetime | str:
    """An ISO 8601 instant with its offset, or a date alone (the start of that day of the
    organisation, in its time zone `tz`, so the receipt lands on that day)."""
    try:
        if len(text) == 10:
            return clock.day_start(date.fromisoformat(text), tz)
        value = datetime.fromisoformat(text)
    except ValueError:
        return text
    return value


def to_candidates(
    session: Session,
    rows: list[Row],
    *,
    book_currency: str,
    caller_collector: Collector | None,
    default_collector: Collector | None,
) -> list[Candidate]:
    """Validate each row as a sheet item, resolving member numbers, registrations and
    collector names in a few set-based lookups."""
    numbers = {r.values["member_number"] for r in rows if r.values.get("member_number")}
    registrations = {
        r.values["unit_registration"] for r in rows if r.values.get("unit_registration")
    }
    names = {r.values["collector"] for r in rows if r.values.get("collector")}
    members = lookup(session, Member.member_number, Member.id, numbers)
    units = lookup(session, TransportUnit.registration, TransportUnit.id, registrations)
    collectors = collectors_by_name(session, names)
    tz = clock.session_zone(session)
    out: list[Candidate] = []
    for position, row in enumerate(rows):
        v = row.values
        errors: list[FieldError] = []
        collector = default_collector
        if row.extra:  # never drop a value silently: the row is refused, naming why
            errors.append(FieldError("row", EXTRA_VALUES()))
        if v.get("collector"):
            collector = collectors.get(v["collector"])
            if collector is None:
                errors.append(FieldError("collector", UNKNOWN_COLLECTOR(name=repr(v["collector"]))))
        if not access.may_import_for(caller_collector, collector):
            errors.append(FieldError("collector", access.OWN_IMPORTS_ONLY()))
        item: dict[str, Any] = {
            "client_id": v.get("client_id") or None,
            "amount": v.get("amount", ""),
            "currency": v.get("currency") or book_currency,
            "received_at": parse_instant(v.get("received_at", ""), tz),
            "channel": v.get("channel", ""),
            "reference": v.get("reference") or None,
        }
        payer_given = 0
        for column, key, table in (
            ("member_number", "member_id", members),
            ("unit_registration", "unit_id", units),
        ):
            if v.get(column):
                payer_given += 1
                found = table.get(v[column])
                if found is None:
                    errors.append(
                        FieldError(
                            column,
                            UNKNOWN_MEMBER(id=repr(v[column]))
                            if column == "member_number"
                            else UNKNOWN_UNIT(registration=repr(v[column])),
                        )
                    )
                item[key] = found
        for key in ("member_id", "unit_id"):
            if v.get(key):
                payer_given += 1
                item[key] = v[key]
        if payer_given > 1:
            errors.append(FieldError("member_id", ONE_PAYER_PER_ROW()))
        collector_id = collector.id if collector else None
        if errors:
            c = Candidate(position, item["client_id"], collector_id)
            c.reject(errors)
        else:
            c = validate_item(position, item, collector_id, book_currency)
        out.append(c)
    return out


def lookup(session: Session, key: Any, value: Any, wanted: set[str]) -> dict[str, uuid.UUID]:
    found: dict[str, uuid.UUID] = {}
    for criterion in engine.among(session, key, wanted):
        found.update({k: v for k, v in session.execute(select(key, value).where(criterion))})
    return found


def collectors_by_name(session: Session, names: set[str]) -> dict[str, Collector]:
    """Collectors by username (users first), or by API key name where that is unambiguous."""
    rows: list[Collector] = []
    for criterion in engine.among(session, Collector.name, names):
        rows.extend(session.scalars(select(Collector).where(criterion)))
    out: dict[str, Collector] = {}
    for name in names:
        same = [c for c in rows if c.name == name]
        users = [c for c in same if c.user_id is not None]
        if len(users) == 1:
            out[name] = users[0]
        elif len(same) == 1:
            out[name] = same[0]
    return out


def import_receipts(
    session: Session,
    actor: Actor,
    content: bytes | ReceiptsFile,
    *,
    book_currency: str,
    dry_run: bool,
    caller_collector: Collector | None,
    default_collector: Collector | None,
) -> ImportResult:
    """Check (and unless `dry_run`, post) the receipts of a CSV file, one result a row.
    `content` is the file, or the file read already (`read_receipts_file`, bounded). The CLI
    calls this with the collectors it was given; the API and the pages through
    `import_for`."""
    upload = content if isinstance(content, ReceiptsFile) else read_receipts_file(content)
    rows = upload.rows
    candidates = to_candidates(
        session,
        rows,
        book_currency=book_currency,
        caller_collector=caller_collector,
        default_collector=default_collector,
    )
    outcome = sheets.post_candidates(
        session,
        actor,
        candidates,
        dry_run=dry_run,
        action="receipt_import.post",
        details={"rows": len(rows), "sha256": upload.sha256},
    )
    results = [
        ImportRowResult(row=rows[c.position].number, **sheets.item_result(c).model_dump())
        for c in candidates
    ]
    return ImportResult(
        dry_run=dry_run,
        results=results,
        created=outcome.count("created"),
        duplicates=outcome.count("duplicate"),
        rejected=outcome.count("rejected"),
        valid=outcome.count("valid"),
    )


def import_for(
    session: Session,
    who: Principal,
    content: bytes | ReceiptsFile,
    *,
    dry_run: bool,
    collector_id: uuid.UUID | None = None,
) -> ImportResult:
    """The caller's import (the API and the pages): a collector's rows are its own (a row
    naming another is rejected, see `access`); a treasurer may name the collector of the rows
    that name none (422 naming `collector_id` if there is no such collector)."""
    own, default = access.import_collectors(session, who, collector_id)
    return import_receipts(
        session,
        who.actor,
        content,
        book_currency=who.currency,
        dry_run=dry_run,
        caller_collector=own,
        default_collector=default,
    )
