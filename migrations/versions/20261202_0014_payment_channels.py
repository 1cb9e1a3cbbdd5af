"""Payment channels (a till, paybill or wallet, read by an adapter) and the notifications they
receive, kept as they arrived; one per channel and provider transaction id holds the money
(docs/payments.md).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_channel",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("adapter", sa.String(length=64), nullable=False, comment="entry point name"),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column(
            "inbound_token",
            sa.String(length=64),
            nullable=False,
            comment="the unguessable part of the inbound URL",
        ),
        sa.Column(
            "secret_salt",
            sa.String(length=64),
            nullable=False,
            comment="the channel's secret is derived from the server's secret key and this salt; the secret itself is never stored",
        ),
        sa.Column(
            "suspense_account_id",
            sa.Uuid(),
            nullable=False,
            comment="liability: money received and not yet matched to a payer",
        ),
        sa.Column(
            "refund_account_id",
            sa.Uuid(),
            nullable=False,
            comment="liability: refunds owed to payers",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id", "refund_account_id"],
            ["account.organisation_id", "account.id"],
            name=op.f("fk_payment_channel_organisation_id_refund_account_id_account"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "suspense_account_id"],
            ["account.organisation_id", "account.id"],
            name=op.f("fk_payment_channel_organisation_id_suspense_account_id_account"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_payment_channel_organisation_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("organisation_id", "id", name=op.f("pk_payment_channel")),
        sa.UniqueConstraint(
            "organisation_id", "code", name=op.f("uq_payment_channel_organisation_id_code")
        ),
        sa.UniqueConstraint(
            "organisation_id",
            "inbound_token",
            name=op.f("uq_payment_channel_organisation_id_inbound_token"),
        ),
    )
    with op.batch_alter_table("payment_channel", schema=None) as batch_op:
        batch_op.create_index("ix_payment_channel_inbound_token", ["inbound_token"], unique=False)

    op.create_table(
        "payment_notification",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True, comment="minor units of `currency`"),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column(
            "account_reference",
            sa.String(length=64),
            nullable=True,
            comment="what the payer typed: a member number or a plate, or anything",
        ),
        sa.Column("msisdn", sa.String(length=32), nullable=True),
        sa.Column(
            "occurred_at", sa.DateTime(timezone=True), nullable=True, comment="the provider's time"
        ),
        sa.Column("provider_status", sa.String(length=16), nullable=True),
        sa.Column(
            "source", sa.String(length=16), nullable=False, comment="callback, poll or statement"
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "reason_code",
            sa.String(length=64),
            nullable=True,
            comment="why it is in suspense, refused or refunded: a message code",
        ),
        sa.Column("reason_params", sa.JSON(), nullable=True),
        sa.Column("receipt_id", sa.Uuid(), nullable=True),
        sa.Column(
            "journal_id",
            sa.Uuid(),
            nullable=True,
            comment="the entry that put the money in suspense",
        ),
        sa.Column(
            "refund_journal_id",
            sa.Uuid(),
            nullable=True,
            comment="the entry that moved it from suspense to refunds owed",
        ),
        sa.Column("raw_body", sa.Text(), nullable=False, comment="the request body as it arrived"),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.CheckConstraint(
            "provider_status IS NULL OR provider_status IN ('successful', 'failed', 'pending', 'reversed')",
            name=op.f("ck_payment_notification_provider_status"),
        ),
        sa.CheckConstraint(
            "status <> 'matched' OR receipt_id IS NOT NULL",
            name=op.f("ck_payment_notification_matched_receipt"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'matched', 'suspense', 'refunded', 'refused', 'duplicate')",
            name=op.f("ck_payment_notification_status"),
        ),
        sa.CheckConstraint(
            "status IN ('refused', 'duplicate') OR (transaction_id IS NOT NULL AND amount IS NOT NULL)",
            name=op.f("ck_payment_notification_booked_has_figures"),
        ),
        sa.CheckConstraint(
            "amount IS NULL OR amount > 0", name=op.f("ck_payment_notification_amount_positive")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "channel_id"],
            ["payment_channel.organisation_id", "payment_channel.id"],
            name=op.f("fk_payment_notification_organisation_id_channel_id_payment_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "journal_id"],
            ["journal_entry.organisation_id", "journal_entry.id"],
            name=op.f("fk_payment_notification_organisation_id_journal_id_journal_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "receipt_id"],
            ["receipt.organisation_id", "receipt.id"],
            name=op.f("fk_payment_notification_organisation_id_receipt_id_receipt"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "refund_journal_id"],
            ["journal_entry.organisation_id", "journal_entry.id"],
            name=op.f("fk_payment_notification_organisation_id_refund_journal_id_journal_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_payment_notification_organisation_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("organisation_id", "id", name=op.f("pk_payment_notification")),
    )
    with op.batch_alter_table("payment_notification", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payment_notification_one_per_transaction",
            ["organisation_id", "channel_id", "transaction_id"],
            unique=True,
            postgresql_where=sa.text("status NOT IN ('refused', 'duplicate')"),
            sqlite_where=sa.text("status NOT IN ('refused', 'duplicate')"),
        )
        batch_op.create_index(
            "ix_payment_notification_org_status",
            ["organisation_id", "status", "received_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_notification", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_notification_org_status")
        batch_op.drop_index(
            "ix_payment_notification_one_per_transaction",
            postgresql_where=sa.text("status NOT IN ('refused', 'duplicate')"),
            sqlite_where=sa.text("status NOT IN ('refused', 'duplicate')"),
        )

    op.drop_table("payment_notification")
    with op.batch_alter_table("payment_channel", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_channel_inbound_token")

    op.drop_table("payment_channel")
