"""Mobile money on the web (issue 14): the payment channels (an administrator opens one and
sees its secret on that answer only), each channel's notifications, the treasurer's suspense
queue (a payment matched to a member number or plate, or marked to be refunded with a reason,
each once per form), and one payment with everything kept as it arrived.

Every write calls the same service functions as the API (`app.payments.service`), in the
request's one transaction; a payment that has left suspense meanwhile is said, not a 500.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.collections import rounds
from app.collections.models import Receipt
from app.core.errors import DomainError, NotFound
from app.core.money import MoneyError
from app.core.pagination import decode_cursor, encode_cursor
from app.core.roles import Role
from app.ledger import service as ledger
from app.ledger.models import AccountType
from app.payments import registry, service
from app.payments.models import PaymentChannel, PaymentNotification
from app.payments.router import inbound_url
from app.payments.vocabulary import NotificationStatus, ProviderStatus
from app.web import forms
from app.web.deps import Bookkeeper, DbSession, Form, Reader, WebRole, WebUser
from app.web.i18n import format_money
from app.web.session import load_session
from app.web.templating import PREFIX, redirect, render, translate
from app.web.vocabulary import N_

router = APIRouter(prefix=PREFIX)

Admin = Annotated[WebUser, Depends(WebRole(Role.admin))]
ChannelCode = Annotated[str, Path(max_length=32)]

PAGE = 50
QUEUE = f"{PREFIX}/payments/suspense"
CHANNEL_FIELDS = ("code", "adapter", "config")
STATUS_LABELS = NotificationStatus.labels()
PROVIDER_LABELS = ProviderStatus.labels()
SOURCES = {
    "callback": N_("the provider's notification"),
    "poll": N_("asking the provider (a status poll)"),
    "statement": N_("the provider's statement"),
}
# What the form suggests for each adapter's settings (and uses when they are left empty),
# unless the adapter says its own (`default_config`): the keys it takes, with the provider's
# sandbox where there is one, and blanks for what only the cooperative knows (a shortcode, API
# credentials), which the adapter refuses until they are filled in.
DEFAULT_CONFIG: dict[str, dict[str, Any]] = {
    "generic_json": {},
    "mpesa_c2b": {"shortcode": "", "allowed_networks": [], "refuse_unknown_reference": False},
    "mtn_momo": {
        "base_url": "https://sandbox.momodeveloper.mtn.com",
        "target_environment": "sandbox",
        "api_user": "",
        "api_key": "",
        "subscription_key": "",
        "confirm_by_poll": False,
        "allowed_networks": [],
        "refuse_unknown_reference": False,
    },
}
# every adapter takes `refuse_unknown_reference` (app/payments/schemas.py)
FALLBACK_CONFIG: dict[str, Any] = {"refuse_unknown_reference": False}


def default_config(name: str) -> dict[str, Any]:
    """The settings the form suggests (and uses when left empty) for adapter `name`."""
    try:
        given = getattr(registry.get(name), "default_config", None)
    except (DomainError, ImportError, AttributeError, TypeError):
        given = None  # an adapter that does not load: the service says so when it is chosen
    if isinstance(given, dict):
        return dict(given)
    return dict(DEFAULT_CONFIG.get(name, FALLBACK_CONFIG))


def _said_config(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2, ensure_ascii=False)


def _shown_config(config: dict[str, Any]) -> str:
    """A channel's settings as its page shows them: credentials (`api_key`,
    `subscription_key`, anything named like a secret, password or token) as dots."""
    hidden = re.compile(r"(_key$|secret|password|token)", re.I)
    shown = {k: "••••••" if hidden.search(k) and v else v for k, v in config.items()}
    return json.dumps(shown, ensure_ascii=False, sort_keys=True)


def _said_money(minor: int | None, currency: str | None, locale: str) -> str:
    if minor is None:
        return ""
    try:
        return format_money(minor, currency or "", locale)
    except (MoneyError, ValueError, KeyError):
        return f"{minor} {currency or ''}".strip()


# -- what the pages show of notifications ----------------------------------------------------------


def _page_of(
    db: Session,
    *,
    channel_id: uuid.UUID | None = None,
    status: str | None = None,
    cursor: str | None = None,
) -> tuple[list[PaymentNotification], str | None]:
    """Notifications, newest first, one page after `cursor` (a cursor this list did not give
    starts again at the first page)."""
    stmt = select(PaymentNotification).order_by(
        PaymentNotification.received_at.desc(), PaymentNotification.id.desc()
    )
    if channel_id is not None:
        stmt = stmt.where(PaymentNotification.channel_id == channel_id)
    if status is not None:
        stmt = stmt.where(PaymentNotification.status == status)
    try:
        after = decode_cursor(cursor or None, 2)
    except DomainError:
        after = None
    if after:
        stmt = stmt.where(
            tuple_(PaymentNotification.received_at, PaymentNotification.id) < tuple_(*after)
        )
    rows = list(db.scalars(stmt.limit(PAGE + 1)))
    page = rows[:PAGE]
    nxt = encode_cursor([page[-1].received_at, page[-1].id]) if len(rows) > PAGE else None
    return page, nxt


def _views(
    request: Request, db: Session, who: WebUser, rows: Sequence[PaymentNotification]
) -> list[dict[str, Any]]:
    """Each notification with what the pages say of it: its channel's code, its amount and its
    reason in the reader's language, its receipt's number."""
    codes = dict(
        db.execute(
            select(PaymentChannel.id, PaymentChannel.code).where(
                PaymentChannel.id.in_({r.channel_id for r in rows})
            )
        ).all()
    )
    numbers = dict(
        db.execute(
            select(Receipt.id, Receipt.receipt_number).where(
                Receipt.id.in_({r.receipt_id for r in rows if r.receipt_id})
            )
        ).all()
    )
    out = []
    for r in rows:
        reason = service.reason_of(r)
        out.append(
            {
                "n": r,
                "channel": codes.get(r.channel_id, ""),
                "amount": _said_money(r.amount, r.currency, who.locale),
                "reason": forms.say(request, reason) if reason is not None else "",
                "receipt_number": numbers.get(r.receipt_id) if r.receipt_id else None,
                "status_label": STATUS_LABELS.get(r.status, r.status),
                "when": r.occurred_at or r.received_at,
                # never booked (another currency): it can only be refunded
                "can_match": r.journal_id is not None,
            }
        )
    return out


def _status(value: str | None) -> str | None:
    """A status filter the page offers, or none (a tampered value shows everything)."""
    return value if value in STATUS_LABELS else None


def _counts(db: Session) -> dict[uuid.UUID, dict[str, int]]:
    out: dict[uuid.UUID, dict[str, int]] = {}
    stmt = select(
        PaymentNotification.channel_id, PaymentNotification.status, func.count()
    ).group_by(PaymentNotification.channel_id, PaymentNotification.status)
    for channel_id, status, n in db.execute(stmt):
        out.setdefault(channel_id, {})[status] = int(n)
    return out


# -- channels --------------------------------------------------------------------------------------


def _channels_page(request: Request, db: Session, who: WebUser, **ctx: Any) -> Response:
    adapters = registry.names()
    ctx.setdefault("errors", {})
    ctx.setdefault("form_key", forms.new_form_key())
    ctx.setdefault(
        "values", {"adapter": "generic_json" if "generic_json" in adapters else adapters[0]}
    )
    channels = list(db.scalars(select(PaymentChannel).order_by(PaymentChannel.code)))
    counts = _counts(db)
    return render(
        request,
        "payments/channels.html",
        {
            "channels": channels,
            "urls": {c.id: inbound_url(request, c) for c in channels},
            "counts": counts,
            "in_suspense": sum(
                c.get(NotificationStatus.suspense.value, 0) for c in counts.values()
            ),
            "status_labels": STATUS_LABELS,
            "adapters": adapters,
            "adapter_options": [(n, n) for n in adapters],
            "defaults": {n: _said_config(default_config(n)) for n in adapters},
            **ctx,
        },
        status=422 if ctx["errors"] else 200,
    )


@router.get("/payment-channels")
def channels(request: Request, db: DbSession, who: Reader) -> Response:
    return _channels_page(request, db, who)


def _channel_errors(request: Request, exc: DomainError) -> dict[str, str]:
    """The service's refusal by the form's fields (`config.<key>` is the settings' field)."""
    errors: dict[str, str] = {}
    for error in exc.errors:
        field = error.field or "code"
        name = "config" if field.startswith("config") else field
        errors.setdefault(
            name if name in CHANNEL_FIELDS else "code", forms.say(request, error.message)
        )
    if not errors:
        errors["code"] = forms.refusal(request, exc)
    return errors


@router.post("/payment-channels")
def open_channel(request: Request, db: DbSession, who: Admin, form: Form) -> Response:
    """Open a channel. Its secret is on this answer only (`no-store`): it is derived when the
    channel is made and shown nowhere else; the same form sent again opens nothing and says the
    secret was shown already."""
    values = forms.values_of(form, *CHANNEL_FIELDS)
    code = values["code"].upper()
    errors: dict[str, str] = {}
    if values["adapter"] not in registry.names():
        errors["adapter"] = forms.say(request, forms.CHOOSE_ONE())
    config: Any = default_config(values["adapter"]) if not errors else {}
    if values["config"] and not forms.text(form, "fill", 8):
        try:
            config = json.loads(values["config"])
        except ValueError:
            config = None
        if not isinstance(config, dict):
            errors["config"] = translate(
                request,
                N_("Enter the settings as a JSON object, e.g. %(example)s, or leave them empty."),
                example='{"refuse_unknown_reference": false}',
            )
    if errors:
        return _channels_page(request, db, who, values=values, errors=errors)
    if forms.text(form, "fill", 8):
        # "the adapter's default settings": the form again with them filled in, nothing written
        values["config"] = _said_config(config)
        return _channels_page(
            request,
            db,
            who,
            values=values,
            form_key=forms.text(form, forms.FORM_KEY, 64) or forms.new_form_key(),
        )
    shown: dict[str, str] = {}

    def operation() -> dict[str, Any]:
        channel, secret = service.create_channel(
            db,
            who.actor,
            code=code,
            adapter=values["adapter"],
            currency=who.currency,
            config=config,
            secret_key=request.app.state.settings.secret_key,
        )
        shown["secret"] = secret  # kept out of the stored answer
        return {"id": str(channel.id), "code": channel.code}

    payload = {"code": code, "adapter": values["adapter"], "config": config}
    try:
        result = forms.run_once(
            db, who, forms.text(form, forms.FORM_KEY, 64), "payment-channels", payload, operation
        )
    except DomainError as exc:
        return _channels_page(request, db, who, values=values, errors=_channel_errors(request, exc))
    made = service.get_channel(db, str(result["code"]))
    response = _channels_page(
        request,
        db,
        who,
        created=made,
        created_url=inbound_url(request, made),
        secret=shown.get("secret"),
        replayed=not shown,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/payment-channels/{code}")
def channel_page(
    request: Request,
    db: DbSession,
    who: Reader,
    code: ChannelCode,
    status: Annotated[str | None, Query(max_length=16)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """A channel and its notifications, newest first, by status, a page at a time."""
    channel = service.get_channel(db, code)
    wanted = _status(status)
    rows, nxt = _page_of(db, channel_id=channel.id, status=wanted, cursor=cursor)
    sign = AccountType.liability.normal_sign
    balances = ledger.balances(db, [channel.suspense_account_id, channel.refund_account_id])
    return render(
        request,
        "payments/channel.html",
        {
            "channel": channel,
            "url": inbound_url(request, channel),
            "config": _shown_config(channel.config),
            "counts": _counts(db).get(channel.id, {}),
            "held": balances.get(channel.suspense_account_id, 0) * sign,
            "owed": balances.get(channel.refund_account_id, 0) * sign,
            "rows": _views(request, db, who, rows),
            "status": wanted or "",
            "status_labels": STATUS_LABELS,
            "next": nxt,
            "first_page": not cursor,
        },
    )


# -- the suspense queue ----------------------------------------------------------------------------


def _queue_page(
    request: Request,
    db: Session,
    who: WebUser,
    *,
    channel: str | None = None,
    cursor: str | None = None,
    pin: PaymentNotification | None = None,
    **ctx: Any,
) -> Response:
    """Payments in suspense, newest first (of one channel if `channel`); `pin` is shown even
    if it is on another page (the one whose form is shown again with its error)."""
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {})
    codes = list(db.scalars(select(PaymentChannel.code).order_by(PaymentChannel.code)))
    chosen = channel if channel in codes else None
    channel_id = service.get_channel(db, chosen).id if chosen else None
    rows, nxt = _page_of(
        db, channel_id=channel_id, status=NotificationStatus.suspense.value, cursor=cursor
    )
    if pin is not None and pin.id not in {r.id for r in rows}:
        rows.insert(0, pin)
    views = _views(request, db, who, rows)
    return render(
        request,
        "payments/suspense.html",
        {
            "rows": views,
            "keys": {str(v["n"].id): (forms.new_form_key(), forms.new_form_key()) for v in views},
            "codes": codes,
            "channel": chosen or "",
            "cursor": cursor or "",
            "next": nxt,
            **ctx,
        },
        status=422 if ctx["errors"] else 200,
        # the Back button shows these same forms with the same one-time keys
        cache="private, no-cache",
    )


@router.get("/payments/suspense")
def suspense(
    request: Request,
    db: DbSession,
    who: Reader,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    return _queue_page(request, db, who, channel=channel, cursor=cursor)


# -- one payment -----------------------------------------------------------------------------------


def _payment_page(
    request: Request, db: Session, who: WebUser, row: PaymentNotification, **ctx: Any
) -> Response:
    ctx.setdefault("errors", {})
    ctx.setdefault("values", {})
    channel = db.scalar(select(PaymentChannel).where(PaymentChannel.id == row.channel_id))
    view = _views(request, db, who, [row])[0]
    # the same transaction id on this channel: the live one and flagged duplicates, refusals
    others = []
    if row.transaction_id is not None:
        others = list(
            db.scalars(
                select(PaymentNotification)
                .where(
                    PaymentNotification.channel_id == row.channel_id,
                    PaymentNotification.transaction_id == row.transaction_id,
                    PaymentNotification.id != row.id,
                )
                .order_by(PaymentNotification.received_at, PaymentNotification.id)
                .limit(PAGE)
            )
        )
    key = str(row.id)
    return render(
        request,
        "payments/payment.html",
        {
            "v": view,
            "channel": channel,
            "others": _views(request, db, who, others),
            "provider_labels": PROVIDER_LABELS,
            "sources": SOURCES,
            "keys": {key: (forms.new_form_key(), forms.new_form_key())},
            **ctx,
        },
        status=422 if ctx["errors"] else 200,
        cache="private, no-cache",
    )


@router.get("/payments/{notification_id}")
def payment_page(
    request: Request, db: DbSession, who: Reader, notification_id: uuid.UUID
) -> Response:
    return _payment_page(request, db, who, service.get_notification(db, notification_id))


@router.get("/payments")
def payments(
    request: Request, db: DbSession, who: Reader, receipt: uuid.UUID | None = None
) -> Response:
    """The payment a receipt came from (`?receipt=`), else the queue. A receipt that came from
    no payment notification answers 404."""
    if receipt is None:
        return redirect(request, QUEUE)
    found = db.scalar(
        select(PaymentNotification.id).where(PaymentNotification.receipt_id == receipt).limit(1)
    )
    if found is None:
        raise NotFound(service.NO_NOTIFICATION(id=receipt))
    return redirect(request, f"{PREFIX}/payments/{found}")


def receipt_payment(db: Session, receipt_id: uuid.UUID) -> dict[str, Any] | None:
    """The payment notification a receipt was posted for (its id, transaction id and
    channel's code), for the receipt's page; None for a receipt taken any other way."""
    found = db.execute(
        select(PaymentNotification.id, PaymentNotification.transaction_id, PaymentChannel.code)
        .join(
            PaymentChannel,
            (PaymentChannel.organisation_id == PaymentNotification.organisation_id)
            & (PaymentChannel.id == PaymentNotification.channel_id),
        )
        .where(PaymentNotification.receipt_id == receipt_id)
        .limit(1)
    ).first()
    if found is None:
        return None
    return {"id": found[0], "transaction_id": found[1], "channel": found[2]}


# -- resolving a payment in suspense ---------------------------------------------------------------


def _back_to(form: Any, row: PaymentNotification) -> str:
    """Where the form came from: the payment's page, or the queue (with its channel)."""
    if forms.text(form, "back", 16) == "payment":
        return f"{PREFIX}/payments/{row.id}"
    channel = forms.text(form, "channel", 32)
    return QUEUE + (f"?channel={quote(channel, safe='')}" if channel else "")


def _show_again(
    request: Request,
    db: Session,
    who: WebUser,
    form: Any,
    row: PaymentNotification,
    errors: dict[str, str],
    values: dict[str, str],
) -> Response:
    """The form again, with its error next to its field (422), where it was sent from."""
    key = str(row.id)
    if forms.text(form, "back", 16) == "payment":
        return _payment_page(request, db, who, row, errors={key: errors}, values={key: values})
    return _queue_page(
        request,
        db,
        who,
        channel=forms.text(form, "channel", 32) or None,
        cursor=forms.text(form, "cursor", 512) or None,
        pin=row,
        errors={key: errors},
        values={key: values},
    )


def _left_suspense(exc: DomainError) -> bool:
    """The payment is no longer in suspense (resolved meanwhile, or sent twice): a conflict."""
    return getattr(exc, "status", None) == 409


@router.post("/payments/{notification_id}/match")
def match_payment(
    request: Request, db: DbSession, who: Bookkeeper, notification_id: uuid.UUID, form: Form
) -> Response:
    """Apply a payment held in suspense to the member or unit a typed number or plate names
    (case, spaces and dashes do not matter): its receipt is posted from suspense. A number
    that names no payer, or more than one, is said and nothing is written."""
    row = service.get_notification(db, notification_id)
    typed = forms.text(form, "payer", 64)
    values = {"payer": typed}
    if not typed:
        error = translate(request, N_("Enter a member number or plate."))
        return _show_again(request, db, who, form, row, {"payer": error}, values)
    found = rounds.resolve(db, [typed])[typed]
    if len(found) != 1:
        message = (
            N_("No member or transport unit has this number or plate: %(items)s.")
            if not found
            else N_("These name more than one payer: %(items)s.")
        )
        error = translate(request, message, items=typed)
        return _show_again(request, db, who, form, row, {"payer": error}, values)
    payer = found[0]

    def operation() -> dict[str, Any]:
        matched = service.match(db, who.actor, row.id, payer)
        number = db.scalar(select(Receipt.receipt_number).where(Receipt.id == matched.receipt_id))
        return {
            "transaction": matched.transaction_id or "",
            "receipt_id": str(matched.receipt_id),
            "number": number,
        }

    payload = {"notification": str(row.id), "payer": f"{payer[0]}:{payer[1]}"}
    try:
        result = forms.run_once(
            db,
            who,
            forms.text(form, forms.FORM_KEY, 64),
            f"payments/{row.id}/match",
            payload,
            operation,
        )
    except DomainError as exc:
        if _left_suspense(exc):
            load_session(request).add_flash("error", forms.refusal(request, exc))
            return redirect(request, _back_to(form, row))
        fields = {"member_id": "payer", "unit_id": "payer"}
        errors = forms.domain_errors(request, exc, fields, "payer")
        return _show_again(request, db, who, form, row, errors, values)
    load_session(request).add_flash(
        "info",
        translate(
            request,
            N_("Payment %(transaction)s was matched: receipt %(number)s was posted."),
            transaction=result["transaction"],
            number=result["number"],
        ),
    )
    return redirect(request, _back_to(form, row))


@router.post("/payments/{notification_id}/refund")
def refund_payment(
    request: Request, db: DbSession, who: Bookkeeper, notification_id: uuid.UUID, form: Form
) -> Response:
    """Mark a payment held in suspense to be refunded, with the reason (a refund owed)."""
    row = service.get_notification(db, notification_id)
    reason = forms.text(form, "reason", 200)
    values = {"reason": reason}
    if not reason:
        error = forms.say(request, service.NO_REFUND_REASON())
        return _show_again(request, db, who, form, row, {"reason": error}, values)

    def operation() -> dict[str, Any]:
        refunded = service.refund(db, who.actor, row.id, reason)
        return {"transaction": refunded.transaction_id or ""}

    payload = {"notification": str(row.id), "reason": reason}
    try:
        result = forms.run_once(
            db,
            who,
            forms.text(form, forms.FORM_KEY, 64),
            f"payments/{row.id}/refund",
            payload,
            operation,
        )
    except DomainError as exc:
        if _left_suspense(exc):
            load_session(request).add_flash("error", forms.refusal(request, exc))
            return redirect(request, _back_to(form, row))
        errors = forms.domain_errors(request, exc, {"reason": "reason"}, "reason")
        return _show_again(request, db, who, form, row, errors, values)
    load_session(request).add_flash(
        "info",
        translate(
            request,
            N_("Payment %(transaction)s is to be refunded."),
            transaction=result["transaction"],
        ),
    )
    return redirect(request, _back_to(form, row))
