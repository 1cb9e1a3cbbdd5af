from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.money import (
    MAX_MINOR_UNITS,
    MoneyError,
    exponent,
    format_minor,
    parse_minor,
    split_largest_remainder,
)


@pytest.mark.parametrize(
    ("currency", "exp"), [("DOP", 2), ("KES", 2), ("BOB", 2), ("CRC", 2), ("XOF", 0), ("RWF", 0)]
)
def test_exponents_come_from_cldr(currency: str, exp: int) -> None:
    assert exponent(currency) == exp


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("150.00", "DOP", 15000),
        ("150.5", "DOP", 15050),
        ("150", "DOP", 15000),
        ("5000", "XOF", 5000),
        ("0.01", "KES", 1),
    ],
)
def test_parse(text: str, currency: str, minor: int) -> None:
    assert parse_minor(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "why"),
    [
        ("150.505", "DOP", "at most 2 decimals"),
        ("5000.5", "XOF", "no minor unit"),
        ("NaN", "DOP", "not a decimal"),
        ("Infinity", "DOP", "not a decimal"),
        ("1e5", "DOP", "not a decimal"),
        ("-1.00", "DOP", "negative"),
        ("10000000000000.00", "DOP", "beyond the supported range"),
        ("", "DOP", "not a decimal"),
        (" 1.0.0", "DOP", "not a decimal"),
    ],
)
def test_parse_refuses_inexact(text: str, currency: str, why: str) -> None:
    with pytest.raises(MoneyError, match=why):
        parse_minor(text, currency)


@pytest.mark.parametrize("code", ["XXX", "XAU", "dop", "DOPE", "ZZZ", ""])
def test_unknown_currencies_refused(code: str) -> None:
    with pytest.raises(MoneyError):
        exponent(code)


@given(st.integers(-MAX_MINOR_UNITS, MAX_MINOR_UNITS), st.sampled_from(["DOP", "XOF", "KES"]))
def test_format_parse_roundtrip(minor: int, currency: str) -> None:
    assert parse_minor(format_minor(minor, currency), currency, allow_negative=True) == minor


@given(
    st.integers(-(10**12), 10**12),
    st.lists(st.decimals(min_value=0, max_value=100, places=3), min_size=1, max_size=8).filter(
        lambda ws: sum(ws) > 0
    ),
)
def test_split_never_creates_or_loses_a_minor_unit(total: int, weights: list[Decimal]) -> None:
    parts = split_largest_remainder(total, weights)
    assert sum(parts) == total
    wsum = sum(weights)
    for part, w in zip(parts, weights, strict=True):
        exact = Decimal(total) * w / wsum
        assert abs(Decimal(part) - exact) < 1  # each part within one minor unit of its share


def test_split_is_stable_on_ties() -> None:
    assert split_largest_remainder(100, [1, 1, 1]) == [34, 33, 33]
    assert split_largest_remainder(5, [60, 35, 5]) == [3, 2, 0]
