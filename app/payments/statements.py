"""Reconciliation of a payment channel against the provider's statement (a CSV per channel
and period).

Each statement line is matched to the channel's notification with its transaction id:
- the same amount: `matched`, nothing written (a pending one is finished by the line: `settled`,
  booked as a callback would have booked it);
- another amount: an `amount_mismatch`, listed for the treasurer, nothing changed;
- no notification: the callback that never came. The line becomes a notification (source
  `statement`) through `service.take_payment`, so it is matched to its payer or held in
  suspense like any other: `created`, with the status it got.
The channel's booked notifications (matched, in suspense, to be refunded) in the statement's
period that no line names are `missing_in_statement`.

Nothing of the statement itself is kept (no table): a reconciliation is computed from the
notifications each time, so running it again (a dry run writes nothing) shows where the
channel stands now, and a statement sent twice creates nothing twice (`take_payment` keeps one
notification per transaction id). Each run that writes is in the audit trail.

The file is read within bounds before any transaction (`read_statement`, pure, through
`app.core.documents.read_csv`); its values are checked against the channel's currency and the
organisation's time zone before anything is written, every bad value named by row and column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.collections.payers import among
from app.core import audit, clock
from app.core.audit import Actor
from app.core.documents import CsvBounds
from app.core.documents import read_csv as read_csv_table
from app.core.errors import ValidationFailed
from app.core.messages import AT_MOST_CHARS, MUST_BE_POSITIVE, N_, FieldError, Message, Template
from app.core.money import MoneyError, format_minor, parse_minor
from app.core.schemas import Schema
from app.payments import registry, service
from app.payments.models import PaymentChannel, PaymentNotification
from app.payments.vocabulary import NotificationStatus, ProviderStatus

COLUMNS = ("transaction_id", "amount", "occurred_at", "account_reference", "msisdn")
REQUIRED = ("transaction_id", "amount", "occurred_at")
LIMITS = {"transaction_id": 64, "account_reference": 64, "msisdn": 32}
MAX_ROWS = 20_000
CSV_BOUNDS = CsvBounds(max_bytes=8 * 1024 * 1024, max_rows=MAX_ROWS, max_field_chars=1_000)
"""A statement line is a few short values; a provider's extra columns (balance, fee, text)
are read and left aside."""
MAX_ERRORS = 50
"""A file with more bad values is refused naming the first ones."""
MAX_LISTED = 5_000
"""Notifications missing from the statement listed at most (all are counted)."""
MAX_PERIOD_DAYS = 366

BOOKED = (
    NotificationStatus.matched.value,
    NotificationStatus.suspense.value,
    NotificationStatus.refunded.value,
)
"""Notifications whose money is in the books: a statement is expected to show each."""
_LIVE_EXCLUDED = (NotificationStatus.refused.value, NotificationStatus.duplicate.value)
_DECIMAL_COMMA = re.compile(r"^\d+,\d+$")

MISSING_COLUMN = Template(
    "payment_statement.missing_column",
    N_("the header has no column %(column)s; a statement has %(columns)s"),
)
COLUMN_TWICE = Template(
    "payment_statement.column_twice", N_("the column %(column)s is named twice in the header")
)
EMPTY_VALUE = Template(
    "payment_statement.empty_value", N_("row %(row)s, column %(column)s: a value is needed")
)
BAD_VALUE = Template(
    "payment_statement.bad_value", N_("row %(row)s, column %(column)s: %(reason)s")
)
BAD_TIME = Template(
    "payment_statement.bad_occurred_at",
    N_(
        "row %(row)s, column occurred_at: %(value)s is not a date and time such as "
        "2026-11-20T09:15:00-04:00"
    ),
)
TRANSACTION_TWICE = Template(
    "payment_statement.transaction_twice",
    N_("row %(row)s, column transaction_id: %(transaction)s is on row %(first)s too"),
)
EXTRA_VALUES = Template(
    "payment_statement.extra_values", N_("row %(row)s: more values than the header has columns")
)
TOO_MANY_ERRORS = Template(
    "payment_statement.too_many_errors",
    N_("more than %(count)s values are wrong: correct these and send the file again"),
)
BAD_PERIOD = Template(
    "payment_statement.bad_period", N_("the period must start on or before the day it ends")
)
LONG_PERIOD = Template("payment_statement.long_period", N_("a period is at most %(days)s days"))


# -- the file --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatementRow:
    """One line of the statement as written (values stripped), before its values are read."""

    number: int  # the header is row 1
    values: dict[str, str]
    raw: str  # the header and this line as CSV: what a notification made from it keeps
    extra: int = 0  # values past the header's last column


@dataclass(frozen=True, slots=True)
class StatementFile:
    """A statement CSV read within bounds without the database (before any transaction)."""

    sha256: str
    name: str
    rows: list[StatementRow]
    ignored_columns: list[str]


def read_statement(content: bytes, name: str = "upload") -> StatementFile:
    """The statement's lines, read within `CSV_BOUNDS` (`app.core.documents.read_csv`: UTF-8
    with or without BOM, comma or semicolon), or 413/422 naming `file`. Columns other than
    the statement's are left aside (and named in the answer)."""
    table = read_csv_table(content, field="file", bounds=CSV_BOUNDS, name=name)
    header = [h.strip().lower() for h in table.header]
    seen: set[str] = set()
    for h in header:
        if h in COLUMNS and h in seen:
            raise ValidationFailed.field("file", COLUMN_TWICE(column=repr(h)))
        seen.add(h)
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValidationFailed.field(
            "file", MISSING_COLUMN(column=repr(missing[0]), columns=", ".join(COLUMNS))
        )
    wanted = {h: j for j, h in enumerate(header) if h in COLUMNS}
    rows: list[StatementRow] = []
    for record in table.records:
        cells = record.cells
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        values = {h: (cells[j].strip() if j < len(cells) else "") for h, j in wanted.items()}
        if table.delimiter == ";" and _DECIMAL_COMMA.match(values.get("amount", "")):
            values["amount"] = values["amount"].replace(",", ".")
        out = io.StringIO()
        writer = csv.writer(out, delimiter=table.delimiter, lineterminator="\n")
        writer.writerow(table.header)
        writer.writerow(cells)
        rows.append(
            StatementRow(record.number, values, out.getvalue(), max(0, len(cells) - len(header)))
        )
    ignored = [h for h in header if h not in COLUMNS and h]
    return StatementFile(hashlib.sha256(content).hexdigest(), name, rows, ignored)


