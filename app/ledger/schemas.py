"""Request and response models of the ledger API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field

from app.core.schemas import AmountText, BusinessDate, CurrencyCode, ReasonText, Schema
from app.ledger.models import AccountType


class AccountCreate(Schema):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    name: str = Field(min_length=1, max_length=200)
    type: AccountType
    currency: CurrencyCode


class AccountRead(Schema):
    id: uuid.UUID
    code: str
    name: str
    type: AccountType
    currency: str
    created_at: datetime
    owner: str = Field(
        description="manual: the organisation's own, open to manual entries; otherwise the "
        "service that keeps it (fund, collector, member, unit, collections)"
    )
    owner_ref: str | None = Field(description="which one: a fund code, a member number, ...")


class BalanceRead(Schema):
    account_id: uuid.UUID
    currency: str
    balance: str = Field(description="signed by the account's normal side")
    as_of: date | None


class PostingCreate(Schema):
    account_id: uuid.UUID
    amount: AmountText
    direction: Literal["debit", "credit"]


class JournalCreate(Schema):
    description: str = Field(min_length=1, max_length=500)
    effective_on: BusinessDate
    postings: list[PostingCreate] = Field(min_length=2, max_length=1000)


class ReverseRequest(Schema):
    reason: ReasonText
    effective_on: BusinessDate | None = Field(
        default=None, description="business date of the reversal (default: today)"
    )


class PostingRead(Schema):
    id: uuid.UUID
    account_id: uuid.UUID
    amount: str
    direction: Literal["debit", "credit"]
    currency: str


class JournalRead(Schema):
    id: uuid.UUID
    description: str
    effective_on: date
    recorded_at: datetime
    kind: str
    created_by: str
    reverses_id: uuid.UUID | None
    reversed_by_id: uuid.UUID | None
    reason: str | None
    owner: str = Field(
        description="manual, or the service that made it and alone may undo it (receipt, "
        "handover, remittance_batch, ...)"
    )
    owner_ref: str | None = Field(description="which one: a receipt id, a batch reference, ...")
    postings: list[PostingRead]


class HistoryLineRead(Schema):
    entry_id: uuid.UUID
    posting_id: uuid.UUID
    effective_on: date
    recorded_at: datetime
    description: str
    kind: str
    amount: str
    direction: Literal["debit", "credit"]
    balance_after: str = Field(description="the account's balance after this line, normal side")
