"""The `http_json` fund adapter: pushes a batch to the fund's HTTP endpoint as JSON.

Protocol (docs/remittances.md): `POST <url>` with the batch's JSON form (json_file) as the
body, streamed, `Idempotency-Key: <batch id>`, and `Authorization: Bearer <token>` when the
fund's config has a token. The fund answers 200, 201 or 202 with an optional JSON object
`{"reference": "...", "lines": [{"end_to_end_id" | "member_id", "status":
"accepted"|"rejected", "reason"?, "affiliation_number"?}]}`; a 409 means it already has this
batch (a retry after a lost answer), which counts as delivered. Timeouts, connection errors,
408, 425, 429 and 5xx are retried with exponential backoff, up to `max_attempts`; any other
answer is a refusal. Retrying is safe because the fund sees the same idempotency key.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from app.funds.adapters import _config, json_file
from app.funds.registry import BatchDocument, Delivery, DeliveryFailed, LineAnswer

RETRYABLE = frozenset({408, 425, 429})
ANSWER_LIMIT = 4000  # characters of a fund's answer kept with the batch


def _answer(response: httpx.Response) -> Any:
    text = response.text[:ANSWER_LIMIT]
    try:
        return json.loads(response.text) if len(response.text) <= 5_000_000 else text
    except ValueError:
        return text


def _recordable(answer: Any) -> Any:
    """The answer as stored: a fund's long answer is cut, not its line statuses."""
    if isinstance(answer, dict):
        return {k: v for k, v in answer.items() if k != "lines"} | (
            {"lines_answered": len(answer["lines"])}
            if isinstance(answer.get("lines"), list)
            else {}
        )
    return answer if not isinstance(answer, str) else answer[:ANSWER_LIMIT]


def _line_answers(answer: Any) -> list[LineAnswer]:
    if not isinstance(answer, dict) or not isinstance(answer.get("lines"), list):
        return []
    out = []
    for item in answer["lines"]:
        if not isinstance(item, dict) or item.get("status") not in ("accepted", "rejected"):
            continue
        key = item.get("end_to_end_id") or item.get("member_id")
        if not isinstance(key, str):
            continue
        reason = item.get("reason")
        number = item.get("affiliation_number")
        out.append(
            LineAnswer(
                key,
                item["status"],
                str(reason)[:500] if reason is not None else None,
                str(number)[:64] if number is not None else None,
            )
        )
    return out


class HttpJsonAdapter:
    """Pushes a batch to the fund's endpoint and records its answer."""

    name = "http_json"

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = config or {}
        _config.reject_unknown(
            config,
            (
                "url",
                "affiliations_url",
                "timeout_seconds",
                "max_attempts",
                "backoff_seconds",
                "token",
            ),
        )
        out = _config.common(config)
        for key in ("url", "affiliations_url"):
            url = _config.text(config, key, None, max_len=2000)
            if url is None and key == "affiliations_url":
                continue
            if url is None or not url.startswith(("http://", "https://")):
                raise ValueError(f"{key} must be an http:// or https:// address")
            out[key] = url
        out["timeout_seconds"] = _config.number(config, "timeout_seconds", 10.0, low=0.1, high=120)
        out["max_attempts"] = int(_config.number(config, "max_attempts", 3, low=1, high=10))
        out["backoff_seconds"] = _config.number(config, "backoff_seconds", 0.5, low=0, high=60)
        token = _config.text(config, "token", None, max_len=500)
        if token is not None:
            out["token"] = token
        return out

    def deliver(self, document: BatchDocument, config: dict[str, Any]) -> Delivery:
        config = self.validate_config(config)
        url = config["url"]
        if document.header.kind == "affiliation":
            url = config.get("affiliations_url", url)
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": str(document.header.batch_id),
            "User-Agent": "coopledger",
        }
        if "token" in config:
            headers["Authorization"] = f"Bearer {config['token']}"
        attempts = config["max_attempts"]
        last_error = "no attempt made"
        timeout = httpx.Timeout(config["timeout_seconds"])
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            for attempt in range(1, attempts + 1):
                try:
                    response = client.post(url, content=json_file.render(document), headers=headers)
                except httpx.TimeoutException:
                    last_error = f"no answer within {config['timeout_seconds']} s"
                except httpx.TransportError as exc:
                    last_error = f"could not reach the fund: {type(exc).__name__}: {exc}"[:500]
                else:
                    status = response.status_code
                    answer = _answer(response)
                    if status in (200, 201, 202, 409):
                        reference = answer.get("reference") if isinstance(answer, dict) else None
                        return Delivery(
                            "delivered",
                            reference=str(reference)[:140] if reference is not None else None,
                            attempts=attempt,
                            answer={"status": status, "body": _recordable(answer)},
                            line_answers=_line_answers(answer) if status != 409 else [],
                        )
                    if status not in RETRYABLE and status < 500:
                        raise DeliveryFailed(
                            f"the fund refused the batch (HTTP {status})",
                            attempts=attempt,
                            answer={"status": status, "body": _recordable(answer)},
                        )
                    last_error = f"the fund answered HTTP {status}"
                if attempt < attempts:
                    time.sleep(config["backoff_seconds"] * 2 ** (attempt - 1))
        raise DeliveryFailed(
            f"the fund did not take the batch after {attempts} attempt(s): {last_error}",
            attempts=attempts,
        )
