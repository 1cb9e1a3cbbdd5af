"""Sign-in throttle shared by every server process: one row per recent wrong password.

`key_hash` is an HMAC-SHA256 of the throttle's key (a username with its organisation, or a
client address); no username or address is stored. See app/core/throttle.py.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 13:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "key_hash", sa.String(length=64), nullable=False, comment="HMAC-SHA256 of the key, hex"
        ),
        sa.Column(
            "failed_at",
            sa.Double(),
            nullable=False,
            comment="Unix time of the failure, seconds",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    op.create_index(
        "ix_login_failure_key_hash_failed_at", "login_failure", ["key_hash", "failed_at"]
    )
    op.create_index("ix_login_failure_failed_at", "login_failure", ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_login_failure_failed_at", table_name="login_failure")
    op.drop_index("ix_login_failure_key_hash_failed_at", table_name="login_failure")
    op.drop_table("login_failure")
