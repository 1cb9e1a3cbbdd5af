"""Remittance batches, their lines, the shares each line carries, acknowledgements, and
affiliation batches.

A share (app.collections.models.ContributionShare) is in at most one live batch: the
`remittance_share` link row says which, and a partial unique index on the share holds only
live links (a cancelled batch or a rejected line releases its links; the history stays).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, OrgScoped, org_fk, utcnow
from app.remittances.lifecycle import (
    AFFILIATION,
    REMITTANCE,
    AffiliationStatus,
    BatchStatus,
    Lifecycle,
    LineStatus,
)

BATCH_STATUSES = BatchStatus.values()
LINE_STATUSES = LineStatus.values()
AFFILIATION_BATCH_STATUSES = AffiliationStatus.values()


class RemittanceCounter(Base):
    """The last batch number given in an organisation, per kind of batch (no gaps: the number
    is taken in the batch's own transaction)."""

    __tablename__ = "remittance_counter"
    __table_args__ = (CheckConstraint("kind IN ('remittance', 'affiliation')", name="kind"),)

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_number: Mapped[int] = mapped_column(default=0)


class RemittanceBatch(OrgScoped, Base):
    """The contributions owed to one fund through a date, with control totals."""

    lifecycle: ClassVar[Lifecycle] = REMITTANCE

    __tablename__ = "remittance_batch"
    __table_args__ = (
        UniqueConstraint("organisation_id", "number"),
        CheckConstraint(BatchStatus.check("status"), name="status"),
        CheckConstraint("line_count >= 0 AND control_sum >= 0", name="totals_not_negative"),
        CheckConstraint(
            "accepted_sum + rejected_sum <= control_sum AND accepted_count + rejected_count "
            "<= line_count",
            name="decided_within_totals",
        ),
        CheckConstraint(
            "status <> 'settled' OR settled_amount IS NOT NULL", name="settled_has_amount"
        ),
        org_fk(["fund_id"], "fund"),
        org_fk(["seal_journal_id"], "journal_entry"),
        org_fk(["settlement_journal_id"], "journal_entry"),
        org_fk(["settlement_account_id"], "account"),
        Index("ix_remittance_batch_org_fund_status", "organisation_id", "fund_id", "status"),
    )

    number: Mapped[int] = mapped_column(comment="sequential per organisation")
    fund_id: Mapped[uuid.UUID] = mapped_column()
    through: Mapped[date] = mapped_column(comment="periods ending on or before this date")
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.draft.value)
    currency: Mapped[str] = mapped_column(String(3))
    line_count: Mapped[int] = mapped_column(comment="control total: number of lines")
    control_sum: Mapped[int] = mapped_column(comment="control total: sum of lines, minor units")
    accepted_count: Mapped[int] = mapped_column(default=0)
    accepted_sum: Mapped[int] = mapped_column(default=0, comment="minor units")
    rejected_count: Mapped[int] = mapped_column(default=0)
    rejected_sum: Mapped[int] = mapped_column(default=0, comment="minor units")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    sealed_at: Mapped[datetime | None] = mapped_column()
    seal_journal_id: Mapped[uuid.UUID | None] = mapped_column(
        comment="owed -> in transit, for the control sum"
    )
    submitted_at: Mapped[datetime | None] = mapped_column()
    delivery: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="what the fund's adapter did and answered at submission"
    )
    acknowledged_at: Mapped[datetime | None] = mapped_column(
        comment="when the last pending line was decided"
    )
    settled_at: Mapped[datetime | None] = mapped_column()
    settled_on: Mapped[date | None] = mapped_column()
    settled_amount: Mapped[int | None] = mapped_column(comment="what actually moved, minor units")
    settlement_reference: Mapped[str | None] = mapped_column(String(140))
    settlement_account_id: Mapped[uuid.UUID | None] = mapped_column(
        comment="the bank account (or the fund's custody account) credited at settlement"
    )
    settlement_journal_id: Mapped[uuid.UUID | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def reference(self) -> str:
        return f"RB{self.number:06d}"

    @property
    def settlement_difference(self) -> int | None:
        """Settled minus accepted; anything but 0 is flagged and stays in transit."""
        if self.settled_amount is None:
            return None
        return self.settled_amount - self.accepted_sum


class RemittanceLine(OrgScoped, Base):
    """What one member's contributions to the fund for one period add up to in a batch.

    A 100,000-line batch is one INSERT, and a foreign key is a check per row: the references
    (batch, member, acknowledgement, each of the line's organisation) are checked by the
    database once per statement instead (triggers of migration 0007, as for `due`), the keys
    of a line never change, and what a line names is never deleted. On PostgreSQL the table
    keeps half of each page free (migration 0009): the acknowledgement then updates each line
    in place (no indexed column changes) instead of adding to its four indexes.
    """

    __tablename__ = "remittance_line"
    __table_args__ = (
        UniqueConstraint("organisation_id", "end_to_end_id"),
        UniqueConstraint("organisation_id", "batch_id", "line_number"),
        UniqueConstraint("organisation_id", "batch_id", "member_id", "period_start", "period_end"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(LineStatus.check("status"), name="status"),
    )

    organisation_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-10)
    batch_id: Mapped[uuid.UUID] = mapped_column()
    line_number: Mapped[int] = mapped_column()
    end_to_end_id: Mapped[str] = mapped_column(
        String(35), comment="unique per organisation; the ISO 20022 EndToEndId"
    )
    member_id: Mapped[uuid.UUID] = mapped_column()
    affiliation_number: Mapped[str | None] = mapped_column(
        String(64), comment="the member's number at the fund when the batch was made"
    )
    period_start: Mapped[date] = mapped_column()
    period_end: Mapped[date] = mapped_column()
    amount: Mapped[int] = mapped_column(comment="minor units")
    status: Mapped[str] = mapped_column(String(16), default=LineStatus.pending.value)
    reason: Mapped[str | None] = mapped_column(String(500), comment="why the fund rejected it")
    decided_at: Mapped[datetime | None] = mapped_column()
    acknowledgement_id: Mapped[uuid.UUID | None] = mapped_column()


class RemittanceShare(Base):
    """A contribution share carried by a batch. Live while `released_at` is null: a share has
    at most one live link (partial unique index), so it is never remitted twice.

    Its batch and share are checked by the database once per statement, not by per-row
    foreign keys (see RemittanceLine); a contribution share is never deleted."""

    __tablename__ = "remittance_share"
    __table_args__ = (
        Index(
            "uq_remittance_share_live",
            "organisation_id",
            "share_id",
            unique=True,
            postgresql_where=text("released_at IS NULL"),
            sqlite_where=text("released_at IS NULL"),
        ),
    )

    organisation_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    share_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    released_at: Mapped[datetime | None] = mapped_column(
        comment="set when the batch was cancelled or the share's line rejected"
    )


class RemittanceAcknowledgement(OrgScoped, Base):
    """One answer from the fund about a batch's lines (JSON, pain.002, or the adapter's)."""

    __tablename__ = "remittance_acknowledgement"
    __table_args__ = (
        CheckConstraint("source IN ('json', 'pain.002', 'adapter')", name="source"),
        org_fk(["batch_id"], "remittance_batch"),
        org_fk(["journal_id"], "journal_entry"),
        Index("ix_remittance_acknowledgement_org_batch", "organisation_id", "batch_id"),
    )

    batch_id: Mapped[uuid.UUID] = mapped_column()
    source: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str | None] = mapped_column(String(35), comment="pain.002 MsgId")
    accepted_count: Mapped[int] = mapped_column(comment="lines newly accepted")
    rejected_count: Mapped[int] = mapped_column(comment="lines newly rejected")
    rejected_sum: Mapped[int] = mapped_column(comment="minor units returned to owed")
    journal_id: Mapped[uuid.UUID | None] = mapped_column(
        comment="in transit -> owed for the lines it rejected"
    )
    document: Mapped[str | None] = mapped_column(Text, comment="the pain.002 as received")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))


