"""Money: integer minor units of an ISO 4217 currency. Decimal strings only at the edges.

The exponent of each currency comes from Babel's CLDR data (`get_currency_precision`),
not from a table typed here.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

from app.core.messages import N_, Message, Template

# Large enough for any contribution book, small enough that sums of millions of
# postings stay far inside a signed 64-bit column.
MAX_MINOR_UNITS = 10**15 - 1

# ISO 4217 codes for metals, drawing rights, bond units and testing: not money a member pays.
_NOT_MONEY = frozenset(
    {"XAG", "XAU", "XPD", "XPT", "XDR", "XSU", "XUA", "XBA", "XBB", "XBC", "XBD", "XTS", "XXX"}
)

_DECIMAL_RE = re.compile(r"^-?(\d+)(?:\.(\d+))?$")


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly; `message` says why."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.english())
        self.message = message


NOT_A_CURRENCY = Template(
    "money.not_a_currency_code",
    N_("%(code)s is not an ISO 4217 currency code (three capital letters)"),
)
UNSUPPORTED_CURRENCY = Template(
    "money.unsupported_currency", N_("%(code)s is not a currency this service supports")
)
NOT_A_STRING = Template(
    "money.not_a_string", N_('amount must be a decimal string such as "150.00"')
)
NOT_DECIMAL = Template("money.not_decimal", N_('%(text)s is not a decimal amount such as "150.00"'))
NO_MINOR_UNIT = Template(
    "money.no_minor_unit", N_("%(currency)s has no minor unit: amounts are whole numbers")
)
TOO_MANY_DECIMALS = Template(
    "money.too_many_decimals", N_("%(currency)s allows at most %(count)s decimals")
)
NEGATIVE = Template("money.negative", N_("amount must not be negative"))
OUT_OF_RANGE = Template("money.out_of_range", N_("amount is beyond the supported range"))


@lru_cache(maxsize=512)
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def check_currency(code: str) -> str:
    """Return the code if it is an ISO 4217 currency known to CLDR, else raise MoneyError."""
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha() or not code.isupper():
        raise MoneyError(NOT_A_CURRENCY(code=repr(code)))
    if code not in _known_currencies() or code in _NOT_MONEY:
        raise MoneyError(UNSUPPORTED_CURRENCY(code=repr(code)))
    return code


@lru_cache(maxsize=512)
def exponent(currency: str) -> int:
    """Number of decimals of a currency's minor unit (DOP 2, XOF 0, ...)."""
    return int(get_currency_precision(check_currency(currency)))


def parse_minor(text: str, currency: str, *, allow_negative: bool = False) -> int:
    """Parse a decimal string into minor units of `currency`, refusing anything inexact.

    `"150.5"` and `"150.50"` are both 15050 for DOP; `"150.505"` is refused (too many
    decimals), as are exponents, NaN, Infinity, and amounts beyond MAX_MINOR_UNITS.
    """
    if not isinstance(text, str):
        raise MoneyError(NOT_A_STRING())
    match = _DECIMAL_RE.match(text.strip())
    if not match:
        raise MoneyError(NOT_DECIMAL(text=repr(text)))
    exp = exponent(currency)
    decimals = match.group(2) or ""
    if len(decimals) > exp:
        if exp == 0:
            raise MoneyError(NO_MINOR_UNIT(currency=currency))
        raise MoneyError(TOO_MANY_DECIMALS(currency=currency, count=exp))
    try:
        minor = int(Decimal(text.strip()).scaleb(exp))
    except InvalidOperation as exc:  # pragma: no cover - the regex already excludes these
        raise MoneyError(NOT_DECIMAL(text=repr(text))) from exc
    if minor < 0 and not allow_negative:
        raise MoneyError(NEGATIVE())
    if abs(minor) > MAX_MINOR_UNITS:
        raise MoneyError(OUT_OF_RANGE())
    return minor


def format_minor(minor: int, currency: str) -> str:
    """Render minor units as the exact decimal string of the currency (`15050` DOP -> "150.50")."""
    exp = exponent(currency)
    if exp == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}"


def split_largest_remainder(total: int, weights: list[Decimal] | list[int]) -> list[int]:
    """Split `total` minor units in proportion to `weights`, losing or creating nothing.

    Each part gets the floor of its exact share; the units left over go one each to the
    largest remainders, ties to the earlier weight (a stable order). The parts always sum
    to `total` exactly. Works for negative totals by symmetry.
    """
    if not weights:
        raise ValueError("at least one weight is needed")
    if total < 0:
        return [-p for p in split_largest_remainder(-total, weights)]
    ws = [Decimal(w) for w in weights]
    if any(w < 0 for w in ws):
        raise ValueError("weights must not be negative")
    wsum = sum(ws)
    if wsum == 0:
        raise ValueError("weights must not all be zero")
    exact = [Decimal(total) * w / wsum for w in ws]
    parts = [int(e) for e in exact]  # floor: all non-negative
    left = total - sum(parts)
    order = sorted(range(len(ws)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts
