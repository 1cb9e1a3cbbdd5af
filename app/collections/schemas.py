"""Request and response models of the collections API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from app.collections.vocabulary import Channel, ReceiptStatus, ReportGrouping
from app.core.messages import FieldError
from app.core.schemas import AmountText, BusinessDate, CurrencyCode, ReasonText, Schema

Reference = str

MAX_SHEET_ITEMS = 5000


class ReceiptCreate(Schema):
    """Money received from one member or one transport unit (give exactly one of the two)."""

    member_id: uuid.UUID | None = Field(default=None, description="the member who paid")
    unit_id: uuid.UUID | None = Field(default=None, description="the transport unit paid for")
    amount: AmountText
    currency: CurrencyCode = Field(description="the organisation's book currency")
    received_at: AwareDatetime = Field(description="when the money was taken, with its offset")
    channel: Channel
    collector_id: uuid.UUID | None = Field(
        default=None,
        description="the collector who took it; a collector posting is always its own "
        "collector; omit for desk, bank or mobile-money receipts",
    )
    reference: str | None = Field(
        default=None, max_length=120, description="slip, transaction or bank reference"
    )


class AllocationRead(Schema):
    due_id: uuid.UUID
    amount: str


class ReversalRead(Schema):
    journal_id: uuid.UUID
    reason: str
    reversed_at: datetime
    reversed_by: str


class ReceiptRead(Schema):
    id: uuid.UUID
    receipt_number: int = Field(description="sequential per organisation, without gaps")
    member_id: uuid.UUID | None
    unit_id: uuid.UUID | None
    amount: str
    currency: str
    received_at: datetime
    channel: Channel
    collector_id: uuid.UUID | None
    reference: str | None
    client_id: str | None = Field(description="the collector's id of a sheet or import item")
    status: ReceiptStatus
    journal_id: uuid.UUID
    allocations: list[AllocationRead] = Field(
        description="what the receipt paid on each due, oldest due first"
    )
    credit: str = Field(description="what no due took: the payer's prepaid credit")
    created_at: datetime
    created_by: str
    reversal: ReversalRead | None = None


class ReverseReceipt(Schema):
    reason: ReasonText


# -- collection sheets --------------------------------------------------------------------------


class SheetItem(Schema):
    """One receipt of a sheet. Validated on its own: a bad item is rejected, not the sheet."""

    client_id: str = Field(
        min_length=1,
        max_length=120,
        description="the collector's own id for the item, unique per collector: an item "
        "sent again answers `duplicate`",
    )
    member_id: uuid.UUID | None = None
    unit_id: uuid.UUID | None = None
    payer: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="instead of member_id or unit_id: a member number or a plate as typed "
        "(case, spaces and dashes do not matter); rejected when it names no payer or more "
        "than one",
        examples=["A-123456"],
    )
    amount: AmountText
    currency: CurrencyCode
    received_at: AwareDatetime
    channel: Channel
    reference: str | None = Field(default=None, max_length=120)


class SheetCreate(Schema):
    """A collector's day of receipts, captured offline."""

    collector_id: uuid.UUID | None = Field(
        default=None,
        description="defaults to the caller when a collector posts; a treasurer names one",
    )
    collected_on: BusinessDate
    receipts: list[Any] = Field(
        min_length=1,
        max_length=MAX_SHEET_ITEMS,
        description="items shaped as SheetItem; each is validated on its own",
        json_schema_extra={"items": SheetItem.model_json_schema()},
    )


class ItemError(Schema):
    field: str
    message: str = Field(description="what is wrong, in English")
    code: str | None = Field(
        default=None, description="the message's stable code (see the Problem schema)"
    )
    params: dict[str, str] | None = Field(
        default=None, description="the message's parameters, by name"
    )

    @classmethod
    def of(cls, error: FieldError) -> ItemError:
        said = error.to_json()
        return cls(**{k: said.get(k) for k in ("field", "message", "code", "params")})


class PeriodPaid(Schema):
    """What part of a receipt paid which period of a due (for the payer's slip)."""

    period_start: date
    period_end: date
    amount: str


class PayerRead(Schema):
    """Who a posted item's receipt is from (as the server resolved a typed number or plate)."""

    kind: Literal["member", "unit"]
    member_id: uuid.UUID | None
    unit_id: uuid.UUID | None
    number: str = Field(description="the member number or the plate")
    name: str = Field(description="the member's name; for a unit its kind and owner")


class ItemResult(Schema):
    client_id: str | None
    status: Literal["created", "duplicate", "rejected", "valid"] = Field(
        description="created; duplicate (sent before: receipt_id is the original); "
        "rejected (see errors); valid (dry run only: would be created)"
    )
    receipt_id: uuid.UUID | None = None
    receipt_number: int | None = None
    errors: list[ItemError] | None = None
    periods: list[PeriodPaid] | None = Field(
        default=None,
        description="collection sheets: for a created or duplicate item, the periods its "
        "money paid (a receipt that only adds credit has none)",
    )
    amount: str | None = Field(
        default=None,
        description="collection sheets: for a created or duplicate item, the receipt's amount "
        "(a duplicate's is the original's, whatever the item resent said)",
    )
    payer: PayerRead | None = Field(
        default=None,
        description="collection sheets: for a created or duplicate item, its payer (how the "
        "server resolved a `payer` typed by number or plate)",
    )


