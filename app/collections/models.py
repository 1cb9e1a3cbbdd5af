"""Collectors, receipts, their allocation to dues, contribution shares, hand-overs.

Money moves in the ledger; these rows say why. A receipt's journal entry and its allocations
and shares are written in one transaction.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.collections.vocabulary import Channel, ReceiptStatus
from app.core.database import Base, OrgScoped, org_fk, utcnow


class Collector(OrgScoped, Base):
    """A user or API key with role collector, and the cash account it holds money in."""

    __tablename__ = "collector"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (api_key_id IS NULL)", name="one_principal"),
        UniqueConstraint("organisation_id", "user_id"),
        UniqueConstraint("organisation_id", "api_key_id"),
        org_fk(["user_id"], "app_user"),
        org_fk(["api_key_id"], "api_key"),
        org_fk(["cash_account_id"], "account"),
    )

    user_id: Mapped[uuid.UUID | None] = mapped_column()
    api_key_id: Mapped[uuid.UUID | None] = mapped_column()
    name: Mapped[str] = mapped_column(String(120), comment="username or key name")
    group: Mapped[str | None] = mapped_column(String(120), comment="e.g. the union branch")
    cash_account_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReceiptCounter(Base):
    """The last receipt number given in an organisation. Incremented in the receipt's own
    transaction, so a failed request gives its number back and numbers have no gaps."""

    __tablename__ = "receipt_counter"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(default=0)


class Receipt(OrgScoped, Base):
    """Money a payer (a member or a transport unit) handed over once, numbered without gaps in
    the organisation. It is posted to the ledger in the same transaction (`journal_id`) and
    allocated to the payer's dues oldest first (`Allocation` rows); what no due takes is the
    payer's prepaid `credit`. Never deleted; only its reversal changes it, marking it
    `reversed` and posting the mirror entry (`reversal_journal_id`)."""

    __tablename__ = "receipt"
    __table_args__ = (
        UniqueConstraint("organisation_id", "receipt_number"),
        UniqueConstraint("organisation_id", "collector_id", "client_id"),
        CheckConstraint("(member_id IS NULL) <> (unit_id IS NULL)", name="one_payer"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("credit >= 0 AND credit <= amount", name="credit_within_amount"),
        CheckConstraint(Channel.check("channel"), name="channel"),
        CheckConstraint(ReceiptStatus.check("status"), name="status"),
        org_fk(["member_id"], "member"),
        org_fk(["unit_id"], "transport_unit"),
        org_fk(["collector_id"], "collector"),
        org_fk(["journal_id"], "journal_entry"),
        org_fk(["reversal_journal_id"], "journal_entry"),
        Index("ix_receipt_org_member", "organisation_id", "member_id", "received_at"),
        Index("ix_receipt_org_unit", "organisation_id", "unit_id", "received_at"),
        Index("ix_receipt_org_collector", "organisation_id", "collector_id", "received_at"),
        Index("ix_receipt_org_received", "organisation_id", "received_at"),
        # desk imports have no collector: their client ids are unique per organisation
        Index(
            "uq_receipt_desk_client_id",
            "organisation_id",
            "client_id",
            unique=True,
            postgresql_where=text("collector_id IS NULL AND client_id IS NOT NULL"),
            sqlite_where=text("collector_id IS NULL AND client_id IS NOT NULL"),
        ),
    )

    receipt_number: Mapped[int] = mapped_column(comment="sequential per organisation, no gaps")
    member_id: Mapped[uuid.UUID | None] = mapped_column()
    unit_id: Mapped[uuid.UUID | None] = mapped_column()
    amount: Mapped[int] = mapped_column(comment="minor units")
    currency: Mapped[str] = mapped_column(String(3))
    received_at: Mapped[datetime] = mapped_column()
    channel: Mapped[str] = mapped_column(String(16))
    collector_id: Mapped[uuid.UUID | None] = mapped_column()
    reference: Mapped[str | None] = mapped_column(String(120))
    client_id: Mapped[str | None] = mapped_column(
        String(120), comment="the collector's own id for the item (collection sheets)"
    )
    credit: Mapped[int] = mapped_column(
        comment="minor units no due took: the payer's prepaid credit"
    )
    status: Mapped[str] = mapped_column(String(16), default=ReceiptStatus.posted.value)
    journal_id: Mapped[uuid.UUID] = mapped_column()
    reversal_journal_id: Mapped[uuid.UUID | None] = mapped_column()
    reversed_at: Mapped[datetime | None] = mapped_column()
    reversal_reason: Mapped[str | None] = mapped_column(String(500))
    reversed_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))


class Allocation(OrgScoped, Base):
    """Money applied to a due: from a receipt, or from the payer's prepaid credit.

    Append-only: undoing one (a receipt reversed) adds a negative row pointing at it.
    """

    __tablename__ = "allocation"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint("source IN ('receipt', 'credit')", name="source"),
        UniqueConstraint("organisation_id", "reverses_id"),
        org_fk(["due_id"], "due"),
        # deferred: a receipt row is inserted last, when its number is taken just before
        # commit, so that the organisation's receipt counter is locked for the least time
        org_fk(["receipt_id"], "receipt", deferrable=True, initially="DEFERRED"),
        org_fk(["journal_id"], "journal_entry"),
        org_fk(["reverses_id"], "allocation"),
        Index("ix_allocation_org_receipt", "organisation_id", "receipt_id"),
        Index("ix_allocation_org_due", "organisation_id", "due_id"),
    )

    due_id: Mapped[uuid.UUID] = mapped_column()
    receipt_id: Mapped[uuid.UUID | None] = mapped_column(
        comment="the receipt whose money this is; null when it came from prepaid credit"
    )
    source: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(comment="minor units; negative when undoing")
    journal_id: Mapped[uuid.UUID] = mapped_column(comment="the entry that moved this money")
    reverses_id: Mapped[uuid.UUID | None] = mapped_column()
    allocated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContributionShare(OrgScoped, Base):
    """What one allocation owes one fund on behalf of one member, for one period.

    The unit that remittances batch: a unit's contribution is attributed to its covered crew
    in equal shares (largest remainder). Negative rows undo an allocation's shares.
    """

    __tablename__ = "contribution_share"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        org_fk(["allocation_id"], "allocation"),
        org_fk(["due_id"], "due"),
        org_fk(["fund_id"], "fund"),
        org_fk(["member_id"], "member"),
        org_fk(["reverses_id"], "contribution_share"),
        UniqueConstraint("organisation_id", "reverses_id"),
        Index("ix_contribution_share_org_fund_period", "organisation_id", "fund_id", "period_end"),
        Index("ix_contribution_share_org_allocation", "organisation_id", "allocation_id"),
    )

    allocation_id: Mapped[uuid.UUID] = mapped_column()
    due_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    member_id: Mapped[uuid.UUID] = mapped_column(comment="the member it counts for")
    period_start: Mapped[date] = mapped_column()
    period_end: Mapped[date] = mapped_column()
    amount: Mapped[int] = mapped_column(comment="minor units; negative when undoing")
    reverses_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Handover(OrgScoped, Base):
    """Cash moved from a collector to a bank or treasury account, with any difference shown."""

    __tablename__ = "handover"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("counted_amount >= 0", name="counted_not_negative"),
        org_fk(["collector_id"], "collector"),
        org_fk(["to_account_id"], "account"),
        org_fk(["journal_id"], "journal_entry"),
        Index("ix_handover_org_collector", "organisation_id", "collector_id", "handed_over_at"),
    )

    collector_id: Mapped[uuid.UUID] = mapped_column()
    amount: Mapped[int] = mapped_column(comment="what the collector's cash account says was handed")
    counted_amount: Mapped[int] = mapped_column(comment="what was counted on receipt")
    currency: Mapped[str] = mapped_column(String(3))
    to_account_id: Mapped[uuid.UUID] = mapped_column()
    handed_over_at: Mapped[datetime] = mapped_column()
    reference: Mapped[str] = mapped_column(String(120))
    journal_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))

    @property
    def difference(self) -> int:
        """Positive: surplus counted; negative: shortfall."""
        return self.counted_amount - self.amount


class RoundPayer(OrgScoped, Base):
    """A payer (member or transport unit) on a collector's round, or on a collector group's
    round. A collector's round is its own payers and its group's: the payers the collector app
    downloads for use offline (docs/collect.md)."""

    __tablename__ = "round_payer"
    __table_args__ = (
        CheckConstraint("(collector_id IS NULL) <> (collector_group IS NULL)", name="one_holder"),
        CheckConstraint("(member_id IS NULL) <> (unit_id IS NULL)", name="one_payer"),
        UniqueConstraint("organisation_id", "collector_id", "member_id"),
        UniqueConstraint("organisation_id", "collector_id", "unit_id"),
        UniqueConstraint("organisation_id", "collector_group", "member_id"),
        UniqueConstraint("organisation_id", "collector_group", "unit_id"),
        org_fk(["collector_id"], "collector"),
        org_fk(["member_id"], "member"),
        org_fk(["unit_id"], "transport_unit"),
    )

    collector_id: Mapped[uuid.UUID | None] = mapped_column(comment="a collector's own round")
    collector_group: Mapped[str | None] = mapped_column(
        String(120), comment="a group's round: every collector of that group collects it"
    )
    member_id: Mapped[uuid.UUID | None] = mapped_column()
    unit_id: Mapped[uuid.UUID | None] = mapped_column()
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