@dataclass(frozen=True, slots=True)
class Line:
    """A statement line with its values read: an amount of the channel's currency and an
    instant."""

    row: int
    transaction_id: str
    amount: int
    occurred_at: datetime
    account_reference: str | None
    msisdn: str | None
    raw: str


def _instant(text: str, tz: str) -> datetime | Message | None:
    """An ISO 8601 instant; without an offset, a wall-clock time of the organisation (a
    statement printed in local time); a date alone, the start of that day there. None if it
    is not one."""
    try:
        if len(text) == 10:
            return _plausible(clock.day_start(date.fromisoformat(text), tz))
        value = datetime.fromisoformat(text)
        if value.tzinfo is not None:
            return _plausible(value)
        return _plausible(clock.from_local(value, tz))
    except (ValueError, OverflowError):  # not a time, or one no calendar reaches
        return None
    except clock.NonexistentLocalTime as exc:
        return exc.message


def _plausible(value: datetime) -> datetime | None:
    """A time the books can date (2000 to 2100), else None (said as a bad value)."""
    return value if service.EARLIEST <= value < service.LATEST else None


def read_lines(upload: StatementFile, currency: str, tz: str) -> list[Line]:
    """Every line's values, read for the channel's `currency` and the organisation's zone
    `tz`; or 422 naming each bad value (field `file`, with its `row` and `column`)."""
    errors: list[FieldError] = []

    def bad(row: int, column: str, message: Message) -> None:
        errors.append(FieldError("file", message, {"row": row, "column": column}))

    lines: list[Line] = []
    first_row: dict[str, int] = {}
    for r in upload.rows:
        v = r.values
        if r.extra:
            bad(r.number, "row", EXTRA_VALUES(row=r.number))
        for column in REQUIRED:
            if not v.get(column):
                bad(r.number, column, EMPTY_VALUE(row=r.number, column=column))
        for column, limit in LIMITS.items():
            if len(v.get(column, "")) > limit:
                bad(r.number, column, BAD_VALUE(row=r.number, column=column,
                                                 reason=AT_MOST_CHARS(count=limit)))  # fmt: skip
        txid = v.get("transaction_id", "")
        if txid and len(txid) <= LIMITS["transaction_id"]:
            if txid in first_row:
                bad(r.number, "transaction_id",
                    TRANSACTION_TWICE(row=r.number, transaction=txid, first=first_row[txid]))  # fmt: skip
            else:
                first_row[txid] = r.number
        amount: int | None = None
        if v.get("amount"):
            try:
                amount = parse_minor(v["amount"], currency)
            except MoneyError as exc:
                bad(
                    r.number, "amount", BAD_VALUE(row=r.number, column="amount", reason=exc.message)
                )
            else:
                if amount <= 0:
                    bad(r.number, "amount",
                        BAD_VALUE(row=r.number, column="amount", reason=MUST_BE_POSITIVE()))  # fmt: skip
                    amount = None
        when: datetime | Message | None = None
        if v.get("occurred_at"):
            when = _instant(v["occurred_at"], tz)
            if when is None:
                bad(
                    r.number,
                    "occurred_at",
                    BAD_TIME(row=r.number, value=repr(v["occurred_at"][:40])),
                )
            elif isinstance(when, Message):
                bad(
                    r.number,
                    "occurred_at",
                    BAD_VALUE(row=r.number, column="occurred_at", reason=when),
                )
        if len(errors) > MAX_ERRORS:
            break
        if isinstance(when, datetime) and amount is not None and txid:
            lines.append(
                Line(
                    r.number,
                    txid,
                    amount,
                    when,
                    v.get("account_reference") or None,
                    v.get("msisdn") or None,
                    r.raw,
                )
            )
    if errors:
        if len(errors) > MAX_ERRORS:
            errors = errors[:MAX_ERRORS]
            errors.append(FieldError("file", TOO_MANY_ERRORS(count=MAX_ERRORS)))
        raise ValidationFailed.fields(errors)
    return lines


