"""Request and response models of schemes, harvests, dues, standing, arrears and quotes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import Field, model_validator

from app.core.messages import N_, Template
from app.core.schemas import AmountText, BusinessDate, Page, Schema
from app.core.vocabulary import Vocabulary
from app.schemes.models import CoverageStatus, DueStatus, SchemeKind

ONE_SUBJECT = Template("enrolment.one_subject", N_("give exactly one of member_id or unit_id"))


class QuotePeriod(Vocabulary):
    """What a quote's `per_period` is for: a (working) day, a month or a harvest."""

    day = "day", N_("day")
    month = "month", N_("month")
    harvest = "harvest", N_("harvest")


Aging = dict[str, str]
_AGING = 'unpaid amounts by days past their due date: {"0-30", "31-60", "61-90", "90+"}'


class EnrolmentCreate(Schema):
    member_id: uuid.UUID | None = Field(default=None, description="a member (monthly, per harvest)")
    unit_id: uuid.UUID | None = Field(default=None, description="a transport unit (daily per unit)")
    scheme_code: str = Field(min_length=1, max_length=64)
    starts_on: BusinessDate
    ends_on: BusinessDate | None = None
    declared_income: AmountText | None = Field(
        default=None, description="monthly income, for schemes that take a share of it"
    )

    @model_validator(mode="after")
    def _one_subject(self) -> EnrolmentCreate:
        if (self.member_id is None) == (self.unit_id is None):
            raise ONE_SUBJECT.pydantic()
        return self


class EnrolmentUpdate(Schema):
    """End an enrolment (or move its end), or change the declared income for later dues."""

    ends_on: BusinessDate | None = None
    declared_income: AmountText | None = None


class EnrolmentRead(Schema):
    id: uuid.UUID
    member_id: uuid.UUID | None
    unit_id: uuid.UUID | None
    scheme_code: str
    starts_on: date
    ends_on: date | None
    declared_income: str | None
    generated_through: date | None = Field(
        description="dues exist for every period of this enrolment ending on or before this date"
    )
    created_at: datetime


class SchemeVersionRead(Schema):
    version: int = Field(description="1, 2, ... in the order versions were loaded")
    effective_from: date
    rules: dict[str, Any] = Field(description="the version as loaded, in the schedule file's words")
    created_at: datetime
    created_by: str


class SchemeRead(Schema):
    id: uuid.UUID
    code: str
    name: str
    kind: SchemeKind
    currency: str
    created_at: datetime
    versions: list[SchemeVersionRead]


class SchemeLoadRead(SchemeRead):
    created: bool = Field(description="the scheme is new")
    added_versions: list[int] = Field(description="versions this load added (none: nothing new)")


class HarvestCreate(Schema):
    member_id: uuid.UUID
    scheme_code: str = Field(min_length=1, max_length=64)
    harvested_on: BusinessDate
    declared_value: AmountText | None = Field(
        default=None, description="the harvest's value, for schemes that take a share of it"
    )


class DueRead(Schema):
    id: uuid.UUID
    member_id: uuid.UUID | None
    unit_id: uuid.UUID | None
    enrolment_id: uuid.UUID | None
    harvest_id: uuid.UUID | None
    scheme_code: str
    scheme_version: int
    period_start: date
    period_end: date
    due_on: date
    currency: str
    amount: str
    paid: str
    status: DueStatus


class HarvestRead(Schema):
    id: uuid.UUID
    member_id: uuid.UUID
    scheme_code: str
    harvested_on: date
    declared_value: str | None
    due: DueRead


class GenerateRequest(Schema):
    through: BusinessDate = Field(
        description="make every due whose period ends on or before this date"
    )


class GenerateRead(Schema):
    through: date
    created: int = Field(description="dues made by this run (0 when run again)")
    enrolments: int = Field(description="enrolments whose dues were brought up to date")
    payers: int = Field(description="members and units that got new dues")


class CoverageRead(Schema):
    fund_code: str
    status: CoverageStatus
    covered_until: date = Field(
        description="grace_days past the due date of the oldest unpaid due (or of the last due)"
    )


class StandingRead(Schema):
    member_id: uuid.UUID
    as_of: date
    currency: str
    paid_through: date | None = Field(
        description="the day before the oldest period not fully paid (null: nothing paid yet)"
    )
    arrears: str = Field(description="unpaid on dues whose due date is before as_of")
    aging: Aging = Field(description=_AGING)
    oldest_overdue_on: date | None
    penalty: str = Field(description="penalties where the scheme defines them (not a due)")
    credit: str = Field(description="prepaid credit: money received that no due has taken yet")
    coverage: list[CoverageRead]


class UnitArrearsRead(Schema):
    unit_id: uuid.UUID
    registration: str
    arrears: str = Field(description="what is overdue on the unit's dues")


class ArrearsLineRead(Schema):
    member_id: uuid.UUID
    member_number: str
    full_name: str
    arrears: str = Field(
        description="the member's standing: their own dues' arrears plus, for a covered crew "
        "member, the arrears of each unit they are covered through (in `through_units`)"
    )
    own_arrears: str = Field(description="what is overdue on the member's own dues")
    through_units: list[UnitArrearsRead] = Field(
        description="the units whose arrears count in this member's standing; a unit with two "
        "covered crew members appears on both lines, so lines do not add up to `total`"
    )
    aging: Aging = Field(description=_AGING)
    oldest_overdue_on: date | None
    penalty: str
    credit: str
    paid_through: date | None


class ArrearsPage(Page[ArrearsLineRead]):
    """One page of the arrears report, with what the organisation is owed in all."""

    currency: str
    total: str = Field(
        description="every overdue due counted once, a member's or a unit's: the dashboard's "
        "figure (not the sum of the lines, where a unit counts once per covered crew member)"
    )
    total_aging: Aging = Field(description="the total by aging bucket")


class FundPart(Schema):
    fund_code: str
    amount: str


class QuoteAmounts(Schema):
    amount: str
    fee: str = Field(description="the intermediary's fee, taken first")
    funds: list[FundPart] = Field(description="the rest, split across funds; parts + fee = amount")


class QuoteRead(Schema):
    scheme_code: str
    scheme_name: str
    kind: SchemeKind
    version: int
    currency: str
    declared_income: str | None
    period: QuotePeriod
    per_period: QuoteAmounts
    months: int
    periods: int = Field(
        description="periods in `months` months (working days, months or harvests)"
    )
    total: QuoteAmounts
