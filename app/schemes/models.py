"""Schemes (from schedule files), their immutable effective-dated versions, enrolments,
harvests and dues.

Dues are expectations, not money: they live outside the double-entry ledger.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, OrgScoped, org_fk, utcnow
from app.core.messages import N_
from app.core.vocabulary import Vocabulary


class SchemeKind(Vocabulary):
    """A scheme's rhythm, which also says who enrols in it."""

    daily_per_unit = "daily_per_unit", N_("daily per unit")
    per_harvest = "per_harvest", N_("per harvest")
    monthly = "monthly", N_("monthly")

    @property
    def enrols_units(self) -> bool:
        """A daily scheme enrols transport units; the others enrol members."""
        return self is SchemeKind.daily_per_unit

    @property
    def generated(self) -> bool:
        """Dues generation makes its dues (a harvest's due is made when it is recorded)."""
        return self is not SchemeKind.per_harvest

    @property
    def share(self) -> AmountKind | None:
        """What an amount that is a share takes its share of (None: only fixed amounts)."""
        return _SHARES.get(self)

    @classmethod
    def enrolling(cls, units: bool) -> list[SchemeKind]:
        """The kinds that enrol units (`units`), or members."""
        return [k for k in cls if k.enrols_units == units]


class AmountKind(Vocabulary):
    """What a scheme version's `amount` is: fixed, or a share of a base the payer declares
    (the key of that share in the schedule file)."""

    fixed = "fixed"
    percent_of_income = "percent_of_income"
    percent_of_declared = "percent_of_declared"


_SHARES = {
    SchemeKind.monthly: AmountKind.percent_of_income,
    SchemeKind.per_harvest: AmountKind.percent_of_declared,
}


class DueStatus(Vocabulary):
    """How much of a due is paid."""

    open = "open", N_("open")
    partial = "partial", N_("partly paid")
    paid = "paid", N_("paid")


class CoverageStatus(Vocabulary):
    """Whether a member is covered at a fund on a day (see `app.schemes.standing`)."""

    covered = "covered", N_("covered")
    grace = "grace", N_("in grace period")
    lapsed = "lapsed", N_("lapsed")


class Scheme(OrgScoped, Base):
    """A contribution scheme (daily per transport unit, per harvest, or monthly): what members
    enrolled in it owe. Its rules live in effective-dated `SchemeVersion` rows, loaded from
    schedule files."""

    __tablename__ = "scheme"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        CheckConstraint(SchemeKind.check("kind"), name="kind"),
    )

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SchemeVersion(OrgScoped, Base):
    """One effective-dated version of a scheme's rules. Never changed once stored."""

    __tablename__ = "scheme_version"
    __table_args__ = (
        UniqueConstraint("organisation_id", "scheme_id", "version"),
        UniqueConstraint("organisation_id", "scheme_id", "effective_from"),
        org_fk(["scheme_id"], "scheme"),
    )

    scheme_id: Mapped[uuid.UUID] = mapped_column()
    version: Mapped[int] = mapped_column(comment="1, 2, ... in order of loading")
    effective_from: Mapped[date] = mapped_column()
    rules: Mapped[dict[str, Any]] = mapped_column(
        JSON, comment="the validated version as loaded (amount, split, fee, grace, ...)"
    )
    source: Mapped[str | None] = mapped_column(Text, comment="the schedule file text it came from")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))


class Harvest(OrgScoped, Base):
    __tablename__ = "harvest"
    __table_args__ = (
        # one harvest per member, scheme and day: a retried request cannot record it twice
        UniqueConstraint("organisation_id", "member_id", "scheme_id", "harvested_on"),
        org_fk(["member_id"], "member"),
        org_fk(["scheme_id"], "scheme"),
    )

    member_id: Mapped[uuid.UUID] = mapped_column()
    scheme_id: Mapped[uuid.UUID] = mapped_column()
    harvested_on: Mapped[date] = mapped_column()
    declared_value: Mapped[int | None] = mapped_column(comment="minor units")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))


