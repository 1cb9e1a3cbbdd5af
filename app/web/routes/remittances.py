"""Remittances: create a batch for a fund, review its lines, seal, submit, download each
format, record the fund's acknowledgement (per line, or a pain.002 file) and settlement."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from starlette.datastructures import UploadFile
from starlette.responses import Response, StreamingResponse

from app.core.errors import Conflict, DomainError, NotFound
from app.core.money import MoneyError
from app.core.roles import Role
from app.funds import service as funds
from app.funds.adapters import pain002
from app.funds.registry import LineAnswer
from app.members.models import Member
from app.remittances import access, service, settlement
from app.remittances.answers import reason_missing
from app.remittances.documents import FILE_FORMATS, NO_FORMAT
from app.remittances.models import RemittanceLine
from app.web import forms
from app.web.deps import DbSession, Form, WebRole, WebUser
from app.web.i18n import parse_amount_input
from app.web.routes.dashboard import today
from app.web.session import load_session
from app.web.templating import PREFIX, redirect, render, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)

Viewer = Annotated[
    WebUser, Depends(WebRole(Role.admin, Role.treasurer, Role.auditor, Role.fund_office))
]
Preparer = Annotated[WebUser, Depends(WebRole(Role.admin, Role.treasurer))]
Answerer = Annotated[WebUser, Depends(WebRole(Role.treasurer, Role.fund_office))]

LINES_SHOWN = 500


def _list_page(request: Request, db: DbSession, who: WebUser, **ctx: Any) -> Response:
    rows, _ = service.batches(db, who.principal, limit=100)
    fund_list = funds.list_funds(db)
    codes = {f.id: f.code for f in fund_list}
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {"through": today(who).isoformat()})
    ctx.setdefault("form_key", forms.new_form_key())
    return render(
        request,
        "remittances/list.html",
        {"batches": [b for b, _ in rows], "codes": codes, "funds": fund_list, **ctx},
        status=422 if ctx["errors"] else 200,
    )


@router.get("/remittances")
def list_batches(request: Request, db: DbSession, who: Viewer) -> Response:
    return _list_page(request, db, who)


@router.post("/remittances/new")
def create_batch(request: Request, db: DbSession, who: Preparer, form: Form) -> Response:
    values = forms.values_of(form, "fund_code", "through")
    errors: dict[str, str] = {}
    through = forms.parse_date(values["through"])
    if not values["fund_code"]:
        errors["fund_code"] = translate(request, N_("Choose a fund."))
    if through is None:
        errors["through"] = translate(request, N_("Enter a date."))
    if errors or through is None:
        return _list_page(request, db, who, values=values, errors=errors)
    try:
        result = forms.run_once(
            db,
            who,
            forms.text(form, forms.FORM_KEY, 64),
            "remittances/new",
            {"fund_code": values["fund_code"], "through": str(through)},
            lambda: {
                "id": str(
                    service.create_batch(
                        db, who.actor, fund_code=values["fund_code"], through=through
                    ).id
                )
            },
        )
    except DomainError as exc:
        errors = forms.domain_errors(
            request, exc, {"fund_code": "fund_code", "through": "through"}, "fund_code"
        )
        return _list_page(request, db, who, values=values, errors=errors)
    return redirect(request, f"{PREFIX}/remittances/{result['id']}")


def _batch_page(
    request: Request, db: DbSession, who: WebUser, batch_id: uuid.UUID, **ctx: Any
) -> Response:
    batch = service.batch(db, who.principal, batch_id)
    fund = service.fund_of(db, batch)
    lines = list(
        db.scalars(
            select(RemittanceLine)
            .where(RemittanceLine.batch_id == batch.id)
            .order_by(RemittanceLine.line_number)
            .limit(LINES_SHOWN + 1)
        )
    )
    names = {
        m.id: m
        for m in db.scalars(select(Member).where(Member.id.in_({ln.member_id for ln in lines})))
    }
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {"settled_on": today(who).isoformat()})
    return render(
        request,
        "remittances/batch.html",
        {
            "batch": batch,
            "fund": fund,
            "lines": lines[:LINES_SHOWN],
            "more": len(lines) > LINES_SHOWN,
            "names": names,
            "formats": list(FILE_FORMATS),
            "accepted_amount": batch.accepted_sum,
            "steps": batch.lifecycle.steps(batch.status),
            "has_file": access.has_file(batch),
            **ctx,
        },
        status=422 if ctx["errors"] else 200,
    )


@router.get("/remittances/{batch_id}")
def batch_page(request: Request, db: DbSession, who: Viewer, batch_id: uuid.UUID) -> Response:
    return _batch_page(request, db, who, batch_id)


def _step(
    request: Request, db: DbSession, who: WebUser, batch_id: uuid.UUID, done: str, act: Any
) -> Response:
    """Seal, cancel or submit. Sent twice, the second finds the batch moved on and says so."""
    try:
        act()
    except DomainError as exc:
        db.rollback()
        load_session(request).add_flash("error", forms.refusal(request, exc))
        return redirect(request, f"{PREFIX}/remittances/{batch_id}")
    load_session(request).add_flash("info", done)
    return redirect(request, f"{PREFIX}/remittances/{batch_id}")


@router.post("/remittances/{batch_id}/seal")
def seal(
    request: Request, db: DbSession, who: Preparer, batch_id: uuid.UUID, form: Form
) -> Response:
    return _step(
        request,
        db,
        who,
        batch_id,
        translate(request, N_("The batch is sealed.")),
        lambda: service.seal(db, who.actor, batch_id),
    )


@router.post("/remittances/{batch_id}/cancel")
def cancel(
    request: Request, db: DbSession, who: Preparer, batch_id: uuid.UUID, form: Form
) -> Response:
    reason = forms.optional(form, "reason", 500)
    return _step(
        request,
        db,
        who,
        batch_id,
        translate(request, N_("The batch is cancelled; its contributions are owed again.")),
        lambda: service.cancel(db, who.actor, batch_id, reason),
    )


@router.post("/remittances/{batch_id}/submit")
def submit(
    request: Request, db: DbSession, who: Preparer, batch_id: uuid.UUID, form: Form
) -> Response:
    failure: dict[str, str] = {}

    def act() -> None:
        try:
            service.submit(db, who.actor, batch_id)
        except service.FundUnreachable as exc:
            failure["error"] = exc.detail
            raise

    response = _step(
        request,
        db,
        who,
        batch_id,
        translate(request, N_("The batch was submitted to the fund.")),
        act,
    )
    if "error" in failure:
        service.record_failed_delivery(db, who.actor, batch_id, failure["error"])
    return response


@router.get("/remittances/{batch_id}/file")
def download(
    request: Request, db: DbSession, who: Viewer, batch_id: uuid.UUID, format: str = "csv"
) -> Response:
    if format not in FILE_FORMATS:
        raise NotFound(NO_FORMAT(format=format))
    try:
        file = service.batch_file(db, who.principal, batch_id, format)
    except Conflict as exc:  # a draft or cancelled batch has no file: said on its page
        load_session(request).add_flash("error", forms.refusal(request, exc))
        return redirect(request, f"{PREFIX}/remittances/{batch_id}")
    db.commit()
    stream = service.stream_file(
        request.app.state.session_factory,
        file.organisation_id,
        file.batch_id,
        file.render,
        file.config,
    )
    return StreamingResponse(
        stream,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


@router.post("/remittances/{batch_id}/acknowledgement")
async def acknowledge(
    request: Request, db: DbSession, who: Answerer, batch_id: uuid.UUID, form: Form
) -> Response:
    from starlette.concurrency import run_in_threadpool

    upload = form.get("pain002")
    document = (
        await upload.read(2 * 1024 * 1024)
        if isinstance(upload, UploadFile) and upload.filename
        else None
    )
    decisions = {
        key.removeprefix("decision:"): str(value)
        for key, value in form.multi_items()
        if key.startswith("decision:")
    }
    reasons = {
        key.removeprefix("reason:"): str(value).strip()[:500]
        for key, value in form.multi_items()
        if key.startswith("reason:")
    }
    return await run_in_threadpool(
        _acknowledge, request, db, who, batch_id, document, decisions, reasons
    )


def _acknowledge(
    request: Request,
    db: DbSession,
    who: WebUser,
    batch_id: uuid.UUID,
    document: bytes | None,
    decisions: dict[str, str],
    reasons: dict[str, str],
) -> Response:
    errors: dict[str, str] = {}
    try:
        if document:
            report = pain002.parse_pain002(document)
            batch = service.batch(db, who.principal, batch_id)
            answers = settlement.answers_from_pain002(db, batch, report)
            settlement.acknowledge(
                db,
                who.actor,
                batch_id,
                answers,
                source="pain.002",
                document=document.decode("utf-8", errors="replace"),
                message_id=report.message_id,
                caller=who.principal,
                field_prefix="TxInfAndSts",
            )
        else:
            answers = []
            for e2e, decision in decisions.items():
                if decision not in ("accepted", "rejected"):
                    continue
                reason = reasons.get(e2e) or None
                if reason_missing(decision, reason):
                    errors[f"reason:{e2e}"] = translate(request, N_("A rejection needs a reason."))
                answers.append(LineAnswer(e2e, cast(Any, decision), reason))
            if not answers and not errors:
                errors["pain002"] = translate(
                    request, N_("Decide on the lines, or choose a pain.002 file.")
                )
            if errors:
                return _batch_page(
                    request,
                    db,
                    who,
                    batch_id,
                    errors=errors,
                    values={
                        **{f"reason:{k}": v for k, v in reasons.items()},
                        **{f"decision:{k}": v for k, v in decisions.items()},
                    },
                )
            settlement.acknowledge(
                db, who.actor, batch_id, answers, source="json", caller=who.principal
            )
    except DomainError as exc:
        db.rollback()
        return _batch_page(
            request, db, who, batch_id, errors={"pain002": forms.refusal(request, exc)}
        )
    load_session(request).add_flash(
        "info", translate(request, N_("The fund's answer was recorded."))
    )
    return redirect(request, f"{PREFIX}/remittances/{batch_id}")


@router.post("/remittances/{batch_id}/settlement")
def settle(
    request: Request, db: DbSession, who: Answerer, batch_id: uuid.UUID, form: Form
) -> Response:
    batch = service.batch(db, who.principal, batch_id)
    values = forms.values_of(form, "amount", "settled_on", "reference")
    errors: dict[str, str] = {}
    amount = 0
    try:
        amount = parse_amount_input(values["amount"], batch.currency, who.locale)
        if amount <= 0:
            errors["amount"] = translate(request, N_("The amount must be greater than zero."))
    except MoneyError as exc:
        errors["amount"] = forms.say(request, exc.message)
    settled_on: date | None = forms.parse_date(values["settled_on"])
    if settled_on is None:
        errors["settled_on"] = translate(request, N_("Enter a date."))
    if not values["reference"]:
        errors["reference"] = translate(request, N_("Enter the bank or transfer reference."))
    if errors or settled_on is None:
        return _batch_page(request, db, who, batch_id, errors=errors, values=values)
    try:
        settlement.settle(
            db,
            who.actor,
            batch_id,
            amount=amount,
            settled_on=settled_on,
            reference=values["reference"][:140],
            caller=who.principal,
        )
    except DomainError as exc:
        db.rollback()
        errors = forms.domain_errors(
            request,
            exc,
            {"amount": "amount", "settled_on": "settled_on", "reference": "reference"},
            "amount",
        )
        return _batch_page(request, db, who, batch_id, errors=errors, values=values)
    load_session(request).add_flash("info", translate(request, N_("The settlement was recorded.")))
    return redirect(request, f"{PREFIX}/remittances/{batch_id}")
