"""The `http_json` fund adapter: pushes a batch to the fund's HTTP endpoint as JSON.

Protocol (docs/remittances.md): `POST <url>` with the batch's JSON form (json_file) as the
body, streamed, `Idempotency-Key: <batch id>`, and `Authorization: Bearer <token>` when the
fund's config has a token. The fund answers 200, 201 or 202 with an optional JSON object
`{"reference": "...", "lines": [{"end_to_end_id" | "member_id", "status":
"accepted"|"rejected", "reason"?, "affiliation_number"?}]}`; a 409 means it already has this
batch (a retry after a lost answer), which counts as delivered. Timeouts, connection errors,
408, 425, 429 and 5xx are retried with exponential backoff, up to `max_attempts`; any other
answer is a refusal. Retrying is safe because the fund sees the same idempotency key.

The URL is an outbound request made by this server on an organisation admin's word, so it
goes through `app.funds.outbound`: refused when saved and at every request if it is, or
resolves to, a loopback, private or otherwise non-public address (unless the operator allows
the host), connected to the address checked, no redirects. The whole delivery is bounded in
time (DELIVERY_SECONDS) and the answer read is bounded in size (ANSWER_BYTES). What is kept
of the fund's answer is labelled as the fund's (`fund_reply`: at most REPLY_CHARS characters,
control characters dropped), never mixed into our own messages.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from app.core import documents
from app.core.errors import DomainError
from app.core.messages import N_, Template
from app.funds import outbound
from app.funds.adapters import _config, json_file
from app.funds.registry import BatchDocument, Delivery, DeliveryFailed, LineAnswer

NOT_HTTP_URL = Template(
    "adapter_config.url_not_http", N_("%(key)s must be an http:// or https:// address")
)
CONFIG_BROKEN = Template(
    "delivery.config_not_valid", N_("the fund's adapter_config is not valid: %(error)s")
)
FUND_REFUSED = Template("delivery.refused", N_("the fund refused the batch (HTTP %(status)s)"))
NOT_TAKEN = Template(
    "delivery.not_taken",
    N_("the fund did not take the batch after %(count)s attempt(s): %(error)s"),
)

RETRYABLE = frozenset({408, 425, 429})
REPLY_CHARS = 500  # characters of a fund's answer kept with the batch, as `fund_reply`
ANSWER_BYTES = 5_000_000  # a longer answer is not read (its line statuses are not applied)
# what `_answer` parses: ANSWER_BYTES decoded (an undecodable byte is 3 bytes of U+FFFD)
_ANSWER_BOUNDS = documents.JsonBounds(max_bytes=3 * ANSWER_BYTES, max_depth=64)
DELIVERY_SECONDS = 300.0  # no new attempt, and no more reading, after this long
BACKOFF_CAP_SECONDS = 30.0  # one wait between attempts is never longer


class _AnswerTooLarge(Exception):
    pass


def _read(response: httpx.Response, deadline: float) -> bytes:
    """The body, at most ANSWER_BYTES, read before the deadline (a fund sending its answer a
    byte at a time would otherwise hold the request forever)."""
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > ANSWER_BYTES:
            raise _AnswerTooLarge(f"the fund's answer is longer than {ANSWER_BYTES} bytes")
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the fund's answer did not end in time")
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    try:  # bounded: a reply nested thousands deep would raise RecursionError from json.loads
        return documents.load_json(text, field="answer", bounds=_ANSWER_BOUNDS)
    except DomainError:
        return text


def _plain(text: str) -> str:
    """Text with every control, format (bidi overrides...) or separator character turned into
    a space, and runs of spaces collapsed: fit to show as quoted data, on a page or a log."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _recordable(status: int, raw: bytes, answer: Any) -> dict[str, Any]:
    """What is kept of an answer: its HTTP status, and the fund's own words labelled as such,
    short and without control characters (the line statuses are applied, not kept here)."""
    text = _plain(raw[: REPLY_CHARS * 8].decode("utf-8", errors="replace"))[: REPLY_CHARS + 1]
    recorded: dict[str, Any] = {
        "http_status": status,
        "fund_reply": text[:REPLY_CHARS],
        "fund_reply_truncated": len(text) > REPLY_CHARS,
    }
    if isinstance(answer, dict) and isinstance(answer.get("lines"), list):
        recorded["lines_answered"] = len(answer["lines"])
    return recorded


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
                _plain(str(reason))[:500] or None if reason is not None else None,
                _plain(str(number))[:64] or None if number is not None else None,
            )
        )
    return out


