"""The `custody` fund adapter: the fund's money stays at the intermediary."""

from __future__ import annotations

from typing import Any

from app.funds.adapters import _config


class CustodyAdapter:
    name = "custody"

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = config or {}
        _config.reject_unknown(config, ())
        return _config.common(config)
