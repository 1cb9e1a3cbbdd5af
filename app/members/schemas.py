"""Request and response models of members and transport units (enrolments: app.schemes.schemas)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import Field

from app.core.messages import N_
from app.core.schemas import BusinessDate, Schema
from app.core.vocabulary import Vocabulary
from app.members.models import CrewRole, MemberStatus, UnitStatus

MEMBER_NUMBER = Field(
    min_length=1,
    max_length=32,
    pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
    description="organisation-unique: letters, digits, '.', '_', '/', '-'",
    examples=["M-0001"],
)
REGISTRATION = Field(
    min_length=1,
    max_length=32,
    pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/-]*$",
    description="the vehicle's plate, organisation-unique",
    examples=["A123456"],
)
Affiliations = dict[str, str]
_AFFILIATIONS = "{fund_code: affiliation_number}: the member's number at each fund"


class MemberCreate(Schema):
    member_number: str = MEMBER_NUMBER
    full_name: str = Field(min_length=1, max_length=200)
    national_id: str | None = Field(default=None, min_length=1, max_length=64)
    phone: str | None = Field(default=None, min_length=3, max_length=32, pattern=r"^\+?[0-9 ()-]+$")
    sector: str | None = Field(default=None, min_length=1, max_length=64)
    status: MemberStatus = MemberStatus.active
    joined_on: BusinessDate
    affiliations: Affiliations = Field(
        default_factory=dict, description=_AFFILIATIONS, examples=[{"PENSION": "SS-99812"}]
    )


class MemberUpdate(Schema):
    """Only the fields sent change. `affiliations` sets the numbers it names; a number set to
    null removes that fund's affiliation; funds not named keep theirs."""

    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    national_id: str | None = Field(default=None, min_length=1, max_length=64)
    phone: str | None = Field(default=None, min_length=3, max_length=32, pattern=r"^\+?[0-9 ()-]+$")
    sector: str | None = Field(default=None, min_length=1, max_length=64)
    status: MemberStatus | None = None
    joined_on: BusinessDate | None = None
    affiliations: dict[str, str | None] | None = None


class MemberRead(Schema):
    id: uuid.UUID
    member_number: str
    full_name: str
    national_id: str | None
    phone: str | None
    sector: str | None
    status: MemberStatus
    joined_on: date
    affiliations: Affiliations = Field(description=_AFFILIATIONS)
    credit_account_id: uuid.UUID = Field(description="the member's prepaid-credit account")
    created_at: datetime
    updated_at: datetime


class CrewMember(Schema):
    member_id: uuid.UUID
    role: CrewRole
    covered: bool = Field(
        default=True, description="the unit's contributions count toward this member's coverage"
    )


class UnitCreate(Schema):
    registration: str = REGISTRATION
    kind: str = Field(min_length=1, max_length=32, examples=["minibus", "motoconcho"])
    owner_member_id: uuid.UUID | None = Field(
        default=None, description="also the crew member with role owner (added if not listed)"
    )
    status: UnitStatus = UnitStatus.active
    crew: list[CrewMember] = Field(default_factory=list, max_length=50)


class UnitUpdate(Schema):
    """Only the fields sent change; `crew`, when sent, replaces the whole crew."""

    kind: str | None = Field(default=None, min_length=1, max_length=32)
    owner_member_id: uuid.UUID | None = None
    status: UnitStatus | None = None
    crew: list[CrewMember] | None = Field(default=None, max_length=50)


class UnitRead(Schema):
    id: uuid.UUID
    registration: str
    kind: str
    owner_member_id: uuid.UUID | None
    status: UnitStatus
    crew: list[CrewMember]
    credit_account_id: uuid.UUID = Field(description="prepaid credit paid on this unit")
    created_at: datetime
    updated_at: datetime


class ImportRowStatus(Vocabulary):
    """What the import did with one row of the file."""

    created = "created", N_("created")
    valid = "valid", N_("would be created")
    duplicate = "duplicate", N_("duplicate")
    rejected = "rejected", N_("rejected")


class ImportRowResult(Schema):
    row: int = Field(description="line number in the file (the header is line 1)")
    status: ImportRowStatus = Field(
        description="valid: a dry run found nothing wrong; duplicate: the member number exists "
        "already (not changed); rejected: see errors"
    )
    member_number: str | None = None
    member_id: uuid.UUID | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None,
        description="each: field, message (English), code and params (the message's stable "
        "code and its parameters, as in the Problem schema's errors)",
    )


class ImportResult(Schema):
    dry_run: bool
    created: int
    valid: int
    duplicates: int
    rejected: int
    results: list[ImportRowResult]