class AffiliationBatch(OrgScoped, Base):
    """Members to register with a fund, sent through the fund's adapter like a remittance."""

    lifecycle: ClassVar[Lifecycle] = AFFILIATION

    __tablename__ = "affiliation_batch"
    __table_args__ = (
        UniqueConstraint("organisation_id", "number"),
        CheckConstraint(AffiliationStatus.check("status"), name="status"),
        org_fk(["fund_id"], "fund"),
    )

    number: Mapped[int] = mapped_column(comment="sequential per organisation")
    fund_id: Mapped[uuid.UUID] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=AffiliationStatus.open.value)
    line_count: Mapped[int] = mapped_column()
    accepted_count: Mapped[int] = mapped_column(default=0)
    rejected_count: Mapped[int] = mapped_column(default=0)
    commission_total: Mapped[int] = mapped_column(default=0, comment="minor units booked")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    submitted_at: Mapped[datetime | None] = mapped_column()
    delivery: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    acknowledged_at: Mapped[datetime | None] = mapped_column()

    @property
    def reference(self) -> str:
        return f"AF{self.number:06d}"


class AffiliationLine(OrgScoped, Base):
    """One member to register; a member has at most one pending request per fund."""

    __tablename__ = "affiliation_line"
    __table_args__ = (
        UniqueConstraint("organisation_id", "batch_id", "member_id"),
        UniqueConstraint("organisation_id", "batch_id", "line_number"),
        CheckConstraint(LineStatus.check("status"), name="status"),
        CheckConstraint(
            "status <> 'accepted' OR affiliation_number IS NOT NULL", name="accepted_has_number"
        ),
        org_fk(["batch_id"], "affiliation_batch"),
        org_fk(["member_id"], "member"),
        org_fk(["fund_id"], "fund"),
        org_fk(["commission_journal_id"], "journal_entry"),
        Index(
            "uq_affiliation_line_pending",
            "organisation_id",
            "fund_id",
            "member_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    batch_id: Mapped[uuid.UUID] = mapped_column()
    line_number: Mapped[int] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column(comment="the batch's, for the pending index")
    member_id: Mapped[uuid.UUID] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=LineStatus.pending.value)
    affiliation_number: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(500))
    decided_at: Mapped[datetime | None] = mapped_column()
    commission: Mapped[int | None] = mapped_column(comment="minor units booked as income")
    commission_journal_id: Mapped[uuid.UUID | None] = mapped_column()


