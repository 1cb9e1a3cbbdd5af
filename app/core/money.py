"""Money: integer minor units of an ISO 4217 currency. Decimal strings only at the edges.

The exponent of each currency comes from Babel's CLDR data (`get_currency_precision`),
not from a table typed here.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

# Large enough for any contribution book, small enough that sums of millions of
# postings stay far inside a signed 64-bit column.
MAX_MINOR_UNITS = 10**15 - 1

# ISO 4217 codes for metals, drawing rights, bond units and testing: not money a member pays.
_NOT_MONEY = frozenset(
    {"XAG", "XAU", "XPD", "XPT", "XDR", "XSU", "XUA", "XBA", "XBB", "XBC", "XBD", "XTS", "XXX"}
)

_DECIMAL_RE = re.compile(r"^-?(\d+)(?:\.(\d+))?$")


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


@lru_cache(maxsize=512)
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def check_currency(code: str) -> str:
    """Return the code if it is an ISO 4217 currency known to CLDR, else raise MoneyError."""
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha() or not code.isupper():
        raise MoneyError(f"{code!r} is not an ISO 4217 currency code (three capital letters)")
    if code not in _known_currencies() or code in _NOT_MONEY:
        raise MoneyError(f"{code!r} is not a currency this service supports")
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
        raise MoneyError('amount must be a decimal string such as "150.00"')
    match = _DECIMAL_RE.match(text.strip())
    if not match:
        raise MoneyError(f'{text!r} is not a decimal amount such as "150.00"')
    exp = exponent(currency)
    decimals = match.group(2) or ""
    if len(decimals) > exp:
        if exp == 0:
            raise MoneyError(f"{currency} has no minor unit: amounts are whole numbers")
        raise MoneyError(f"{currency} allows at most {exp} decimals")
    try:
        minor = int(Decimal(text.strip()).scaleb(exp))
    except InvalidOperation as exc:  # pragma: no cover - the regex already excludes these
        raise MoneyError(f"{text!r} is not a decimal amount") from exc
    if minor < 0 and not allow_negative:
        raise MoneyError("amount must not be negative")
    if abs(minor) > MAX_MINOR_UNITS:
        raise MoneyError("amount is beyond the supported range")
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
