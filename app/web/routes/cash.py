"""Collectors' cash and hand-overs: who holds cash not yet handed over, and the treasurer's
form that records a hand-over with what was counted (a shortfall or surplus is booked and
shown, never hidden). The form is written once however often it is sent."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from app.collections import cash
from app.collections.models import Collector, Handover
from app.core.errors import DomainError
from app.core.messages import Template
from app.core.money import MoneyError
from app.ledger import service as ledger
from app.ledger.models import Account
from app.web import forms
from app.web.deps import DbSession, Form, Reader, Treasurer, WebUser
from app.web.i18n import format_money, parse_amount_input
from app.web.session import load_session
from app.web.templating import PREFIX, redirect, render, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)

FIELDS = (
    "collector_id",
    "amount",
    "counted_amount",
    "to_account_id",
    "handed_over_at",
    "reference",
)
SERVICE_FIELDS = {f: f for f in FIELDS}
RECENT = 50

# the service's "holds less than this" (in minor units, as the API says it), said on this
# page with the money as the reader writes it
HOLDS_LESS = Template(
    "handover.held_is_less", N_("The collector holds %(held)s: hand over at most that.")
)


def _refused(request: Request, who: WebUser, exc: DomainError) -> dict[str, str]:
    """The service's refusal by field; more than the collector holds, said in money."""
    errors = forms.domain_errors(request, exc, SERVICE_FIELDS, "amount")
    for error in exc.errors:
        if error.message.code == cash.MORE_THAN_HELD.code:
            held = int(str(error.message.params["held"]))
            if held <= 0:
                errors.pop("amount", None)
                errors["collector_id"] = forms.say(request, cash.NOTHING_HELD())
            else:
                said = format_money(held, who.currency, who.locale)
                errors["amount"] = forms.say(request, HOLDS_LESS(held=said))
    return errors


def collectors_with_cash(db: DbSession) -> list[dict[str, Any]]:
    """Every collector with the cash its account holds now (most held first)."""
    rows = list(db.scalars(select(Collector).order_by(Collector.name, Collector.id)))
    balances = ledger.balances(db, [c.cash_account_id for c in rows])
    currencies = dict(
        db.execute(
            select(Account.id, Account.currency).where(
                Account.id.in_([c.cash_account_id for c in rows])
            )
        ).all()
    )
    out = [
        {
            "collector": c,
            "held": balances.get(c.cash_account_id, 0),
            "currency": currencies.get(c.cash_account_id, ""),
        }
        for c in rows
    ]
    return sorted(out, key=lambda r: (-r["held"], r["collector"].name))


def destinations(db: DbSession, currency: str) -> list[Account]:
    """Where cash can go: the service's own list (bank and treasury accounts open to manual
    use; never a collector's cash or another account a service keeps)."""
    return cash.handover_destinations(db, currency)


def _page(request: Request, db: DbSession, who: WebUser, **ctx: Any) -> Response:
    ctx.setdefault("errors", {})
    ctx.setdefault("form_key", forms.new_form_key())
    if "values" not in ctx:
        ctx["values"] = {"handed_over_at": forms.now_input(who.time_zone)}
    handovers = list(
        db.scalars(
            select(Handover)
            .order_by(Handover.handed_over_at.desc(), Handover.id.desc())
            .limit(RECENT)
        )
    )
    held = collectors_with_cash(db)
    accounts = destinations(db, who.currency)
    return render(
        request,
        "cash/handovers.html",
        {
            "held": held,
            "names": {r["collector"].id: r["collector"].name for r in held},
            "handovers": handovers,
            "accounts": accounts,
            "account_names": {a.id: f"{a.code} · {a.name}" for a in accounts},
            **ctx,
        },
        status=422 if ctx["errors"] else 200,
        # the Back button shows this same form with the same one-time key
        cache="private, no-cache",
    )


@router.get("/handovers")
def handovers(
    request: Request, db: DbSession, who: Reader, collector: str | None = None
) -> Response:
    ctx: dict[str, Any] = {}
    if collector:
        ctx["values"] = {
            "collector_id": collector[:40],
            "handed_over_at": forms.now_input(who.time_zone),
        }
    return _page(request, db, who, **ctx)


@router.post("/handovers")
def record_handover(request: Request, db: DbSession, who: Treasurer, form: Form) -> Response:
    """A collector's cash handed to a bank or treasury account, with what was counted."""
    values = forms.values_of(form, *FIELDS)
    errors: dict[str, str] = {}
    collector: Collector | None = None
    try:
        collector = cash.get_collector(db, uuid.UUID(values["collector_id"]))
    except (ValueError, DomainError):
        errors["collector_id"] = translate(request, N_("Choose a collector."))

    def money(name: str, *, allow_zero: bool) -> int | None:
        try:
            minor = parse_amount_input(values[name], who.currency, who.locale)
        except MoneyError as exc:
            errors[name] = translate(
                request,
                N_("Enter an amount such as %(example)s (%(detail)s)."),
                example=forms.amount_example(who.currency),
                detail=forms.say(request, exc.message),
            )
            return None
        if minor < 0 or (minor == 0 and not allow_zero):
            errors[name] = translate(request, N_("The amount must be greater than zero."))
            return None
        return minor

    # blank: everything the collector holds (worked out when the hand-over is written)
    amount = money("amount", allow_zero=False) if values["amount"] else None
    counted = money("counted_amount", allow_zero=True) if values["counted_amount"] else None
    if not values["counted_amount"]:
        errors["counted_amount"] = translate(request, N_("Enter what was counted."))
    to_account_id: uuid.UUID | None = None
    try:
        to_account_id = uuid.UUID(values["to_account_id"])
    except ValueError:
        errors["to_account_id"] = translate(request, N_("Choose where the cash goes."))
    handed_over_at = forms.parse_local_datetime(values["handed_over_at"], who.time_zone)
    if handed_over_at is None:
        errors["handed_over_at"] = translate(
            request, N_("Enter the date and time of the hand-over.")
        )
    if not values["reference"]:
        errors["reference"] = translate(
            request, N_("Enter a reference, e.g. the deposit slip or the count sheet number.")
        )
    if errors or collector is None or counted is None:
        return _page(request, db, who, values=values, errors=errors)
    assert to_account_id is not None and handed_over_at is not None

    def operation() -> dict[str, Any]:
        # the service checks it all (a blank amount is everything the collector holds), in
        # the write: a form sent again finds its first answer, not "no cash"
        draft = cash.HandoverDraft(
            collector_id=collector.id,
            amount=amount,
            counted_amount=counted,
            currency=who.currency,
            to_account_id=to_account_id,
            handed_over_at=handed_over_at,
            reference=values["reference"][:120],
        )
        return {"id": str(cash.hand_over(db, who.actor, draft).id)}

    payload = {
        "collector_id": collector.id,
        "amount": values["amount"],
        "counted_amount": counted,
        "to_account_id": to_account_id,
        "handed_over_at": handed_over_at.isoformat(),
        "reference": values["reference"][:120],
    }
    try:
        result = forms.run_once(
            db, who, forms.text(form, forms.FORM_KEY, 64), "handovers", payload, operation
        )
    except DomainError as exc:
        return _page(request, db, who, values=values, errors=_refused(request, who, exc))
    load_session(request).add_flash("info", translate(request, N_("The hand-over was recorded.")))
    return redirect(request, f"{PREFIX}/handovers/{result['id']}")


@router.get("/handovers/{handover_id}")
def handover_page(request: Request, db: DbSession, who: Reader, handover_id: uuid.UUID) -> Response:
    handover = cash.get_handover(db, handover_id)
    collector = cash.get_collector(db, handover.collector_id)
    account = ledger.get_account(db, handover.to_account_id)
    return render(
        request,
        "cash/handover.html",
        {"h": handover, "collector": collector, "account": account},
    )
