"""How a payment to a due splits: the intermediary's fee first, the rest across funds.

`rules` is a scheme version's validated rules (SchemeVersion.rules): `fee` is
`{"percent": "5"}` or absent, `split` is `[{"fund": "PENSION", "percent": "60"}, ...]` with
percents summing to 100. Percents are decimal strings, as in the schedule files.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.core.money import split_largest_remainder


def fee_part(rules: dict[str, Any], amount: int) -> int:
    """The fee on `amount` minor units, rounded half-up once."""
    fee = rules.get("fee") or {}
    percent = Decimal(str(fee.get("percent", "0")))
    if percent == 0 or amount == 0:
        return 0
    sign = -1 if amount < 0 else 1
    exact = Decimal(abs(amount)) * percent / 100
    return sign * int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def split_payment(rules: dict[str, Any], amount: int) -> tuple[int, list[tuple[str, int]]]:
    """(fee, [(fund_code, part), ...]) for a payment of `amount` minor units to a due.

    The parts and the fee always sum to `amount` exactly (largest remainder, stable order).
    """
    fee = fee_part(rules, amount)
    split = rules["split"]
    parts = split_largest_remainder(amount - fee, [Decimal(str(s["percent"])) for s in split])
    return fee, [(str(s["fund"]), part) for s, part in zip(split, parts, strict=True)]
