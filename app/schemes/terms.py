"""A scheme version's rules as exact integers: what dues generation and quotes compute with.

`SchemeVersion.rules` keeps the file's words and decimal strings; `Terms` turns them into
minor units and parts per million once, so the SQL that generates dues and the Python that
records a harvest or quotes a price use the same integers and the same rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.core.money import parse_minor
from app.schemes.models import AmountKind
from app.schemes.schedule import WEEKDAYS

PPM = 1_000_000
"""Rates are parts per million of the base: a percent with up to 4 decimals is exact."""


def percent_ppm(text: str) -> int:
    """ "5.5" (percent) -> 55000 parts per million, exactly."""
    return int(Decimal(text) * 10_000)


@dataclass(frozen=True, slots=True)
class Terms:
    amount_kind: AmountKind
    fixed: int  # minor units (fixed amounts)
    rate_ppm: int  # share of the base (percent amounts)
    minimum: int | None
    maximum: int | None
    rest_weekdays: tuple[int, ...]  # 0 = Sunday
    due_after_days: int
    due_day: int | None
    every_months: int | None
    grace_days: int
    penalty_ppm: int  # per month, of the overdue amount
    penalty_after_days: int

    @property
    def income_based(self) -> bool:
        return self.amount_kind != AmountKind.fixed

    def numerator(self, base: int | None) -> int:
        """The full-period amount times PPM, before rounding: exact in integers.

        A share of `base` (income or declared value) is clamped to [minimum, maximum].
        """
        if self.amount_kind == AmountKind.fixed:
            return self.fixed * PPM
        n = (base or 0) * self.rate_ppm
        if self.minimum is not None and n < self.minimum * PPM:
            n = self.minimum * PPM
        if self.maximum is not None and n > self.maximum * PPM:
            n = self.maximum * PPM
        return n

    def amount(self, base: int | None = None, days: int = 1, period_days: int = 1) -> int:
        """The due for `days` of a `period_days` period, rounded half-up once.

        The same integer formula as the SQL of dues generation: (2·N·days + D) div 2D with
        D = PPM·period_days.
        """
        n = self.numerator(base)
        d = PPM * period_days
        return (2 * n * days + d) // (2 * d)


def terms(rules: dict[str, Any], currency: str) -> Terms:
    """The exact terms of a stored version (its rules were validated when loaded)."""
    amount = rules["amount"]
    if isinstance(amount, dict):
        kind = (
            AmountKind.percent_of_income
            if AmountKind.percent_of_income in amount
            else AmountKind.percent_of_declared
        )
        fixed, rate = 0, percent_ppm(amount[kind])
        minimum = parse_minor(amount["minimum"], currency) if "minimum" in amount else None
        maximum = parse_minor(amount["maximum"], currency) if "maximum" in amount else None
    else:
        kind, fixed = AmountKind.fixed, parse_minor(amount, currency)
        rate, minimum, maximum = 0, None, None
    penalty = rules.get("penalty") or {}
    return Terms(
        amount_kind=kind,
        fixed=fixed,
        rate_ppm=rate,
        minimum=minimum,
        maximum=maximum,
        rest_weekdays=tuple(WEEKDAYS.index(d) for d in rules.get("rest_days", [])),
        due_after_days=int(rules.get("due_after_days", 0)),
        due_day=rules.get("due_day"),
        every_months=rules.get("every_months"),
        grace_days=int(rules.get("grace_days", 0)),
        penalty_ppm=percent_ppm(penalty["percent_per_month"]) if penalty else 0,
        penalty_after_days=int(penalty.get("after_days", 0)) if penalty else 0,
    )