# -- the answer ------------------------------------------------------------------------------

LineResult = Literal["matched", "settled", "created", "amount_mismatch"]


class StatementPeriod(Schema):
    """The instants whose notifications the statement is expected to show, both included."""

    starts_at: datetime
    ends_at: datetime
    starts_on: date = Field(description="the organisation's day of `starts_at`")
    ends_on: date = Field(description="the organisation's day of `ends_at`")
    from_query: bool = Field(
        description="true when `from` or `to` set it; else the first and last line's times"
    )


class StatementLineResult(Schema):
    row: int = Field(description="the line's row in the file (the header is row 1)")
    transaction_id: str
    amount: str = Field(description="the statement's amount")
    occurred_at: datetime
    account_reference: str | None
    msisdn: str | None
    result: LineResult = Field(
        description="matched: a notification with the same amount; settled: a pending one, "
        "finished by this line; created: no notification, one made from this line; "
        "amount_mismatch: a notification with another amount (nothing changed)"
    )
    status: NotificationStatus | None = Field(
        description="the notification's status now (in a dry run: the one it would get)"
    )
    notification_id: uuid.UUID | None = Field(description="none in a dry run for a new one")
    notification_amount: str | None = Field(description="what the notification says")
    receipt_id: uuid.UUID | None
    reason: str | None = Field(description="why it is where it is (held, refused), in English")
    reason_code: str | None
    reason_params: dict[str, str] | None


class MissingNotification(Schema):
    """A booked notification of the period that no statement line names."""

    notification_id: uuid.UUID
    transaction_id: str | None
    amount: str | None
    currency: str | None
    occurred_at: datetime | None
    account_reference: str | None
    msisdn: str | None
    status: NotificationStatus
    source: str
    receipt_id: uuid.UUID | None


class AmountMismatch(Schema):
    row: int
    transaction_id: str
    statement_amount: str
    notification_amount: str | None
    currency: str
    occurred_at: datetime
    notification_id: uuid.UUID
    notification_status: NotificationStatus


class StatementResult(Schema):
    channel: str
    currency: str
    dry_run: bool = Field(description="true: nothing was written")
    sha256: str = Field(description="of the file as sent")
    lines: int = Field(description="statement lines read")
    period: StatementPeriod | None = Field(
        description="none for a statement without lines and without `from`/`to`"
    )
    matched: int = Field(description="lines whose notification has the same amount")
    created: list[StatementLineResult] = Field(
        description="lines with no notification (a callback that never came), each now a "
        "notification matched to its payer or held in suspense"
    )
    settled: list[StatementLineResult] = Field(
        description="lines that finished a pending notification (booked now)"
    )
    missing_in_statement: list[MissingNotification] = Field(
        description=f"booked notifications of the period with no line (at most {MAX_LISTED})"
    )
    missing_count: int
    amount_mismatches: list[AmountMismatch]
    results: list[StatementLineResult] = Field(description="one per line, in the file's order")
    ignored_columns: list[str] = Field(description="columns of the file that were not read")


# -- reconciling -----------------------------------------------------------------------------


