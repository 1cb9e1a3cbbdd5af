"""HTTP endpoints for reconciling a payment channel against its provider's statement, and the
channel's report per day. Included by app/payments/router.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, UploadFile
from fastapi.responses import Response

from app.core import clock
from app.core.deps import Caller, DbSession, Principal
from app.core.documents import ReadFirst, read_first
from app.core.idempotency import IdempotencyKey, fingerprint, run_idempotent
from app.core.roles import Role
from app.core.schemas import BusinessDate
from app.payments import reports, service, statements

router = APIRouter(tags=["payment channels"])

Reader = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer, Role.auditor))]
Treasurer = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer))]
Code = Annotated[str, Path(max_length=32)]
FromDay = Annotated[
    BusinessDate | None,
    Query(alias="from", description="the organisation's first day (its time zone)"),
]
ToDay = Annotated[BusinessDate | None, Query(description="the organisation's last day, included")]

PROBLEMS: dict[int | str, dict[str, str]] = {
    404: {"description": "no such channel"},
    413: {"description": "the file is larger than 8 MiB or has more than 20,000 lines"},
    422: {"description": "a bad file or value: each error names its `row` and `column`"},
}


async def _statement_file(
    file: Annotated[UploadFile, File(description="CSV, UTF-8 (BOM or not), comma or semicolon")],
) -> ReadFirst[statements.StatementFile]:
    """The file read within its bounds before the request's session is touched (on SQLite
    the first query takes the write lock); a refusal is raised after authentication."""
    content = await file.read(statements.CSV_BOUNDS.max_bytes + 1)
    return await read_first(statements.read_statement, content, file.filename or "upload")


@router.post(
    "/payment-channels/{code}/statements",
    response_model=statements.StatementResult,
    responses=PROBLEMS,
)
def reconcile_statement(
    code: Code,
    upload: Annotated[ReadFirst[statements.StatementFile], Depends(_statement_file)],
    session: DbSession,
    who: Treasurer,
    dry_run: Annotated[bool, Query(description="check and show only; nothing is written")] = False,
    from_: FromDay = None,
    to: ToDay = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Reconcile the channel against the provider's statement.

    Columns (a header row names them; comma or semicolon; UTF-8 with or without BOM):
    `transaction_id`, `amount` (the channel's currency; a semicolon file may write `150,00`),
    `occurred_at` (ISO 8601; without an offset it is the organisation's wall clock; a date
    alone is the start of that day), and optionally `account_reference`, `msisdn`. Other
    columns are left aside and named in `ignored_columns`.

    Each line is matched to the channel's notification with its transaction id: the same
    amount counts as `matched` (a pending one is finished by the line: `settled`); another
    amount is listed in `amount_mismatches` and nothing is changed; no notification (the
    callback that never came): the line becomes a notification with source `statement`,
    matched to its payer or held in suspense like any other, listed in `created` with its
    status. The channel's booked notifications (matched, in suspense, to be refunded) of the
    period that no line names are `missing_in_statement`. The period is `from`..`to` (the
    organisation's days) where given, else the first to the last line's time.

    Sending the same statement again creates nothing again. `dry_run=true` answers the same
    (with the status each new line would get) and writes nothing. The file is read before any
    transaction, within bounds (8 MiB, 20,000 lines, 1,000 characters a value); a bad value
    refuses the whole file (422), each error naming its `row` and `column`."""
    content = upload.get()

    def operation() -> tuple[int, statements.StatementResult]:
        return 200, statements.reconcile(
            session, who.actor, code, content, dry_run=dry_run, from_on=from_, to_on=to
        )

    payload = {
        "sha256": content.sha256,
        "dry_run": dry_run,
        "from": from_.isoformat() if from_ else None,
        "to": to.isoformat() if to else None,
    }
    return run_idempotent(
        session,
        who,
        None if dry_run else idempotency_key,
        fingerprint("POST", f"/payment-channels/{code}/statements", payload),
        operation,
    )


@router.get(
    "/payment-channels/{code}/report",
    response_model=reports.ChannelReportRead,
    responses={404: {"description": "no such channel"}},
)
def channel_report(
    code: Code, session: DbSession, who: Reader, from_: FromDay = None, to: ToDay = None
) -> reports.ChannelReportRead:
    """The channel per day of the organisation (every day of `from`..`to`, by default the
    last seven days through today; at most 366): received (matched + suspense + refunded),
    matched, suspense, refunded, pending, refused, duplicates, from_statement and
    unreconciled (pending + conflicting duplicates: what the books cannot settle yet against
    the provider), each a count and an amount, and the period's totals. A notification's day
    is that of the provider's time. Whether the booked ones are on the provider's statement
    is what a dry run of `POST /payment-channels/{code}/statements` answers."""
    channel = service.get_channel(session, code)
    start, end = reports.period(from_, to, clock.session_today(session))
    return reports.report_read(reports.channel_report(session, channel, start, end))
