"""Members, their fund affiliations, and transport units with their crews.

Enrolments (a member or a unit in a scheme) are in app.schemes.models."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, OrgScoped, org_fk, utcnow
from app.core.messages import N_
from app.core.vocabulary import Vocabulary


class MemberStatus(Vocabulary):
    active = "active", N_("active")
    suspended = "suspended", N_("suspended")
    exited = "exited", N_("exited")


class UnitStatus(Vocabulary):
    active = "active", N_("active")
    suspended = "suspended", N_("suspended")
    retired = "retired", N_("retired")


class CrewRole(Vocabulary):
    """Who a crew member is on a unit (listed in this order: owner first)."""

    owner = "owner", N_("owner")
    driver = "driver", N_("driver")
    conductor = "conductor", N_("conductor")


class Member(OrgScoped, Base):
    """A person who pays contributions through the organisation, known by a member number unique
    in it; their prepaid credit (money no due has taken yet) sits in their own ledger account."""

    __tablename__ = "member"
    __table_args__ = (
        UniqueConstraint("organisation_id", "member_number"),
        CheckConstraint(MemberStatus.check("status"), name="status"),
        org_fk(["credit_account_id"], "account"),
        Index("ix_member_org_national_id", "organisation_id", "national_id"),
        Index("ix_member_org_phone", "organisation_id", "phone"),
    )

    member_number: Mapped[str] = mapped_column(String(32))
    full_name: Mapped[str] = mapped_column(String(200))
    national_id: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    sector: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=MemberStatus.active.value)
    joined_on: Mapped[date] = mapped_column()
    credit_account_id: Mapped[uuid.UUID] = mapped_column(
        comment="liability: the member's prepaid credit (money no due has taken yet)"
    )
    search_text: Mapped[str] = mapped_column(
        String(400),
        default="",
        comment="name, member number, national id and phone, lowercase without accents (?q=)",
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MemberAffiliation(OrgScoped, Base):
    """A member's number at a fund, once registered with it."""

    __tablename__ = "member_affiliation"
    __table_args__ = (
        UniqueConstraint("organisation_id", "member_id", "fund_id"),
        # one number at a fund, one member: two people's money never reaches one fund account
        UniqueConstraint(
            "organisation_id",
            "fund_id",
            "affiliation_number",
            name="uq_member_affiliation_fund_number",  # the conventional name passes 63 chars
        ),
        org_fk(["member_id"], "member"),
        org_fk(["fund_id"], "fund"),
    )

    member_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    affiliation_number: Mapped[str] = mapped_column(String(64))
    affiliated_on: Mapped[date | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TransportUnit(OrgScoped, Base):
    """A vehicle contributions are owed on, daily, on behalf of its covered crew."""

    __tablename__ = "transport_unit"
    __table_args__ = (
        UniqueConstraint("organisation_id", "registration"),
        CheckConstraint(UnitStatus.check("status"), name="status"),
        org_fk(["owner_member_id"], "member"),
        org_fk(["credit_account_id"], "account"),
    )

    registration: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32), comment="minibus, motorcycle taxi, ...")
    owner_member_id: Mapped[uuid.UUID | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=UnitStatus.active.value)
    credit_account_id: Mapped[uuid.UUID] = mapped_column(
        comment="liability: prepaid credit paid on this unit"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UnitCrew(OrgScoped, Base):
    __tablename__ = "unit_crew"
    __table_args__ = (
        UniqueConstraint("organisation_id", "unit_id", "member_id"),
        CheckConstraint(CrewRole.check("role"), name="role"),
        org_fk(["unit_id"], "transport_unit"),
        org_fk(["member_id"], "member"),
        # a member's standing reads the units they are crew of
        Index("ix_unit_crew_org_member", "organisation_id", "member_id"),
    )

    unit_id: Mapped[uuid.UUID] = mapped_column()
    member_id: Mapped[uuid.UUID] = mapped_column()
    role: Mapped[str] = mapped_column(String(16))
    covered: Mapped[bool] = mapped_column(
        default=True, comment="the unit's contributions count toward this member's coverage"
    )
