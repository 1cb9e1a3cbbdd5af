"""Affiliation commission payments: the fund paying the commissions an affiliation batch
earned, once per batch (unique), with what actually arrived and what had been booked.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 13:13:19.895875
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "affiliation_commission_payment",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column(
            "amount", sa.BigInteger(), nullable=False, comment="what the fund paid, minor units"
        ),
        sa.Column(
            "expected",
            sa.BigInteger(),
            nullable=False,
            comment="the batch's booked commission when it was paid, minor units",
        ),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=140), nullable=True),
        sa.Column(
            "account_id", sa.Uuid(), nullable=False, comment="the bank account it arrived in"
        ),
        sa.Column("journal_id", sa.Uuid(), nullable=False, comment="bank <- commission receivable"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.CheckConstraint(
            "amount > 0", name=op.f("ck_affiliation_commission_payment_amount_positive")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "account_id"],
            ["account.organisation_id", "account.id"],
            name=op.f("fk_affiliation_commission_payment_organisation_id_account_id_account"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "batch_id"],
            ["affiliation_batch.organisation_id", "affiliation_batch.id"],
            name=op.f(
                "fk_affiliation_commission_payment_organisation_id_batch_id_affiliation_batch"
            ),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "journal_id"],
            ["journal_entry.organisation_id", "journal_entry.id"],
            name=op.f("fk_affiliation_commission_payment_organisation_id_journal_id_journal_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_affiliation_commission_payment_organisation_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "organisation_id", "id", name=op.f("pk_affiliation_commission_payment")
        ),
        sa.UniqueConstraint(
            "organisation_id",
            "batch_id",
            name=op.f("uq_affiliation_commission_payment_organisation_id_batch_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("affiliation_commission_payment")
