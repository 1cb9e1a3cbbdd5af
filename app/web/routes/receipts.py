"""Receipts: the entry form (posted at most once however often it is sent), the printable
confirmation with its number, the list, and reversal with a reason."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from starlette.responses import Response

from app.collections import service as collections
from app.collections.models import Collector, Receipt
from app.collections.vocabulary import Channel
from app.core.errors import DomainError, Forbidden
from app.core.money import MoneyError, format_minor
from app.core.roles import Role
from app.members.models import Member, TransportUnit
from app.schemes.models import Due, Scheme
from app.web import forms
from app.web.deps import DbSession, Form, Treasurer, WebRole, WebUser
from app.web.i18n import parse_amount_input
from app.web.routes import payments as payment_pages
from app.web.session import load_session
from app.web.templating import PREFIX, redirect, render, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)

Taker = Annotated[WebUser, Depends(WebRole(Role.treasurer, Role.collector))]
Viewer = Annotated[
    WebUser, Depends(WebRole(Role.admin, Role.treasurer, Role.auditor, Role.collector))
]

FIELDS = ("payer", "amount", "received_at", "channel", "collector_id", "reference")
# the service's field names -> this form's
SERVICE_FIELDS = {
    "member_id": "payer",
    "unit_id": "payer",
    "amount": "amount",
    "currency": "amount",
    "received_at": "received_at",
    "channel": "channel",
    "collector_id": "collector_id",
    "reference": "reference",
}


def _form(request: Request, db: DbSession, who: WebUser, **ctx: Any) -> Response:
    ctx.setdefault("errors", {})
    ctx.setdefault("form_key", forms.new_form_key())
    ctx["channels"] = Channel.values()
    ctx["collectors"] = (
        list(db.scalars(select(Collector).order_by(Collector.name)))
        if who.role is not Role.collector
        else []
    )
    # Kept in the browser's history (not no-store): the Back button shows this same form with
    # the same one-time key, so sending it again finds the receipt already posted.
    return render(
        request,
        "receipts/form.html",
        ctx,
        status=422 if ctx["errors"] else 200,
        cache="private, no-cache",
    )


@router.get("/receipts/new")
def new_receipt(request: Request, db: DbSession, who: Taker, member: str | None = None) -> Response:
    values = {
        "payer": (member or "")[:40],
        "received_at": forms.now_input(who.time_zone),  # the organisation's wall clock
        "channel": "cash",
    }
    return _form(request, db, who, values=values)


def _payer(db: DbSession, text: str) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """A member number, else a unit registration (exactly as written, then ignoring case)."""
    member = db.scalar(select(Member.id).where(Member.member_number == text))
    if member is not None:
        return member, None
    unit = db.scalar(select(TransportUnit.id).where(TransportUnit.registration == text))
    if unit is not None:
        return None, unit
    upper = text.upper()
    member = db.scalar(select(Member.id).where(Member.member_number == upper))
    if member is not None:
        return member, None
    return None, db.scalar(select(TransportUnit.id).where(TransportUnit.registration == upper))


@router.post("/receipts/new")
def post_receipt(request: Request, db: DbSession, who: Taker, form: Form) -> Response:
    values = forms.values_of(form, *FIELDS)
    errors: dict[str, str] = {}
    member_id = unit_id = None
    if not values["payer"]:
        errors["payer"] = translate(request, N_("Enter a member number or a unit registration."))
    else:
        member_id, unit_id = _payer(db, values["payer"])
        if member_id is None and unit_id is None:
            errors["payer"] = translate(
                request, N_("No member or transport unit has this number or registration.")
            )
    minor = 0
    try:
        # the reader's way of writing an amount (a decimal comma); the service checks the rest
        minor = parse_amount_input(values["amount"], who.currency, who.locale)
    except MoneyError as exc:
        errors["amount"] = translate(
            request,
            N_("Enter an amount such as %(example)s (%(detail)s)."),
            example=forms.amount_example(who.currency),
            detail=forms.say(request, exc.message),
        )
    received_at = forms.parse_local_datetime(values["received_at"], who.time_zone)
    if received_at is None:
        errors["received_at"] = translate(request, N_("Enter the date and time it was received."))
    if values["channel"] not in Channel.values():
        errors["channel"] = translate(request, N_("Choose one of the options."))
    collector_id: uuid.UUID | None = None
    if values["collector_id"]:
        try:
            collector_id = uuid.UUID(values["collector_id"])
        except ValueError:
            errors["collector_id"] = translate(request, N_("Choose one of the options."))
    if errors or received_at is None:
        return _form(request, db, who, values=values, errors=errors)
    raw = collections.ReceiptInput(
        member_id=member_id,
        unit_id=unit_id,
        amount=format_minor(minor, who.currency),
        currency=who.currency,
        received_at=received_at,
        channel=values["channel"],
        reference=values["reference"][:120] or None,
    )

    def operation() -> dict[str, Any]:
        # the API's POST /receipts does the same: who may post for which collector, the checks
        _, posted = collections.record_receipt(db, who.principal, raw, collector_id=collector_id)
        return {"id": str(posted.id), "number": posted.receipt_number}

    payload = {
        "member_id": member_id,
        "unit_id": unit_id,
        "amount": minor,
        "received_at": received_at.isoformat(),
        "channel": values["channel"],
        "collector_id": collector_id,
        "reference": values["reference"],
    }
    try:
        result = forms.run_once(
            db, who, forms.text(form, forms.FORM_KEY, 64), "receipts/new", payload, operation
        )
    except DomainError as exc:
        if isinstance(exc, Forbidden):  # another collector's: said where the collector is chosen
            refused = {"collector_id": forms.refusal(request, exc)}
        else:
            refused = forms.domain_errors(request, exc, SERVICE_FIELDS, "amount")
        return _form(request, db, who, values=values, errors=refused)
    load_session(request).add_flash(
        "info",
        translate(request, N_("Receipt number %(number)s was posted."), number=result["number"]),
    )
    return redirect(request, f"{PREFIX}/receipts/{result['id']}")


def _receipt_page(
    request: Request, db: DbSession, who: WebUser, receipt: Receipt, **ctx: Any
) -> Response:
    payer = (
        db.scalar(select(Member).where(Member.id == receipt.member_id))
        if receipt.member_id
        else db.scalar(select(TransportUnit).where(TransportUnit.id == receipt.unit_id))
    )
    allocations = collections.receipt_allocations(db, [receipt.id]).get(receipt.id, [])
    dues = {
        d.id: (d, code)
        for d, code in db.execute(
            select(Due, Scheme.code)
            .join(
                Scheme,
                (Scheme.organisation_id == Due.organisation_id) & (Scheme.id == Due.scheme_id),
            )
            .where(Due.id.in_([a[0] for a in allocations]))
        ).all()
    }
    collector = (
        db.scalar(select(Collector).where(Collector.id == receipt.collector_id))
        if receipt.collector_id
        else None
    )
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {})
    return render(
        request,
        "receipts/page.html",
        {
            "receipt": receipt,
            "payer": payer,
            "is_member": receipt.member_id is not None,
            "allocations": [(dues.get(d), amount) for d, amount in allocations],
            "collector": collector,
            "payment": payment_pages.receipt_payment(db, receipt.id),
            **ctx,
        },
        status=422 if ctx["errors"] else 200,
    )


@router.get("/receipts/{receipt_id}")
def receipt_page(request: Request, db: DbSession, who: Viewer, receipt_id: uuid.UUID) -> Response:
    return _receipt_page(request, db, who, collections.get_receipt(db, receipt_id, who.principal))


@router.post("/receipts/{receipt_id}/reverse")
def reverse_receipt(
    request: Request, db: DbSession, who: Treasurer, receipt_id: uuid.UUID, form: Form
) -> Response:
    receipt = collections.get_receipt(db, receipt_id)
    reason = forms.text(form, "reason", 500)
    if not reason:
        errors = {"reason": translate(request, N_("Say why this receipt is reversed."))}
        return _receipt_page(request, db, who, receipt, errors=errors)
    try:
        collections.reverse_receipt(db, who.actor, receipt.id, reason)
    except DomainError as exc:
        db.rollback()
        if exc.code == collections.ALREADY_REVERSED.code:  # sent twice: the first one did it
            load_session(request).add_flash(
                "info", translate(request, N_("This receipt was already reversed."))
            )
            return redirect(request, f"{PREFIX}/receipts/{receipt_id}")
        receipt = collections.get_receipt(db, receipt_id)
        return _receipt_page(
            request,
            db,
            who,
            receipt,
            errors={"reason": forms.refusal(request, exc)},
            values={"reason": reason},
        )
    load_session(request).add_flash(
        "info",
        translate(
            request, N_("Receipt number %(number)s was reversed."), number=receipt.receipt_number
        ),
    )
    return redirect(request, f"{PREFIX}/receipts/{receipt.id}")


@router.get("/receipts")
def list_receipts(
    request: Request, db: DbSession, who: Viewer, before: int | None = None
) -> Response:
    stmt = collections.receipts_seen(db, who.principal).limit(51)
    if before is not None:
        stmt = stmt.where(Receipt.receipt_number < before)
    rows = list(db.scalars(stmt))
    page = rows[:50]
    members = {
        m.id: m
        for m in db.scalars(
            select(Member).where(Member.id.in_([r.member_id for r in page if r.member_id]))
        )
    }
    units = {
        u.id: u
        for u in db.scalars(
            select(TransportUnit).where(
                TransportUnit.id.in_([r.unit_id for r in page if r.unit_id])
            )
        )
    }
    return render(
        request,
        "receipts/list.html",
        {
            "rows": page,
            "members": members,
            "units": units,
            "next": page[-1].receipt_number if len(rows) > 50 else None,
        },
    )