class SheetResult(Schema):
    results: list[ItemResult] = Field(description="one per item, in the order sent")
    created: int
    duplicates: int
    rejected: int


class ImportRowResult(ItemResult):
    row: int = Field(description="the row in the file; the header is row 1")


class ImportResult(Schema):
    dry_run: bool
    results: list[ImportRowResult]
    created: int
    duplicates: int
    rejected: int
    valid: int = Field(description="dry run: rows that would be created")


# -- collectors and hand-overs ------------------------------------------------------------------


class CollectorRead(Schema):
    id: uuid.UUID
    name: str = Field(description="username or API key name")
    kind: Literal["user", "key"]
    username: str | None
    group: str | None
    cash_account_id: uuid.UUID
    cash_balance: str = Field(description="cash the collector holds now")
    currency: str
    created_at: datetime


class CollectorUpdate(Schema):
    group: str | None = Field(max_length=120, description="e.g. the union branch; null clears it")


class HandoverCreate(Schema):
    collector_id: uuid.UUID
    amount: AmountText = Field(description="what leaves the collector's cash account")
    counted_amount: AmountText | None = Field(
        default=None, description="what was counted on receipt (default: amount)"
    )
    currency: CurrencyCode
    to_account_id: uuid.UUID = Field(description="the bank or treasury (asset) account")
    handed_over_at: AwareDatetime
    reference: str = Field(min_length=1, max_length=120)


class HandoverRead(Schema):
    id: uuid.UUID
    collector_id: uuid.UUID
    amount: str
    counted_amount: str
    difference: str = Field(description="counted minus amount: negative is a shortfall")
    outcome: Literal["exact", "shortfall", "surplus"]
    currency: str
    to_account_id: uuid.UUID
    handed_over_at: datetime
    reference: str
    journal_id: uuid.UUID
    created_at: datetime
    created_by: str


# -- reports ------------------------------------------------------------------------------------


class CollectionsRow(Schema):
    key: str = Field(description="the day, collector id, fund code or scheme code")
    label: str
    receipts: int = Field(description="receipts that contributed to this row")
    amount: str


class CollectionsReport(Schema):
    group_by: ReportGrouping
    from_: date | None = Field(alias="from")
    to: date | None
    currency: str
    rows: list[CollectionsRow]
    total: str = Field(description="all posted receipts in the range; the rows sum to it")
    receipts: int
    reversed: int = Field(description="receipts in the range that were reversed (not counted)")


class StatementLine(Schema):
    on: date
    kind: Literal["due", "receipt", "allocation", "reversal", "credit_applied", "credit_undone"]
    description: str
    due_id: uuid.UUID | None = None
    receipt_id: uuid.UUID | None = None
    receipt_number: int | None = None
    amount: str = Field(description="the amount of the due, receipt, allocation or reversal")
    change: str = Field(
        description="signed effect on the balance: a due adds, a receipt subtracts, its reversal "
        "adds back; allocations only say which due took the money and change nothing"
    )
    balance: str = Field(description="what the member owes after this line; negative: credit")


class Statement(Schema):
    member_id: uuid.UUID
    member_number: str
    full_name: str
    currency: str
    from_: date | None = Field(alias="from")
    to: date | None
    opening_balance: str
    closing_balance: str
    lines: list[StatementLine]


# -- rounds and the collector's day ---------------------------------------------------------------


class RoundSet(Schema):
    """The whole round: these payers and no others (an empty list empties it)."""

    member_ids: list[uuid.UUID] = Field(default_factory=list, max_length=5000)
    unit_ids: list[uuid.UUID] = Field(default_factory=list, max_length=5000)


class RoundPayerRead(Schema):
    kind: Literal["member", "unit"]
    member_id: uuid.UUID | None
    unit_id: uuid.UUID | None
    member_number: str | None
    registration: str | None
    name: str = Field(description="the member's name; for a unit its kind and owner")
    due_today: str = Field(description="unpaid on dues due on as_of")
    arrears: str = Field(description="unpaid on dues due before as_of")
    paid_through: date | None = Field(
        description="the day before the oldest period not fully paid (own dues only)"
    )


class RoundRead(Schema):
    as_of: date = Field(description="the organisation's day the figures are for")
    currency: str
    collector_id: uuid.UUID | None = None
    group: str | None = None
    items: list[RoundPayerRead]


class PayerSearchRead(Schema):
    as_of: date
    currency: str
    items: list[RoundPayerRead]


class OrganisationBrief(Schema):
    code: str
    name: str
    currency: str
    time_zone: str


class CollectorDay(Schema):
    on: date = Field(description="the organisation's day")
    receipts: int = Field(description="posted receipts of the collector that day, not reversed")
    total: str


class CollectorMe(CollectorRead):
    """The calling collector, its organisation, its day on the server and its last hand-over."""

    organisation: OrganisationBrief
    today: CollectorDay
    last_handover: HandoverRead | None
