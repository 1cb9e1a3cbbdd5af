"""The checks of a value that receipts and hand-overs share: an amount in the book currency,
the instant money moved. Each gives the value, or the `FieldError` naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.collections.messages import NOT_BOOK_CURRENCY
from app.core.messages import (
    IN_THE_FUTURE,
    MUST_BE_POSITIVE,
    NEEDS_OFFSET,
    NOT_BEFORE_DAY,
    FieldError,
)
from app.core.money import MoneyError, check_currency, parse_minor
from app.core.schemas import EARLIEST_DATE

FUTURE_TOLERANCE = timedelta(days=1)  # a collector's phone clock may run ahead


def minor_amount(
    text: str,
    currency: str,
    book_currency: str,
    *,
    field: str = "amount",
    allow_zero: bool = False,
) -> int | FieldError:
    """Minor units of a positive (or, with `allow_zero`, non-negative) amount in the book
    currency, or the error naming the field (`currency` for a currency that is not the
    book's)."""
    try:
        check_currency(currency)
    except MoneyError as exc:
        return FieldError("currency", exc.message)
    if currency != book_currency:
        return FieldError("currency", NOT_BOOK_CURRENCY(currency=book_currency))
    try:
        minor = parse_minor(text, currency)
    except MoneyError as exc:
        return FieldError(field, exc.message)
    if minor < 0 or (minor == 0 and not allow_zero):
        return FieldError(field, MUST_BE_POSITIVE())
    return minor


def instant_error(value: datetime, field: str) -> FieldError | None:
    """What is wrong with the instant money moved: no offset, before the service's first day,
    or in the future (beyond a phone clock's drift)."""
    if value.tzinfo is None:
        return FieldError(field, NEEDS_OFFSET())
    if value.astimezone(UTC).date() < EARLIEST_DATE:
        return FieldError(field, NOT_BEFORE_DAY(day=EARLIEST_DATE))
    if value > datetime.now(UTC) + FUTURE_TOLERANCE:
        return FieldError(field, IN_THE_FUTURE())
    return None
