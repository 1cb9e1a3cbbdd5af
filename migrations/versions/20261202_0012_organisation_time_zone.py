"""An organisation's IANA time zone (its day, its forms' local times) and its country.

Existing organisations get UTC: it is how their days were counted and their times shown
until now, so upgrading re-dates nothing under them; an admin then sets the real zone
(`coopledger orgs set-time-zone CODE America/Santo_Domingo` or `PATCH /organisation`).
The zone is checked against the IANA database by the service (app/core/clock.py), not here.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisation") as batch:
        batch.add_column(
            sa.Column(
                "time_zone",
                sa.String(length=64),
                server_default="UTC",
                nullable=False,
                comment="IANA time zone: the organisation's day, its forms' local times",
            )
        )
        batch.add_column(
            sa.Column(
                "country",
                sa.String(length=2),
                nullable=True,
                comment="ISO 3166-1 alpha-2 code, where the organisation works",
            )
        )


def downgrade() -> None:
    # Plain DROP COLUMN on both (SQLite 3.35+): a batch copy of `organisation` would drop the
    # table every other table refers to, which SQLite refuses once there is data.
    for column in ("country", "time_zone"):
        op.execute(f"ALTER TABLE organisation DROP COLUMN {column}")
