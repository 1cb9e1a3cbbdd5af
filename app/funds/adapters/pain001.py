"""The `pain001` fund adapter: ISO 20022 pain.001.001.09 credit transfer initiation."""

from __future__ import annotations

from typing import Any

from app.funds.adapters import _config


class Pain001Adapter:
    name = "pain001"

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = config or {}
        _config.reject_unknown(
            config, ("transactions", "debtor_name", "debtor_iban", "debtor_bic", "creditor_name")
        )
        out = _config.common(config)
        out["transactions"] = _config.choice(
            config, "transactions", "per_line", ("per_line", "per_batch")
        )
        for key in ("debtor_name", "debtor_iban", "debtor_bic", "creditor_name"):
            value = _config.text(config, key, None)
            if value is not None:
                out[key] = value
        return out
