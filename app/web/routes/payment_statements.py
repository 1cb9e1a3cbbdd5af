"""Reconciling a payment channel against its provider's statement on the web (issue 14), and
the channel's report per day.

The statement page works as the receipts upload does (app/web/routes/uploads.py): the file is
checked first (a dry run, nothing written) and its result shown (lines on the statement,
callbacks that never came, amounts that differ, notifications the statement does not show);
the file then goes back with the page to be reconciled, once per form. Both call the API's
service (`app.payments.statements.reconcile`), so they cannot disagree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response

from app.core.clock import session_today
from app.core.errors import DomainError
from app.core.messages import Message
from app.core.money import MoneyError, format_minor, parse_minor
from app.payments import reports, service, statements
from app.payments.vocabulary import NotificationStatus
from app.web import forms, problems
from app.web.csvfile import csv_response
from app.web.deps import Bookkeeper, DbSession, Form, Reader, WebUser
from app.web.templating import PREFIX, render, request_locale, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)

ChannelCode = Annotated[str, Path(max_length=32)]
MAX_UPLOAD = 2 * 1024 * 1024  # a web upload; bigger statements go through the API
STATUS_LABELS = NotificationStatus.labels()
RESULTS = {
    "matched": N_("on the statement"),
    "settled": N_("finished by the statement"),
    "created": N_("added from the statement"),
    "amount_mismatch": N_("amount differs"),
}
RESULTS_DRY = {
    **RESULTS,
    "settled": N_("would be finished"),
    "created": N_("would be added"),
}


# -- the statement ---------------------------------------------------------------------------


async def _content(form: Any) -> tuple[bytes | None, str]:
    """The file chosen (and its name), or the file a dry run sent back with its page."""
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        return await upload.read(MAX_UPLOAD + 1), upload.filename[:200]
    carried = form.get("content")
    if isinstance(carried, str) and carried:
        try:
            return base64.b64decode(carried.encode(), validate=True), forms.text(
                form, "filename", 200
            )
        except (binascii.Error, ValueError):
            return None, ""
    return None, ""


def _helpers(request: Request, currency: str) -> dict[str, Any]:
    locale = request_locale(request)

    def minor(text: str | None) -> int | None:
        try:
            return parse_minor(text, currency) if text else None
        except MoneyError:
            return None

    def reason(item: Any) -> str:
        code = getattr(item, "reason_code", None)
        said = Message.of(code, getattr(item, "reason_params", None)) if code else None
        if said is not None:
            return problems.say(locale, said)
        return getattr(item, "reason", None) or ""

    return {"minor": minor, "reason": reason, "status_labels": STATUS_LABELS}


def _page(request: Request, db: DbSession, who: WebUser, code: str, **ctx: Any) -> Response:
    channel = service.get_channel(db, code)
    ctx.setdefault("errors", {})
    ctx.setdefault("problems", [])
    ctx.setdefault("values", {})
    ctx.setdefault("result", None)
    ctx.setdefault("form_key", forms.new_form_key())
    ctx["channel"] = channel
    ctx["results"] = RESULTS_DRY if ctx["result"] and ctx["result"].dry_run else RESULTS
    ctx.update(_helpers(request, channel.currency))
    return render(request, "payments/statement.html", ctx, status=422 if ctx["errors"] else 200)


@router.get("/payment-channels/{code}/statements")
def statement_form(request: Request, db: DbSession, who: Bookkeeper, code: ChannelCode) -> Response:
    return _page(request, db, who, code)


@router.post("/payment-channels/{code}/statements")
async def statement_upload(
    request: Request, db: DbSession, who: Bookkeeper, form: Form, code: ChannelCode
) -> Response:
    content, filename = await _content(form)
    values = {"from": forms.text(form, "from", 10), "to": forms.text(form, "to", 10)}
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        days[name] = forms.parse_date(values[name])
        if values[name] and days[name] is None:
            errors[name] = translate(request, N_("Enter a date."))
    if content is None or not content.strip():
        errors["file"] = translate(request, N_("Choose a CSV file."))
    elif len(content) > MAX_UPLOAD:
        errors["file"] = translate(
            request, N_("The file is larger than 2 MB: split it, or use the API or the CLI.")
        )
    if errors or content is None:
        return _page(request, db, who, code, errors=errors, values=values)
    dry_run = forms.text(form, "action", 20) != "post"
    digest = hashlib.sha256(content).hexdigest()
    data = content

    def work() -> statements.StatementResult:
        statement = statements.read_statement(data, filename or "upload")  # bounded
        if dry_run:
            return statements.reconcile(
                db, who.actor, code, statement,
                dry_run=True, from_on=days["from"], to_on=days["to"],
            )  # fmt: skip
        answer = forms.run_once(
            db,
            who,
            forms.text(form, forms.FORM_KEY, 64),
            f"payment-channels/{code}/statements",
            {"sha256": digest, "from": values["from"], "to": values["to"]},
            lambda: statements.reconcile(
                db, who.actor, code, statement,
                dry_run=False, from_on=days["from"], to_on=days["to"],
            ).model_dump(mode="json"),
        )  # fmt: skip
        return statements.StatementResult.model_validate(answer)

    try:
        result = await run_in_threadpool(work)
    except DomainError as exc:
        if exc.status == 404:
            raise
        locale = request_locale(request)
        said = [problems.say(locale, e.message) for e in exc.errors] or [
            problems.detail(locale, exc)
        ]
        errors = forms.domain_errors(request, exc, {"file": "file", "from": "from", "to": "to"})
        return _page(
            request, db, who, code, errors=errors, problems=said, values=values, filename=filename
        )
    return _page(
        request,
        db,
        who,
        code,
        result=result,
        values=values,
        content=base64.b64encode(content).decode() if dry_run else "",
        filename=filename,
    )


# -- the report per day ----------------------------------------------------------------------


@router.get("/payment-channels/{code}/report")
def report_page(
    request: Request,
    db: DbSession,
    who: Reader,
    code: ChannelCode,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: Annotated[str | None, Query(max_length=10)] = None,
    format: Annotated[str, Query(max_length=8)] = "html",
) -> Response:
    """The channel's figures per day of the organisation, for a chosen period."""
    channel = service.get_channel(db, code)
    today = session_today(db)
    errors: dict[str, str] = {}
    try:
        start, end = reports.period(
            forms.parse_date(from_ or ""), forms.parse_date(to or ""), today
        )
    except DomainError as exc:
        errors = forms.domain_errors(request, exc, {"from": "from", "to": "to"}, "from")
        start, end = reports.period(None, None, today)
    report = reports.channel_report(db, channel, start, end)
    c = channel.currency
    if format == "csv":
        header = ["day"]
        for name in reports.FIGURES:
            header += [f"{name}_count", f"{name}_amount"]
        return csv_response(
            f"payments-{channel.code}-{start}-{end}.csv",
            [*header, "currency"],
            (
                [
                    str(d.day) if d.day else "total",
                    *(
                        v
                        for name in reports.FIGURES
                        for v in (
                            getattr(d, name).count,
                            format_minor(getattr(d, name).amount, c),
                        )
                    ),
                    c,
                ]
                for d in [*report.days, report.totals]
            ),
        )
    return render(
        request,
        "payments/statement_report.html",
        {"channel": channel, "report": report, "errors": errors, "start": start, "end": end},
        status=422 if errors else 200,
    )