def period_of(
    lines: list[Line], from_on: date | None, to_on: date | None, tz: str
) -> StatementPeriod | None:
    """The statement's period: the organisation's days `from_on`..`to_on` where given, else
    the first and last line's instants (a bound given alone, with no lines, is that day)."""
    times = [ln.occurred_at for ln in lines]
    if from_on is None and to_on is None:
        if not times:
            return None
        start, end = min(times), max(times)
    else:
        from_on = from_on or (to_on if not times else clock.local_date(min(times), tz))
        to_on = to_on or (from_on if not times else clock.local_date(max(times), tz))
        assert from_on is not None and to_on is not None
        if from_on > to_on:
            raise ValidationFailed.field("from", BAD_PERIOD())
        if (to_on - from_on).days >= MAX_PERIOD_DAYS:
            raise ValidationFailed.field("to", LONG_PERIOD(days=MAX_PERIOD_DAYS))
        start = clock.day_start(from_on, tz)
        end = clock.day_start(to_on + timedelta(days=1), tz) - timedelta(microseconds=1)
    return StatementPeriod(
        starts_at=clock.to_local(start, tz),
        ends_at=clock.to_local(end, tz),
        starts_on=clock.local_date(start, tz),
        ends_on=clock.local_date(end, tz),
        from_query=from_on is not None or to_on is not None,
    )


def _amount(minor: int | None, currency: str | None) -> str | None:
    if minor is None or not currency:
        return None
    try:
        return format_minor(minor, currency)
    except MoneyError:
        return str(minor)


def _live(
    session: Session, channel: PaymentChannel, transaction_ids: list[str]
) -> dict[str, PaymentNotification]:
    """The notification holding each transaction (one per channel and id), in a few
    statements whatever the number of lines."""
    found: dict[str, PaymentNotification] = {}
    for criterion in among(session, PaymentNotification.transaction_id, transaction_ids):
        for row in session.scalars(
            select(PaymentNotification).where(
                PaymentNotification.channel_id == channel.id,
                PaymentNotification.status.not_in(_LIVE_EXCLUDED),
                criterion,
            )
        ):
            if row.transaction_id is not None:
                found[row.transaction_id] = row
    return found


def _missing(
    session: Session,
    channel: PaymentChannel,
    period: StatementPeriod | None,
    named: set[str],
) -> tuple[list[MissingNotification], int]:
    """Booked notifications of the period that no line names (set difference in one pass
    over the period's rows: a NOT IN of 20,000 ids is no better)."""
    if period is None:
        return [], 0
    when = func.coalesce(PaymentNotification.occurred_at, PaymentNotification.received_at)
    rows = session.execute(
        select(
            PaymentNotification.id,
            PaymentNotification.transaction_id,
            PaymentNotification.amount,
            PaymentNotification.currency,
            PaymentNotification.occurred_at,
            PaymentNotification.account_reference,
            PaymentNotification.msisdn,
            PaymentNotification.status,
            PaymentNotification.source,
            PaymentNotification.receipt_id,
        )
        .where(
            PaymentNotification.channel_id == channel.id,
            PaymentNotification.status.in_(BOOKED),
            when >= period.starts_at,
            when <= period.ends_at,
        )
        .order_by(when, PaymentNotification.id)
    ).all()
    missing = [r for r in rows if r.transaction_id not in named]
    listed = [
        MissingNotification(
            notification_id=r.id,
            transaction_id=r.transaction_id,
            amount=_amount(r.amount, r.currency),
            currency=r.currency,
            occurred_at=r.occurred_at,
            account_reference=r.account_reference,
            msisdn=r.msisdn,
            status=NotificationStatus(r.status),
            source=r.source,
            receipt_id=r.receipt_id,
        )
        for r in missing[:MAX_LISTED]
    ]
    return listed, len(missing)


@dataclass
class _Tally:
    results: list[StatementLineResult] = field(default_factory=list)
    mismatches: list[AmountMismatch] = field(default_factory=list)


def _result(
    line: Line,
    currency: str,
    result: LineResult,
    row: PaymentNotification | None = None,
    *,
    status: str | None = None,
    why: Message | None = None,
) -> StatementLineResult:
    """One line's result; its status and reason are the notification's unless given (what a
    dry run foresees)."""
    if row is not None and status is None:
        status = row.status
        why = service.reason_of(row)
    return StatementLineResult(
        row=line.row,
        transaction_id=line.transaction_id,
        amount=format_minor(line.amount, currency),
        occurred_at=line.occurred_at,
        account_reference=line.account_reference,
        msisdn=line.msisdn,
        result=result,
        status=NotificationStatus(status) if status else None,
        notification_id=row.id if row is not None else None,
        notification_amount=_amount(row.amount, row.currency) if row is not None else None,
        receipt_id=row.receipt_id if row is not None else None,
        reason=why.english() if why else None,
        reason_code=why.code if why else None,
        reason_params=why.plain_params() if why else None,
    )


