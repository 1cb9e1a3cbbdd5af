"""Allocation in memory: oldest open due first, the fee and the funds' parts, members' shares.

Pure functions over plain values, so the money rules can be property-tested without a
database and a sheet of 2,000 receipts is allocated without a query per receipt.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.core.money import split_largest_remainder
from app.schemes.rules import split_payment


@dataclass(slots=True)
class OpenDue:
    """A due that is not fully paid, as allocation sees it."""

    id: uuid.UUID
    due_on: date
    period_start: date
    period_end: date
    outstanding: int  # minor units still owed (amount - paid)
    rules: dict[str, Any]  # its scheme version's rules: fee and split

    @property
    def order(self) -> tuple[date, date, uuid.UUID]:
        """Oldest first: due date, then period, then creation order (ids are time-ordered)."""
        return (self.due_on, self.period_start, self.id)


@dataclass(slots=True)
class Payment:
    """Money applied to one due, split into the fee and each fund's part."""

    due: OpenDue
    amount: int
    fee: int
    parts: list[tuple[str, int]]  # (fund code, minor units), zero parts included


@dataclass(slots=True)
class DueQueue:
    """A payer's open dues, oldest first; taking money from it pays them in that order."""

    dues: list[OpenDue] = field(default_factory=list)
    _next: int = 0

    def sort(self) -> None:
        self.dues.sort(key=lambda d: d.order)

    @property
    def outstanding(self) -> int:
        return sum(d.outstanding for d in self.dues[self._next :])

    def take(self, amount: int) -> tuple[list[Payment], int]:
        """Apply `amount` to the oldest open dues; return the payments and what is left over.

        Each due takes at most what it still owes; the payments plus the leftover equal
        `amount` exactly. The dues' `outstanding` are reduced, so the next call continues
        where this one stopped (several receipts of one payer in a sheet).
        """
        if amount < 0:
            raise ValueError("amount must not be negative")
        payments: list[Payment] = []
        left = amount
        while left > 0 and self._next < len(self.dues):
            due = self.dues[self._next]
            if due.outstanding <= 0:
                self._next += 1
                continue
            paid = min(left, due.outstanding)
            fee, parts = split_payment(due.rules, paid)
            payments.append(Payment(due, paid, fee, parts))
            due.outstanding -= paid
            left -= paid
            if due.outstanding == 0:
                self._next += 1
        return payments, left


def attribute(part: int, members: list[uuid.UUID]) -> list[tuple[uuid.UUID, int]]:
    """A fund's part shared by members in equal shares (largest remainder, members by id).

    Members whose share rounds to zero get no row (a share is never zero). The shares sum to
    `part` exactly.
    """
    ordered = sorted(members)
    amounts = split_largest_remainder(part, [1] * len(ordered))
    return [(m, a) for m, a in zip(ordered, amounts, strict=True) if a != 0]


@dataclass(frozen=True, slots=True)
class Totals:
    """What one entry credits: each fund's part and the fee, summed over payments."""

    by_fund: dict[str, int]
    fee: int


def totals(payments: list[Payment]) -> Totals:
    by_fund: dict[str, int] = defaultdict(int)
    fee = 0
    for p in payments:
        fee += p.fee
        for code, part in p.parts:
            by_fund[code] += part
    return Totals(dict(by_fund), fee)
