"""Request and response models of the payments API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from app.core.schemas import CurrencyCode, ReasonText, Schema
from app.payments.vocabulary import NotificationStatus


class ChannelCreate(Schema):
    code: str = Field(min_length=1, max_length=32, examples=["MPESA-TILL"])
    adapter: str = Field(
        min_length=1, max_length=64, description="generic_json, mpesa_c2b, mtn_momo, ..."
    )
    currency: CurrencyCode = Field(description="the organisation's book currency")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="the adapter's settings; every adapter takes `refuse_unknown_reference` "
        "(where the provider asks first, refuse a reference that names no payer)",
    )


class ChannelRead(Schema):
    id: uuid.UUID
    code: str
    adapter: str
    currency: str
    config: dict[str, Any]
    inbound_url: str = Field(description="where the provider sends its notifications")
    created_at: datetime


class ChannelCreated(ChannelRead):
    secret: str = Field(description="the channel's shared secret: shown this once")


class NotificationRead(Schema):
    id: uuid.UUID
    channel: str
    transaction_id: str | None
    amount: str | None
    currency: str | None
    account_reference: str | None
    msisdn: str | None
    occurred_at: datetime | None
    status: NotificationStatus
    provider_status: str | None
    source: str = Field(description="callback, poll or statement")
    receipt_id: uuid.UUID | None
    reason: str | None = Field(description="why it is where it is, in English")
    reason_code: str | None
    reason_params: dict[str, str] | None
    received_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class MatchCreate(Schema):
    """The payer a payment in suspense is for: give exactly one."""

    member_id: uuid.UUID | None = None
    unit_id: uuid.UUID | None = None


class RefundCreate(Schema):
    reason: ReasonText