class AffiliationCommissionPayment(OrgScoped, Base):
    """The fund paying the commissions an affiliation batch earned: once per batch, what
    actually arrived (a difference from what was booked is kept and flagged, never absorbed:
    it stays in the commission receivable until a treasurer explains it)."""

    __tablename__ = "affiliation_commission_payment"
    __table_args__ = (
        UniqueConstraint("organisation_id", "batch_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
        org_fk(["batch_id"], "affiliation_batch"),
        org_fk(["account_id"], "account"),
        org_fk(["journal_id"], "journal_entry"),
    )

    batch_id: Mapped[uuid.UUID] = mapped_column()
    amount: Mapped[int] = mapped_column(comment="what the fund paid, minor units")
    expected: Mapped[int] = mapped_column(
        comment="the batch's booked commission when it was paid, minor units"
    )
    paid_on: Mapped[date] = mapped_column()
    reference: Mapped[str | None] = mapped_column(String(140))
    account_id: Mapped[uuid.UUID] = mapped_column(comment="the bank account it arrived in")
    journal_id: Mapped[uuid.UUID] = mapped_column(comment="bank <- commission receivable")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))

    @property
    def difference(self) -> int:
        """Paid minus booked; anything but 0 is flagged and stays in the receivable."""
        return self.amount - self.expected


__all__ = [
    "AFFILIATION_BATCH_STATUSES",
    "BATCH_STATUSES",
    "LINE_STATUSES",
    "AffiliationBatch",
    "AffiliationCommissionPayment",
    "AffiliationLine",
    "RemittanceAcknowledgement",
    "RemittanceBatch",
    "RemittanceCounter",
    "RemittanceLine",
    "RemittanceShare",
]
