"""The `custody` fund adapter: the fund's money stays at the intermediary.

Health mutuals whose accounts the cooperative itself holds: submission hands nothing over
(the money is already here); settlement moves it from in-transit to the fund's custody
account, a liability of the intermediary to the fund.
"""

from __future__ import annotations

from typing import Any

from app.funds.adapters import _config
from app.funds.registry import BatchDocument, Delivery


class CustodyAdapter:
    name = "custody"
    custody = True

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = config or {}
        _config.reject_unknown(config, ())
        return _config.common(config)

    def deliver(self, document: BatchDocument, config: dict[str, Any]) -> Delivery:
        return Delivery("held_in_custody")
