"""HTTP endpoints for payment channels, their inbound notifications and the suspense queue."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select, tuple_

from app.core.deps import Caller, DbSession, Principal
from app.core.errors import NotFound, ValidationFailed
from app.core.idempotency import IdempotencyKey, fingerprint, run_idempotent
from app.core.messages import FieldError
from app.core.money import MoneyError, format_minor
from app.core.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from app.core.roles import Role
from app.core.schemas import Page
from app.funds.schemas import mask_secrets
from app.payments import registry, service
from app.payments.models import PaymentChannel, PaymentNotification
from app.payments.schemas import (
    ChannelCreate,
    ChannelCreated,
    ChannelRead,
    MatchCreate,
    NotificationRead,
    RefundCreate,
)
from app.payments.statements_router import router as statements_router
from app.payments.vocabulary import NotificationStatus

router = APIRouter(tags=["payment channels"])

Admin = Annotated[Principal, Depends(Caller(Role.admin))]
Reader = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer, Role.auditor))]
Treasurer = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer))]
INBOUND = "/payment-channels/inbound"


def inbound_url(request: Request, channel: PaymentChannel) -> str:
    base = str(request.base_url).rstrip("/")
    return f"{base}/api/v1{INBOUND}/{channel.inbound_token}"


def channel_read(request: Request, c: PaymentChannel) -> ChannelRead:
    return ChannelRead(
        id=c.id,
        code=c.code,
        adapter=c.adapter,
        currency=c.currency,
        config=mask_secrets(c.config),
        inbound_url=inbound_url(request, c),
        created_at=c.created_at,
    )


@router.post(
    "/payment-channels",
    status_code=201,
    response_model=ChannelCreated,
    responses={409: {"description": "the code is taken"}},
)
def create_channel(
    body: ChannelCreate, request: Request, session: DbSession, who: Admin
) -> ChannelCreated:
    """Open a payment channel: one till, paybill or wallet, read by its adapter. The answer
    holds the inbound URL to give the provider and the channel's secret, shown this once."""
    channel, secret = service.create_channel(
        session,
        who.actor,
        code=body.code,
        adapter=body.adapter,
        currency=body.currency,
        config=body.config,
        secret_key=request.app.state.settings.secret_key,
    )
    return ChannelCreated(**channel_read(request, channel).model_dump(), secret=secret)


@router.get("/payment-channels", response_model=Page[ChannelRead])
def list_channels(request: Request, session: DbSession, who: Reader) -> Page[ChannelRead]:
    rows = session.scalars(select(PaymentChannel).order_by(PaymentChannel.code)).all()
    return Page(items=[channel_read(request, c) for c in rows], next_cursor=None)


@router.get("/payment-channels/{code}", response_model=ChannelRead)
def get_channel(
    code: Annotated[str, Path(max_length=32)], request: Request, session: DbSession, who: Reader
) -> ChannelRead:
    return channel_read(request, service.get_channel(session, code))


# -- inbound --------------------------------------------------------------------------------------


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def _inbound(request: Request, session: DbSession, token: str, step: str, body: bytes) -> Response:
    channel = service.channel_by_token(session, token)
    if channel is None:
        raise NotFound(service.NO_CHANNEL(code="?"))
    headers = {k.lower(): v for k, v in request.headers.items()}
    remote = request.client.host if request.client else None
    said = registry.Inbound(
        body=body,
        headers=headers,
        step=step,
        remote_addr=remote,
        query=dict(request.query_params),
    )
    received = service.receive(
        session,
        channel,
        said,
        secret_key=request.app.state.settings.secret_key,
    )
    if not received.authenticated:
        # kept as refused (committed with this request): answered 401, never posted
        return JSONResponse(
            {"status": "refused", "reason": "bad or missing signature"}, status_code=401
        )
    status, answer = registry.get(channel.adapter).answer(said, received.outcomes)
    return JSONResponse(answer, status_code=status)


@router.api_route(INBOUND + "/{token}", methods=["POST", "PUT"], tags=["payment channels"])
def inbound(
    token: Annotated[str, Path(max_length=64)],
    request: Request,
    session: DbSession,
    body: Annotated[bytes, Depends(_raw_body)],
) -> Response:
    """A provider's notification, POST or PUT (MTN may PUT its callbacks); no bearer token:
    the channel's adapter authenticates it (e.g. generic_json's `X-Signature`). Kept once per provider transaction id: the same
    notification again answers as the first did and writes nothing."""
    return _inbound(request, session, token, "", body)