class Due(OrgScoped, Base):
    """One expected contribution: subject, scheme version, period, amount, due date.

    Made by the hundred thousand (dues generation), so its references are checked by the
    database once per statement rather than once per row: instead of foreign keys, the
    triggers of migration 0002 refuse a due whose version is not of its scheme, whose
    enrolment (or harvest) is not of its subject and scheme, or whose organisation differs
    from theirs; they refuse any change to a due but what is paid on it, and the deletion
    of an enrolment, harvest or scheme version that dues come from. Every due comes from
    exactly one enrolment or one harvest, and those hold the foreign keys to the member,
    the unit and the scheme.
    """

    __tablename__ = "due"
    __table_args__ = (
        CheckConstraint("(member_id IS NULL) <> (unit_id IS NULL)", name="one_subject"),
        CheckConstraint("(enrolment_id IS NULL) <> (harvest_id IS NULL)", name="one_origin"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("paid >= 0 AND paid <= amount", name="paid_within_amount"),
        CheckConstraint("period_end >= period_start", name="period"),
        UniqueConstraint("organisation_id", "enrolment_id", "period_start"),
        Index(
            "uq_due_organisation_id_harvest_id",
            "organisation_id",
            "harvest_id",
            unique=True,
            postgresql_where=text("harvest_id IS NOT NULL"),
            sqlite_where=text("harvest_id IS NOT NULL"),
        ),
        # oldest-first allocation reads a payer's unpaid dues in this order; the partial
        # indexes hold only the rows they can find (a unit's dues are not in the members' one)
        Index(
            "ix_due_open_member",
            "organisation_id",
            "member_id",
            "due_on",
            "period_start",
            postgresql_where=text("paid < amount AND member_id IS NOT NULL"),
            sqlite_where=text("paid < amount AND member_id IS NOT NULL"),
        ),
        Index(
            "ix_due_open_unit",
            "organisation_id",
            "unit_id",
            "due_on",
            "period_start",
            postgresql_where=text("paid < amount AND unit_id IS NOT NULL"),
            sqlite_where=text("paid < amount AND unit_id IS NOT NULL"),
        ),
        Index(
            "ix_due_org_member_period",
            "organisation_id",
            "member_id",
            "period_start",
            postgresql_where=text("member_id IS NOT NULL"),
            sqlite_where=text("member_id IS NOT NULL"),
        ),
        Index(
            "ix_due_org_unit_period",
            "organisation_id",
            "unit_id",
            "period_start",
            postgresql_where=text("unit_id IS NOT NULL"),
            sqlite_where=text("unit_id IS NOT NULL"),
        ),
    )

    # the tenant column without the mixin's foreign key: see the class docstring
    organisation_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-10)
    member_id: Mapped[uuid.UUID | None] = mapped_column()
    unit_id: Mapped[uuid.UUID | None] = mapped_column()
    enrolment_id: Mapped[uuid.UUID | None] = mapped_column()
    harvest_id: Mapped[uuid.UUID | None] = mapped_column()
    scheme_id: Mapped[uuid.UUID] = mapped_column()
    scheme_version_id: Mapped[uuid.UUID] = mapped_column()
    period_start: Mapped[date] = mapped_column()
    period_end: Mapped[date] = mapped_column()
    due_on: Mapped[date] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(comment="minor units")
    paid: Mapped[int] = mapped_column(default=0, comment="minor units allocated so far")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def status(self) -> DueStatus:
        if self.paid == 0:
            return DueStatus.open
        return DueStatus.paid if self.paid >= self.amount else DueStatus.partial


class Enrolment(OrgScoped, Base):
    """A member or a unit in a scheme from a date (to a date).

    On PostgreSQL the table keeps free room in each page (fillfactor 70, migration 0002):
    dues generation moves `generated_through` of every enrolment each run, and with room on
    the page those updates touch no index (HOT updates).
    """

    __tablename__ = "enrolment"
    __table_args__ = (
        CheckConstraint("(member_id IS NULL) <> (unit_id IS NULL)", name="one_subject"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates"),
        org_fk(["member_id"], "member"),
        org_fk(["unit_id"], "transport_unit"),
        org_fk(["scheme_id"], "scheme"),
        # dues generation walks a scheme's enrolments in id order, a chunk at a time
        Index("ix_enrolment_org_scheme", "organisation_id", "scheme_id", "id"),
        Index("ix_enrolment_org_member", "organisation_id", "member_id"),
        Index("ix_enrolment_org_unit", "organisation_id", "unit_id"),
    )

    member_id: Mapped[uuid.UUID | None] = mapped_column()
    unit_id: Mapped[uuid.UUID | None] = mapped_column()
    scheme_id: Mapped[uuid.UUID] = mapped_column()
    starts_on: Mapped[date] = mapped_column()
    ends_on: Mapped[date | None] = mapped_column()
    declared_income: Mapped[int | None] = mapped_column(
        comment="minor units, for income-based schemes"
    )
    generated_through: Mapped[date | None] = mapped_column(
        comment="dues exist for every period ending on or before this date"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
