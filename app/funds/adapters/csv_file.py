"""The `csv` fund adapter: a file with a header line, one line per contribution, a trailer."""

from __future__ import annotations

from typing import Any

from app.funds.adapters import _config


class CsvAdapter:
    """Exports a batch as the documented CSV layout (docs/remittances.md); delivery is the
    fund office downloading the file."""

    name = "csv"

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = config or {}
        _config.reject_unknown(config, ("delimiter",))
        out = _config.common(config)
        out["delimiter"] = _config.choice(config, "delimiter", ",", (",", ";"))
        return out
