"""Organisations, their users and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import DEFAULT_ZONE
from app.core.database import Base, OrgScoped, utcnow
from app.core.ids import uuid7
from app.core.roles import Role

_ROLE_CHECK = Role.check("role")
_FUND_CHECK = "(role = 'fund_office') = (fund_code IS NOT NULL)"


class Organisation(Base):
    """The intermediary (cooperative, mutual, union). Everything else belongs to one."""

    __tablename__ = "organisation"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3), comment="the organisation's book currency")
    time_zone: Mapped[str] = mapped_column(
        String(64),
        default=DEFAULT_ZONE,
        server_default=DEFAULT_ZONE,
        comment="IANA time zone: the organisation's day, its forms' local times",
    )
    country: Mapped[str | None] = mapped_column(
        String(2), comment="ISO 3166-1 alpha-2 code, where the organisation works"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(OrgScoped, Base):
    """A person who signs in to the organisation with a username and password; `role` says what
    they may do (a fund_office user acts for one fund, `fund_code`)."""

    __tablename__ = "app_user"
    __table_args__ = (
        UniqueConstraint("organisation_id", "username"),
        CheckConstraint(_ROLE_CHECK, name="role"),
        CheckConstraint(_FUND_CHECK, name="fund_office_has_fund"),
        Index("ix_app_user_username", "username"),
    )

    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255), comment="Argon2id, PHC string")
    role: Mapped[str] = mapped_column(String(16))
    fund_code: Mapped[str | None] = mapped_column(
        String(32), comment="the fund a fund_office user acts for"
    )
    locale: Mapped[str] = mapped_column(String(8), default="en")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(OrgScoped, Base):
    __tablename__ = "api_key"
    __table_args__ = (
        UniqueConstraint("organisation_id", "key_hash"),
        CheckConstraint(_ROLE_CHECK, name="role"),
        CheckConstraint(_FUND_CHECK, name="fund_office_has_fund"),
        Index("ix_api_key_key_hash", "key_hash"),
    )

    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), comment="first characters, to recognise a key")
    key_hash: Mapped[str] = mapped_column(String(64), comment="SHA-256 of the whole key, hex")
    role: Mapped[str] = mapped_column(String(16))
    fund_code: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
