"""The `http_json` fund adapter: pushes a batch to the fund's HTTP endpoint as JSON."""

from __future__ import annotations

from typing import Any

from app.funds.adapters import _config


class HttpJsonAdapter:
    name = "http_json"

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = config or {}
        _config.reject_unknown(
            config, ("url", "timeout_seconds", "max_attempts", "backoff_seconds", "token")
        )
        out = _config.common(config)
        url = _config.text(config, "url", None, max_len=2000)
        if url is None or not url.startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// address")
        out["url"] = url
        out["timeout_seconds"] = _config.number(config, "timeout_seconds", 10.0, low=0.1, high=120)
        out["max_attempts"] = int(_config.number(config, "max_attempts", 3, low=1, high=10))
        out["backoff_seconds"] = _config.number(config, "backoff_seconds", 0.5, low=0, high=60)
        token = _config.text(config, "token", None, max_len=500)
        if token is not None:
            out["token"] = token
        return out
