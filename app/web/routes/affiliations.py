"""Affiliations: register selected members with a fund (a batch, written once however often
the form is sent), see the batch, download its file, submit it through the fund's adapter,
and record the fund's answer per member (accepted with the affiliation number, or rejected
with a reason)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import and_, select
from starlette.responses import Response, StreamingResponse

from app.core.errors import DomainError, NotFound
from app.core.roles import Role
from app.funds import service as funds
from app.funds.adapters import csv_file, json_file
from app.members.models import Member, MemberAffiliation
from app.remittances import access
from app.remittances import affiliations as service
from app.remittances.answers import reason_missing
from app.remittances.documents import NO_FORMAT, stream_affiliation_file
from app.remittances.lifecycle import LineStatus
from app.remittances.models import AffiliationLine
from app.remittances.service import FundUnreachable
from app.web import forms
from app.web.deps import DbSession, Form, WebRole, WebUser
from app.web.session import load_session
from app.web.templating import PREFIX, redirect, render, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)

Viewer = Annotated[
    WebUser, Depends(WebRole(Role.admin, Role.treasurer, Role.auditor, Role.fund_office))
]
Preparer = Annotated[WebUser, Depends(WebRole(Role.admin, Role.treasurer))]
Answerer = Annotated[WebUser, Depends(WebRole(Role.treasurer, Role.fund_office))]

FORMATS = {
    "csv": (csv_file.render, csv_file.MEDIA_TYPE),
    "json": (json_file.render, json_file.MEDIA_TYPE),
}
CANDIDATES = 500


def candidates(db: DbSession, fund_id: uuid.UUID) -> list[Member]:
    """Members with no affiliation number at the fund and no request waiting for it."""
    affiliated = select(MemberAffiliation.member_id).where(MemberAffiliation.fund_id == fund_id)
    waiting = select(AffiliationLine.member_id).where(
        AffiliationLine.fund_id == fund_id, AffiliationLine.status == LineStatus.pending
    )
    return list(
        db.scalars(
            select(Member)
            .where(
                Member.status == "active",
                Member.id.not_in(affiliated),
                Member.id.not_in(waiting),
            )
            .order_by(Member.member_number)
            .limit(CANDIDATES)
        )
    )


def _list_page(
    request: Request, db: DbSession, who: WebUser, fund: str | None, **ctx: Any
) -> Response:
    scope = access.fund_scope(who.principal)
    fund_list = [f for f in funds.list_funds(db) if scope is None or f.code == scope]
    codes = {f.id: f.code for f in fund_list}
    rows, _ = service.affiliation_batches(db, who.principal, limit=100)
    batches = [b for b, _ in rows]
    chosen = next((f for f in fund_list if f.code == fund), None)
    ctx.setdefault("errors", {})
    ctx.setdefault("selected", set())
    ctx.setdefault("form_key", forms.new_form_key())
    return render(
        request,
        "affiliations/list.html",
        {
            "funds": fund_list,
            "codes": codes,
            "batches": batches,
            "fund": chosen,
            "members": candidates(db, chosen.id)
            if chosen and who.can("admin", "treasurer")
            else [],
            "limit": CANDIDATES,
            **ctx,
        },
        status=422 if ctx["errors"] else 200,
        cache="private, no-cache",
    )


@router.get("/affiliations")
def list_affiliations(
    request: Request, db: DbSession, who: Viewer, fund: str | None = None
) -> Response:
    return _list_page(request, db, who, (fund or "")[:32] or None)


@router.post("/affiliations/new")
def create_affiliations(request: Request, db: DbSession, who: Preparer, form: Form) -> Response:
    fund_code = forms.text(form, "fund_code", 32)
    chosen: list[uuid.UUID] = []
    for value in form.getlist("member"):
        try:
            chosen.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    selected = {str(m) for m in chosen}
    if not chosen:
        errors = {"member": translate(request, N_("Choose at least one member."))}
        return _list_page(request, db, who, fund_code, errors=errors, selected=selected)
    try:
        result = forms.run_once(
            db,
            who,
            forms.text(form, forms.FORM_KEY, 64),
            "affiliations/new",
            {"fund_code": fund_code, "member_ids": [str(m) for m in chosen]},
            lambda: {
                "id": str(
                    service.create_affiliation_batch(
                        db, who.actor, fund_code=fund_code, member_ids=chosen
                    ).id
                )
            },
        )
    except DomainError as exc:
        errors = forms.domain_errors(request, exc, {"fund_code": "fund_code"}, "member")
        return _list_page(request, db, who, fund_code, errors=errors, selected=selected)
    load_session(request).add_flash(
        "info", translate(request, N_("The affiliation batch was created."))
    )
    return redirect(request, f"{PREFIX}/affiliations/{result['id']}")


def _batch_page(
    request: Request, db: DbSession, who: WebUser, batch_id: uuid.UUID, **ctx: Any
) -> Response:
    batch = service.affiliation_batch(db, who.principal, batch_id)
    fund = service.fund_of(db, batch)
    rows = db.execute(
        select(AffiliationLine, Member)
        .join(
            Member,
            and_(
                Member.organisation_id == AffiliationLine.organisation_id,
                Member.id == AffiliationLine.member_id,
            ),
        )
        .where(AffiliationLine.batch_id == batch.id)
        .order_by(AffiliationLine.line_number)
    ).all()
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {})
    return render(
        request,
        "affiliations/batch.html",
        {
            "batch": batch,
            "fund": fund,
            "rows": rows,
            "pending": [r for r in rows if r[0].status == LineStatus.pending],
            "steps": batch.lifecycle.steps(batch.status),
            "formats": list(FORMATS),
            **ctx,
        },
        status=422 if ctx["errors"] else 200,
    )


@router.get("/affiliations/{batch_id}")
def batch_page(request: Request, db: DbSession, who: Viewer, batch_id: uuid.UUID) -> Response:
    return _batch_page(request, db, who, batch_id)


@router.get("/affiliations/{batch_id}/file")
def download(
    request: Request, db: DbSession, who: Viewer, batch_id: uuid.UUID, format: str = "csv"
) -> Response:
    if format not in FORMATS:
        raise NotFound(NO_FORMAT(format=format))
    batch = service.affiliation_batch(db, who.principal, batch_id)
    render_file, media_type = FORMATS[format]
    db.commit()  # the download reads with its own session, as the API's does
    return StreamingResponse(
        stream_affiliation_file(
            request.app.state.session_factory, batch.organisation_id, batch.id, render_file
        ),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{batch.reference}.{format}"'},
    )


@router.post("/affiliations/{batch_id}/submit")
def submit(
    request: Request, db: DbSession, who: Preparer, batch_id: uuid.UUID, form: Form
) -> Response:
    """Hand the batch to the fund's adapter. Sent twice, the second says it is submitted."""
    try:
        service.submit_affiliations(db, who.actor, batch_id)
    except (DomainError, FundUnreachable) as exc:
        db.rollback()
        load_session(request).add_flash("error", forms.refusal(request, exc))
        return redirect(request, f"{PREFIX}/affiliations/{batch_id}")
    load_session(request).add_flash(
        "info", translate(request, N_("The batch was submitted to the fund."))
    )
    return redirect(request, f"{PREFIX}/affiliations/{batch_id}")


