"""Payment channels and the notifications they receive.

A notification is kept as it arrived (raw body, the headers that matter, when), and is never
deleted; only its resolution moves (suspense -> matched or refunded), each move with its own
journal entry. One notification per channel and provider transaction id holds the money
(`ix_payment_notification_one_per_transaction`); a later delivery of the same id with other
figures is kept beside it as a `duplicate`, flagged, never booked.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, OrgScoped, org_fk, utcnow
from app.payments.vocabulary import NotificationStatus, ProviderStatus


class PaymentChannel(OrgScoped, Base):
    """One till, paybill or wallet of the organisation, read by an adapter."""

    __tablename__ = "payment_channel"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        # 256 random bits: unique within the organisation by constraint, across all by chance;
        # the inbound URL finds its channel by this index
        UniqueConstraint("organisation_id", "inbound_token"),
        Index("ix_payment_channel_inbound_token", "inbound_token"),
        org_fk(["suspense_account_id"], "account"),
        org_fk(["refund_account_id"], "account"),
    )

    code: Mapped[str] = mapped_column(String(32))
    adapter: Mapped[str] = mapped_column(String(64), comment="entry point name")
    currency: Mapped[str] = mapped_column(String(3))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    inbound_token: Mapped[str] = mapped_column(
        String(64), comment="the unguessable part of the inbound URL"
    )
    secret_salt: Mapped[str] = mapped_column(
        String(64),
        comment="the channel's secret is derived from the server's secret key and this salt; "
        "the secret itself is never stored",
    )
    suspense_account_id: Mapped[uuid.UUID] = mapped_column(
        comment="liability: money received and not yet matched to a payer"
    )
    refund_account_id: Mapped[uuid.UUID] = mapped_column(
        comment="liability: refunds owed to payers"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentNotification(OrgScoped, Base):
    """A payment as the provider announced it (or as its statement showed it)."""

    __tablename__ = "payment_notification"
    __table_args__ = (
        CheckConstraint(NotificationStatus.check("status"), name="status"),
        CheckConstraint(
            f"provider_status IS NULL OR {ProviderStatus.check('provider_status')}",
            name="provider_status",
        ),
        CheckConstraint("amount IS NULL OR amount > 0", name="amount_positive"),
        CheckConstraint(
            "status IN ('refused', 'duplicate') OR (transaction_id IS NOT NULL AND amount IS "
            "NOT NULL)",
            name="booked_has_figures",
        ),
        CheckConstraint("status <> 'matched' OR receipt_id IS NOT NULL", name="matched_receipt"),
        org_fk(["channel_id"], "payment_channel"),
        org_fk(["receipt_id"], "receipt", deferrable=True, initially="DEFERRED"),
        org_fk(["journal_id"], "journal_entry"),
        org_fk(["refund_journal_id"], "journal_entry"),
        Index(
            "ix_payment_notification_one_per_transaction",
            "organisation_id",
            "channel_id",
            "transaction_id",
            unique=True,
            postgresql_where=text("status NOT IN ('refused', 'duplicate')"),
            sqlite_where=text("status NOT IN ('refused', 'duplicate')"),
        ),
        Index("ix_payment_notification_org_status", "organisation_id", "status", "received_at"),
    )

    channel_id: Mapped[uuid.UUID] = mapped_column()
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[int | None] = mapped_column(comment="minor units of `currency`")
    currency: Mapped[str | None] = mapped_column(String(3))
    account_reference: Mapped[str | None] = mapped_column(
        String(64), comment="what the payer typed: a member number or a plate, or anything"
    )
    msisdn: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime | None] = mapped_column(comment="the provider's time")
    provider_status: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(
        String(16), default="callback", comment="callback, poll or statement"
    )
    status: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(
        String(64), comment="why it is in suspense, refused or refunded: a message code"
    )
    reason_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    receipt_id: Mapped[uuid.UUID | None] = mapped_column()
    journal_id: Mapped[uuid.UUID | None] = mapped_column(
        comment="the entry that put the money in suspense"
    )
    refund_journal_id: Mapped[uuid.UUID | None] = mapped_column(
        comment="the entry that moved it from suspense to refunds owed"
    )
    raw_body: Mapped[str] = mapped_column(Text, comment="the request body as it arrived")
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(120))
