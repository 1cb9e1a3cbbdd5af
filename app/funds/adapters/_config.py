"""Config checks shared by the built-in fund adapters.

`validate_config` in every adapter returns the config normalised or raises ValueError naming
the key that is wrong; the funds service turns that into a 422 on `adapter_config`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

# Keys any fund may carry, whatever its adapter (read by the affiliations feature).
COMMON_KEYS = ("commission_per_affiliation",)

_DECIMAL = re.compile(r"^\d{1,15}(\.\d{1,6})?$")


def reject_unknown(config: dict[str, Any], allowed: tuple[str, ...]) -> None:
    if not isinstance(config, dict):
        raise ValueError("adapter_config must be an object")
    unknown = sorted(set(config) - set(allowed) - set(COMMON_KEYS))
    if unknown:
        raise ValueError(
            f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed + COMMON_KEYS))}"
        )


def common(config: dict[str, Any]) -> dict[str, Any]:
    """Normalise the keys every adapter accepts."""
    out: dict[str, Any] = {}
    commission = config.get("commission_per_affiliation")
    if commission is not None:
        text = str(commission).strip()
        try:
            ok = bool(_DECIMAL.match(text)) and Decimal(text) > 0
        except InvalidOperation:
            ok = False
        if not ok:
            raise ValueError("commission_per_affiliation must be a positive decimal string")
        out["commission_per_affiliation"] = text
    return out


def text(
    config: dict[str, Any], key: str, default: str | None, *, max_len: int = 140
) -> str | None:
    value = config.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ValueError(f"{key} must be a non-empty string of at most {max_len} characters")
    return value.strip()


def number(config: dict[str, Any], key: str, default: float, *, low: float, high: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{key} must be a number between {low} and {high}")
    return float(value)


def choice(config: dict[str, Any], key: str, default: str, options: tuple[str, ...]) -> str:
    value = config.get(key, default)
    if value not in options:
        raise ValueError(f"{key} must be one of {', '.join(options)}")
    return str(value)