@router.post("/affiliations/{batch_id}/acknowledgement")
def acknowledge(
    request: Request, db: DbSession, who: Answerer, batch_id: uuid.UUID, form: Form
) -> Response:
    """The fund's answer for the members decided on the form; the others stay pending."""
    batch = service.affiliation_batch(db, who.principal, batch_id)
    pending = list(
        db.scalars(
            select(AffiliationLine)
            .where(
                AffiliationLine.batch_id == batch.id,
                AffiliationLine.status == LineStatus.pending,
            )
            .order_by(AffiliationLine.line_number)
        )
    )
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    decisions: list[service.AffiliationDecision] = []
    for line in pending:
        key = str(line.member_id)
        decision = forms.text(form, f"decision:{key}", 20)
        number = forms.text(form, f"number:{key}", 64)
        reason = forms.text(form, f"reason:{key}", 500)
        values.update(
            {f"decision:{key}": decision, f"number:{key}": number, f"reason:{key}": reason}
        )
        if decision == "accepted":
            if not number:
                errors[f"number:{key}"] = translate(
                    request, N_("Enter the affiliation number the fund gave.")
                )
            decisions.append(service.AffiliationDecision(line.member_id, "accepted", number))
        elif decision == "rejected":
            if reason_missing(decision, reason):
                errors[f"reason:{key}"] = translate(request, N_("A rejection needs a reason."))
            decisions.append(service.AffiliationDecision(line.member_id, "rejected", reason=reason))
    if not decisions and not errors:
        errors["answer"] = translate(request, N_("Decide on at least one member."))
    if errors:
        return _batch_page(request, db, who, batch_id, errors=errors, values=values)
    try:
        service.acknowledge_affiliations(db, who.actor, batch.id, decisions, caller=who.principal)
    except DomainError as exc:
        db.rollback()
        return _batch_page(
            request,
            db,
            who,
            batch_id,
            errors={"answer": forms.refusal(request, exc)},
            values=values,
        )
    load_session(request).add_flash(
        "info", translate(request, N_("The fund's answer was recorded."))
    )
    return redirect(request, f"{PREFIX}/affiliations/{batch_id}")
