"""Funds: where contributions end up (social-security funds, health mutuals, pension, accident)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, OrgScoped, org_fk, utcnow
from app.core.messages import N_
from app.core.vocabulary import Vocabulary


class FundKind(Vocabulary):
    """What kind of fund it is."""

    social_security = "social_security", N_("social security")
    health_mutual = "health_mutual", N_("health mutual")
    pension = "pension", N_("pension")
    accident = "accident", N_("accident")
    other = "other", N_("other")


FUND_KINDS = FundKind.values()


class Fund(OrgScoped, Base):
    """A social-security, health, pension or other fund the organisation collects for and remits
    to. It keeps its own ledger accounts (owed, in transit, and held in custody) and is reached
    through a fund adapter (`adapter`, configured by `adapter_config`)."""

    __tablename__ = "fund"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        CheckConstraint(FundKind.check("kind"), name="kind"),
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
