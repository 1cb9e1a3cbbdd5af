"""Config checks shared by the built-in fund adapters.

`validate_config` in every adapter returns the config normalised or raises ValueError naming
the key that is wrong; the funds service turns that into a 422 on `adapter_config`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from app.core.messages import N_, Message, Template

# Keys any fund may carry, whatever its adapter (read by the affiliations feature).
COMMON_KEYS = ("commission_per_affiliation",)

NOT_AN_OBJECT = Template("adapter_config.not_object", N_("adapter_config must be an object"))
UNKNOWN_KEYS = Template(
    "adapter_config.unknown_keys", N_("unknown key(s) %(keys)s; allowed: %(allowed)s")
)
BAD_COMMISSION = Template(
    "adapter_config.bad_commission",
    N_("commission_per_affiliation must be a positive decimal string"),
)
BAD_TEXT = Template(
    "adapter_config.bad_text",
    N_("%(key)s must be a non-empty string of at most %(count)s characters"),
)
BAD_NUMBER = Template(
    "adapter_config.bad_number", N_("%(key)s must be a number between %(low)s and %(high)s")
)
BAD_CHOICE = Template("adapter_config.bad_choice", N_("%(key)s must be one of %(options)s"))


class ConfigRefused(ValueError):
    """A built-in adapter's refusal of a config, as a message (`str()` is its English);
    `key` names the adapter_config key at fault, when one is."""

    def __init__(self, message: Message, key: str | None = None) -> None:
        super().__init__(message.english())
        self.message = message
        self.key = key


_DECIMAL = re.compile(r"^\d{1,15}(\.\d{1,6})?$")


def reject_unknown(config: dict[str, Any], allowed: tuple[str, ...]) -> None:
    if not isinstance(config, dict):
        raise ConfigRefused(NOT_AN_OBJECT())
    unknown = sorted(set(config) - set(allowed) - set(COMMON_KEYS))
    if unknown:
        raise ConfigRefused(
            UNKNOWN_KEYS(keys=", ".join(unknown), allowed=", ".join(sorted(allowed + COMMON_KEYS)))
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
            raise ConfigRefused(BAD_COMMISSION())
        out["commission_per_affiliation"] = text
    return out


def text(
    config: dict[str, Any], key: str, default: str | None, *, max_len: int = 140
) -> str | None:
    value = config.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ConfigRefused(BAD_TEXT(key=key, count=max_len))
    return value.strip()


def number(config: dict[str, Any], key: str, default: float, *, low: float, high: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigRefused(BAD_NUMBER(key=key, low=low, high=high))
    return float(value)


def choice(config: dict[str, Any], key: str, default: str, options: tuple[str, ...]) -> str:
    value = config.get(key, default)
    if value not in options:
        raise ConfigRefused(BAD_CHOICE(key=key, options=", ".join(options)))
    return str(value)