@router.api_route(INBOUND + "/{token}/{step}", methods=["POST", "PUT"], tags=["payment channels"])
def inbound_step(
    token: Annotated[str, Path(max_length=64)],
    step: Annotated[str, Path(max_length=32, pattern="^[a-z_]+$")],
    request: Request,
    session: DbSession,
    body: Annotated[bytes, Depends(_raw_body)],
) -> Response:
    """A provider's call to a named step of the inbound URL (Daraja's `validation` and
    `confirmation`)."""
    return _inbound(request, session, token, step, body)


# -- the notifications and the suspense queue ----------------------------------------------------


def notification_reads(
    session: DbSession, rows: list[PaymentNotification]
) -> list[NotificationRead]:
    codes = dict(
        session.execute(
            select(PaymentChannel.id, PaymentChannel.code).where(
                PaymentChannel.id.in_({r.channel_id for r in rows})
            )
        ).all()
    )
    out = []
    for r in rows:
        reason = service.reason_of(r)
        amount: str | None = None
        if r.amount is not None and r.currency:
            try:
                amount = format_minor(r.amount, r.currency)
            except MoneyError:
                amount = str(r.amount)
        out.append(
            NotificationRead(
                id=r.id,
                channel=codes.get(r.channel_id, "?"),
                transaction_id=r.transaction_id,
                amount=amount,
                currency=r.currency,
                account_reference=r.account_reference,
                msisdn=r.msisdn,
                occurred_at=r.occurred_at,
                status=NotificationStatus(r.status),
                provider_status=r.provider_status,
                source=r.source,
                receipt_id=r.receipt_id,
                reason=reason.english() if reason else None,
                reason_code=reason.code if reason else None,
                reason_params=reason.plain_params() if reason else None,
                received_at=r.received_at,
                resolved_at=r.resolved_at,
                resolved_by=r.resolved_by,
            )
        )
    return out


@router.get("/payment-notifications", response_model=Page[NotificationRead])
def list_notifications(
    session: DbSession,
    who: Reader,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    status: NotificationStatus | None = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[NotificationRead]:
    """Notifications, newest first; `status=suspense` is the treasurer's queue."""
    stmt = select(PaymentNotification).order_by(
        PaymentNotification.received_at.desc(), PaymentNotification.id.desc()
    )
    if channel is not None:
        stmt = stmt.where(
            PaymentNotification.channel_id == service.get_channel(session, channel).id
        )
    if status is not None:
        stmt = stmt.where(PaymentNotification.status == status.value)
    after = decode_cursor(cursor, 2)
    if after:
        stmt = stmt.where(
            tuple_(PaymentNotification.received_at, PaymentNotification.id) < tuple_(*after)
        )
    rows = list(session.scalars(stmt.limit(limit + 1)))
    page = rows[:limit]
    nxt = encode_cursor([page[-1].received_at, page[-1].id]) if len(rows) > limit else None
    return Page(items=notification_reads(session, page), next_cursor=nxt)


@router.get("/payment-notifications/{notification_id}", response_model=NotificationRead)
def get_notification(
    notification_id: uuid.UUID, session: DbSession, who: Reader
) -> NotificationRead:
    return notification_reads(session, [service.get_notification(session, notification_id)])[0]


@router.post(
    "/payment-notifications/{notification_id}/match",
    response_model=NotificationRead,
    responses={409: {"description": "not in suspense"}},
)
def match_notification(
    notification_id: uuid.UUID,
    body: MatchCreate,
    session: DbSession,
    who: Treasurer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Apply a payment held in suspense to a member or unit: its receipt is posted, debiting
    the channel's suspense account."""

    def operation() -> tuple[int, Any]:
        if (body.member_id is None) == (body.unit_id is None):
            raise ValidationFailed.fields([FieldError("member_id", service.ONE_PAYER())])
        payer = ("member", body.member_id) if body.member_id else ("unit", body.unit_id)
        row = service.match(session, who.actor, notification_id, payer)  # type: ignore[arg-type]
        return 200, notification_reads(session, [row])[0]

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint(
            "POST", f"/payment-notifications/{notification_id}/match", body.model_dump(mode="json")
        ),
        operation,
    )


@router.post(
    "/payment-notifications/{notification_id}/refund",
    response_model=NotificationRead,
    responses={409: {"description": "not in suspense"}},
)
def refund_notification(
    notification_id: uuid.UUID,
    body: RefundCreate,
    session: DbSession,
    who: Treasurer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Mark a payment held in suspense to be refunded (a refund owed, with the reason)."""

    def operation() -> tuple[int, Any]:
        row = service.refund(session, who.actor, notification_id, body.reason)
        return 200, notification_reads(session, [row])[0]

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint(
            "POST", f"/payment-notifications/{notification_id}/refund", body.model_dump(mode="json")
        ),
        operation,
    )


router.include_router(statements_router)
