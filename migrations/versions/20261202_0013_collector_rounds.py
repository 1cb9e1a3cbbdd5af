"""Collector rounds: the payers a collector (or every collector of a group) collects from,
which the collector app keeps for offline use (docs/collect.md).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "round_payer",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("collector_id", sa.Uuid(), nullable=True, comment="a collector's own round"),
        sa.Column(
            "collector_group",
            sa.String(length=120),
            nullable=True,
            comment="a group's round: every collector of that group collects it",
        ),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("unit_id", sa.Uuid(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(collector_id IS NULL) <> (collector_group IS NULL)",
            name=op.f("ck_round_payer_one_holder"),
        ),
        sa.CheckConstraint(
            "(member_id IS NULL) <> (unit_id IS NULL)", name=op.f("ck_round_payer_one_payer")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "collector_id"],
            ["collector.organisation_id", "collector.id"],
            name=op.f("fk_round_payer_organisation_id_collector_id_collector"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "member_id"],
            ["member.organisation_id", "member.id"],
            name=op.f("fk_round_payer_organisation_id_member_id_member"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id", "unit_id"],
            ["transport_unit.organisation_id", "transport_unit.id"],
            name=op.f("fk_round_payer_organisation_id_unit_id_transport_unit"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_round_payer_organisation_id_organisation"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("organisation_id", "id", name=op.f("pk_round_payer")),
        sa.UniqueConstraint(
            "organisation_id",
            "collector_group",
            "member_id",
            name=op.f("uq_round_payer_organisation_id_collector_group_member_id"),
        ),
        sa.UniqueConstraint(
            "organisation_id",
            "collector_group",
            "unit_id",
            name=op.f("uq_round_payer_organisation_id_collector_group_unit_id"),
        ),
        sa.UniqueConstraint(
            "organisation_id",
            "collector_id",
            "member_id",
            name=op.f("uq_round_payer_organisation_id_collector_id_member_id"),
        ),
        sa.UniqueConstraint(
            "organisation_id",
            "collector_id",
            "unit_id",
            name=op.f("uq_round_payer_organisation_id_collector_id_unit_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("round_payer")