def _foreseen(
    session: Session, reference: str | None, msisdn: str | None
) -> tuple[str, Message | None]:
    """What booking would do (a dry run): matched if the reference or phone names one payer,
    else held with the reason. (A receipt the payer cannot take, rare, would be held too:
    the real run says so.)"""
    payer = service.find_payer(session, reference, msisdn)
    if isinstance(payer, Message):
        return NotificationStatus.suspense.value, payer
    return NotificationStatus.matched.value, None


def reconcile(
    session: Session,
    actor: Actor,
    channel_code: str,
    upload: StatementFile,
    *,
    dry_run: bool,
    from_on: date | None = None,
    to_on: date | None = None,
) -> StatementResult:
    """Reconcile a channel against its provider's statement (see the module's doc); with
    `dry_run`, the same answer and nothing written. 404 for an unknown channel; 422 naming
    each bad value (row and column) before anything is written."""
    channel = service.get_channel(session, channel_code)
    tz = clock.session_zone(session)
    currency = channel.currency
    lines = read_lines(upload, currency, tz)
    period = period_of(lines, from_on, to_on, tz)
    known = _live(session, channel, [ln.transaction_id for ln in lines])
    tally = _Tally()
    for line in lines:
        row = known.get(line.transaction_id)
        if row is not None and (row.amount, row.currency) != (line.amount, currency):
            tally.results.append(_result(line, currency, "amount_mismatch", row))
            tally.mismatches.append(
                AmountMismatch(
                    row=line.row,
                    transaction_id=line.transaction_id,
                    statement_amount=format_minor(line.amount, currency),
                    notification_amount=_amount(row.amount, row.currency),
                    currency=currency,
                    occurred_at=line.occurred_at,
                    notification_id=row.id,
                    notification_status=NotificationStatus(row.status),
                )
            )
            continue
        if row is not None and row.status != NotificationStatus.pending.value:
            tally.results.append(_result(line, currency, "matched", row))
            continue
        kind: LineResult = "created" if row is None else "settled"
        if dry_run:
            # a pending notification is booked with what it said; a new one with the line
            said = row if row is not None else line
            status, why = _foreseen(session, said.account_reference, said.msisdn)
            tally.results.append(_result(line, currency, kind, row, status=status, why=why))
            continue
        outcome = service.take_payment(
            session,
            actor,
            channel,
            _payment(line, currency),
            line.raw.encode("utf-8"),
            {"statement_sha256": upload.sha256, "statement_row": str(line.row)},
            source="statement",
        )
        taken = service.get_notification(session, uuid.UUID(outcome.notification_id or ""))
        tally.results.append(_result(line, currency, kind, taken))
    named = {ln.transaction_id for ln in lines}
    missing, missing_count = _missing(session, channel, period, named)
    created = [r for r in tally.results if r.result == "created"]
    settled = [r for r in tally.results if r.result == "settled"]
    matched = sum(1 for r in tally.results if r.result == "matched")
    if not dry_run:
        audit.record(
            session, actor, "payment_statement.reconcile", "payment_channel", channel.id,
            {
                "code": channel.code, "file": upload.name[:200], "sha256": upload.sha256,
                "lines": len(lines), "matched": matched, "created": len(created),
                "settled": len(settled), "amount_mismatches": len(tally.mismatches),
                "missing_in_statement": missing_count,
                "period": [period.starts_at.isoformat(), period.ends_at.isoformat()]
                if period else None,
            },
        )  # fmt: skip
    return StatementResult(
        channel=channel.code,
        currency=currency,
        dry_run=dry_run,
        sha256=upload.sha256,
        lines=len(lines),
        period=period,
        matched=matched,
        created=created,
        settled=settled,
        missing_in_statement=missing,
        missing_count=missing_count,
        amount_mismatches=tally.mismatches,
        results=tally.results,
        ignored_columns=upload.ignored_columns,
    )


def _payment(line: Line, currency: str) -> registry.ProviderPayment:
    return registry.ProviderPayment(
        transaction_id=line.transaction_id,
        amount=format_minor(line.amount, currency),
        currency=currency,
        account_reference=line.account_reference,
        msisdn=line.msisdn,
        occurred_at=line.occurred_at,
        status=ProviderStatus.successful.value,
    )