class HttpJsonAdapter:
    """Pushes a batch to the fund's endpoint and records its answer."""

    name = "http_json"

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return self._checked(config, addresses=True)

    def _checked(self, config: dict[str, Any], *, addresses: bool) -> dict[str, Any]:
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
                raise outbound.UnsafeAddress(NOT_HTTP_URL(key=key), key)
            # UnsafeAddress is a ValueError: 422 when saved. At delivery the transport checks
            # the address as it is then (and refuses it before any connection).
            out[key] = outbound.check_url(url, key) if addresses else url
        out["timeout_seconds"] = _config.number(config, "timeout_seconds", 10.0, low=0.1, high=120)
        out["max_attempts"] = int(_config.number(config, "max_attempts", 3, low=1, high=10))
        out["backoff_seconds"] = _config.number(config, "backoff_seconds", 0.5, low=0, high=60)
        token = _config.text(config, "token", None, max_len=500)
        if token is not None:
            out["token"] = token
        return out

    def deliver(self, document: BatchDocument, config: dict[str, Any]) -> Delivery:
        try:
            config = self._checked(config, addresses=False)
        except ValueError as exc:  # a config saved before a rule it now breaks
            raise DeliveryFailed(CONFIG_BROKEN(error=str(exc))) from None
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
        deadline = time.monotonic() + DELIVERY_SECONDS
        timeout = httpx.Timeout(config["timeout_seconds"])
        made = 0
        with outbound.client(timeout) as client:
            for attempt in range(1, attempts + 1):
                made = attempt
                try:
                    request = client.build_request(
                        "POST", url, content=json_file.render(document), headers=headers
                    )
                    response = client.send(request, stream=True)
                    try:
                        status = response.status_code
                        raw = _read(response, deadline)
                    finally:
                        response.close()
                except outbound.UnsafeAddress as exc:
                    raise DeliveryFailed(exc.message, attempts=attempt) from None
                except httpx.TimeoutException:
                    last_error = f"no answer within {config['timeout_seconds']} s"
                except _AnswerTooLarge as exc:
                    last_error = str(exc)
                except httpx.TransportError as exc:
                    last_error = f"could not reach the fund: {type(exc).__name__}"
                else:
                    answer = _answer(raw)
                    if status in (200, 201, 202, 409):
                        reference = answer.get("reference") if isinstance(answer, dict) else None
                        return Delivery(
                            "delivered",
                            reference=_plain(str(reference))[:140]
                            if reference is not None
                            else None,
                            attempts=attempt,
                            answer=_recordable(status, raw, answer),
                            line_answers=_line_answers(answer) if status != 409 else [],
                        )
                    if status not in RETRYABLE and status < 500:
                        raise DeliveryFailed(
                            FUND_REFUSED(status=status),
                            attempts=attempt,
                            answer=_recordable(status, raw, answer),
                        )
                    last_error = f"the fund answered HTTP {status}"
                if attempt < attempts:
                    pause = min(config["backoff_seconds"] * 2 ** (attempt - 1), BACKOFF_CAP_SECONDS)
                    if time.monotonic() + pause >= deadline:
                        last_error += f"; gave up after {DELIVERY_SECONDS:.0f} s"
                        break
                    time.sleep(pause)
        raise DeliveryFailed(
            NOT_TAKEN(count=made, error=last_error),
            attempts=made,
        )
