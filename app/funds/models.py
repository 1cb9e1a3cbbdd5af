"""Funds: where contributions end up (social-security funds, health mutuals, pension, accident)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, OrgScoped, org_fk, utcnow

FUND_KINDS = ("social_security", "health_mutual", "pension", "accident", "other")


class Fund(OrgScoped, Base):
    """A social-security, health, pension or other fund the organisation collects for and remits
    to. It keeps its own ledger accounts (owed, in transit, and held in custody) and is reached
    through a fund adapter (`adapter`, configured by `adapter_config`)."""

    __tablename__ = "fund"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        CheckConstraint(
            "kind IN ('social_security', 'health_mutual', 'pension', 'accident', 'other')",
            name="kind",
        ),
        org_fk(["owed_account_id"], "account"),
        org_fk(["transit_account_id"], "account"),
        org_fk(["custody_account_id"], "account"),
    )

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    adapter: Mapped[str] = mapped_column(String(64), comment="name of a fund adapter, e.g. csv")
    adapter_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    settlement_account: Mapped[Any | None] = mapped_column(
        JSON, comment="free text, or an object such as {iban, bic, name}"
    )
    custody: Mapped[bool] = mapped_column(
        default=False, comment="the fund's money is held at the intermediary"
    )
    owed_account_id: Mapped[uuid.UUID] = mapped_column(
        comment="liability: contributions collected and owed to the fund"
    )
    transit_account_id: Mapped[uuid.UUID] = mapped_column(
        comment="liability: sealed in a batch, on its way to the fund"
    )
    custody_account_id: Mapped[uuid.UUID | None] = mapped_column(
        comment="liability: money held for a custody fund after settlement"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
