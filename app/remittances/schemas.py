"""Request and response models of the remittances and affiliations API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from app.core.schemas import AmountText, BusinessDate, Schema
from app.remittances.lifecycle import AffiliationStatus, BatchStatus, LineStatus

FileFormat = Literal["csv", "json", "pain.001"]


class BatchCreate(Schema):
    fund_code: str = Field(min_length=1, max_length=32, description="the fund to remit to")
    through: BusinessDate = Field(
        description="gather contributions for periods ending on or before this date"
    )


class CancelRequest(Schema):
    reason: str | None = Field(default=None, max_length=500)


class SettlementRead(Schema):
    amount: str = Field(description="what actually moved")
    settled_on: date
    reference: str | None
    account_id: uuid.UUID | None = Field(description="the bank or custody account credited")
    journal_id: uuid.UUID | None
    difference: str = Field(description="settled minus accepted; not 0 means flagged")
    flagged: bool = Field(description="the settled amount differs from what was accepted")


class BatchRead(Schema):
    id: uuid.UUID
    reference: str = Field(description="RB000012: sequential per organisation")
    fund_code: str
    status: BatchStatus
    through: date
    currency: str
    line_count: int = Field(description="control total: number of lines")
    control_sum: str = Field(description="control total: sum of the lines")
    accepted_count: int
    accepted_sum: str
    rejected_count: int
    rejected_sum: str
    pending_count: int
    created_at: datetime
    created_by: str
    sealed_at: datetime | None
    submitted_at: datetime | None
    acknowledged_at: datetime | None
    settled_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    seal_journal_id: uuid.UUID | None
    delivery: dict[str, Any] | None = Field(
        description="what the fund's adapter did at submission (outcome, attempts, answer). "
        "`answer.fund_reply` is the fund's own words, quoted: at most 500 characters, control "
        "characters dropped; `error` (a failed delivery) is ours and never quotes the fund"
    )
    settlement: SettlementRead | None


class LineRead(Schema):
    line_id: uuid.UUID
    line_number: int
    end_to_end_id: str
    member_id: uuid.UUID
    affiliation_number: str | None
    period_start: date
    period_end: date
    amount: str
    status: LineStatus
    reason: str | None
    decided_at: datetime | None


class AcknowledgementLine(Schema):
    end_to_end_id: str = Field(min_length=1, max_length=35)
    status: Literal["accepted", "rejected"]
    reason: str | None = Field(default=None, max_length=500, description="required to reject")


class AcknowledgementCreate(Schema):
    lines: list[AcknowledgementLine] = Field(min_length=1, max_length=200_000)


class AcknowledgementRead(Schema):
    acknowledgement_id: uuid.UUID
    accepted: int = Field(description="lines newly accepted by this acknowledgement")
    rejected: int = Field(description="lines newly rejected: owed again, for the next batch")
    rejected_sum: str
    journal_id: uuid.UUID | None = Field(description="in transit -> owed for the rejected lines")
    batch: BatchRead


class SettlementCreate(Schema):
    amount: AmountText
    settled_on: BusinessDate
    reference: str = Field(min_length=1, max_length=140, description="the bank's or fund's")
    bank_account_id: uuid.UUID | None = Field(
        default=None,
        description="asset account the money left (external funds; default: BANK:MAIN)",
    )


class FundFigures(Schema):
    fund_code: str
    name: str
    currency: str
    custody: bool
    owed: str = Field(description="collected, not yet sealed in a batch")
    in_transit: str = Field(description="sealed and not yet settled (plus any difference)")
    settled: str = Field(description="settled amounts of batches settled on or before as_of")
    custody_balance: str | None = Field(description="held for a custody fund")
    settlement_difference: str = Field(
        description="sum of settled minus accepted over settled batches: not 0 means flagged"
    )
    flagged_batches: list[str] = Field(description="references of batches with a difference")


class FundsReport(Schema):
    as_of: date | None
    funds: list[FundFigures]


# -- affiliations -------------------------------------------------------------------------------


class AffiliationCreate(Schema):
    fund_code: str = Field(min_length=1, max_length=32)
    member_ids: list[uuid.UUID] = Field(min_length=1, max_length=10_000)


class AffiliationLineRead(Schema):
    line_number: int
    member_id: uuid.UUID
    status: LineStatus
    affiliation_number: str | None
    reason: str | None
    commission: str | None


class CommissionPaymentCreate(Schema):
    amount: AmountText = Field(description="what the fund actually paid")
    paid_on: BusinessDate
    reference: str | None = Field(
        default=None, min_length=1, max_length=140, description="the bank's or fund's"
    )
    bank_account_id: uuid.UUID | None = Field(
        default=None,
        description="asset account the money arrived in (default: BANK:MAIN)",
    )


class CommissionPaymentRead(Schema):
    amount: str = Field(description="what the fund actually paid")
    expected: str = Field(description="the commission booked for the batch")
    difference: str = Field(description="paid minus booked; not 0 means flagged")
    flagged: bool = Field(description="the payment differs from what was booked")
    paid_on: date
    reference: str | None
    account_id: uuid.UUID = Field(description="the bank account credited")
    journal_id: uuid.UUID
    recorded_at: datetime


class AffiliationSummaryRead(Schema):
    id: uuid.UUID
    reference: str
    fund_code: str
    status: AffiliationStatus
    line_count: int
    accepted_count: int
    rejected_count: int
    commission_total: str = Field(description="commission booked, owed by the fund until paid")
    commission_payment: CommissionPaymentRead | None = Field(
        default=None, description="the fund's payment of the commissions, once recorded"
    )
    created_at: datetime
    submitted_at: datetime | None
    acknowledged_at: datetime | None
    delivery: dict[str, Any] | None


class AffiliationRead(AffiliationSummaryRead):
    lines: list[AffiliationLineRead]


class AffiliationAnswer(Schema):
    member_id: uuid.UUID
    status: Literal["accepted", "rejected"]
    affiliation_number: str | None = Field(
        default=None, min_length=1, max_length=64, description="required to accept"
    )
    reason: str | None = Field(default=None, max_length=500, description="required to reject")


class AffiliationAcknowledgementCreate(Schema):
    lines: list[AffiliationAnswer] = Field(min_length=1, max_length=10_000)
