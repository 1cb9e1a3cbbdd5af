"""The project's Pydantic base and the shared field types of the API's edge."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.core.messages import N_, NO_NUL, Message, Template
from app.core.money import NOT_DECIMAL

# ASCII digits only (`\d` would take Arabic-Indic and other digits), the whole text (`$`
# would let a trailing newline through).
_DECIMAL_TEXT = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,18})?")

EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)


class Schema(BaseModel):
    """Base of every request and response model: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", from_attributes=True, populate_by_name=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_unstorable_text(cls, value: Any) -> Any:
        # PostgreSQL cannot store U+0000, and no database can store a lone UTF-16 surrogate
        # (a JSON "\ud800" escape): refuse them here (422 naming the field) rather than fail
        # in the database or a serializer (500).
        reason = unstorable(value)
        if reason is not None:
            raise reason.template.pydantic(**reason.params)
        return value


_SURROGATE = re.compile("[\ud800-\udfff]")

NO_SURROGATE = Template(
    "field.surrogate", N_("text must be valid Unicode (no lone surrogate code points)")
)
NOT_A_STRING_AMOUNT = Template(
    "amount.not_text", N_('amounts are decimal strings such as "150.00", not JSON numbers')
)
DATE_OUT_OF_RANGE = Template(
    "field.date_out_of_range", N_("must be between %(first)s and %(last)s")
)


def unstorable(value: Any, depth: int = 0) -> Message | None:
    """Why some text in `value` (walked through lists and mappings) cannot be stored, or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return NO_NUL()
        if _SURROGATE.search(value):
            return NO_SURROGATE()
        return None
    if depth > 32:
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            reason = unstorable(k, depth + 1) or unstorable(v, depth + 1)
            if reason is not None:
                return reason
    elif isinstance(value, list | tuple):
        for v in value:
            reason = unstorable(v, depth + 1)
            if reason is not None:
                return reason
    return None


def _decimal_text(value: object) -> object:
    if not isinstance(value, str):
        raise NOT_A_STRING_AMOUNT.pydantic()
    if not _DECIMAL_TEXT.fullmatch(value):
        raise NOT_DECIMAL.pydantic(text=repr(value[:40]))
    return value


def _business_date(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise DATE_OUT_OF_RANGE.pydantic(first=EARLIEST_DATE, last=LATEST_DATE)
    return value


AmountText = Annotated[
    str,
    BeforeValidator(_decimal_text),
    Field(
        description='An exact decimal string in the currency\'s exponent, e.g. "150.00" (DOP) or "5000" (XOF)',
        examples=["150.00"],
    ),
]
"""A decimal string; its exponent is checked against the currency by the service."""

ReasonText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    Field(description="why, in words: 1-500 characters once trimmed (blank is refused)"),
]
"""A reason a person gives (a reversal's): trimmed, and never blank."""

BusinessDate = Annotated[date, AfterValidator(_business_date)]
"""An ISO 8601 date within the range a contribution book can hold (2000-01-01..2100-12-31)."""

CurrencyCode = Annotated[
    str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217", examples=["DOP"])
]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )
