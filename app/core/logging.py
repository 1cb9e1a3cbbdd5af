"""Structured logs: one JSON object per line, with the request id, and no secrets.

`configure_logging()` is called by `create_app()` and by the CLI. Every record goes out as
`{"ts", "level", "logger", "message", "request_id"?, ...extra}`. The request id is the one
the edge middleware gives each request (`X-Request-Id`); code that logs while serving a
request gets it without passing it along (a context variable).

Secrets never reach a log line: `redact()` masks API keys (`clk_...`, only the recognisable
prefix is kept), bearer tokens and JWTs, and `password=` / `secret=` / `token=` values, in
the message, in its arguments and in every extra field, whatever logger wrote them
(uvicorn's and SQLAlchemy's too).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "coopledger_request_id", default=None
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "taskName"}
)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # API keys: keep the 12-character prefix people use to recognise a key (as stored).
    (re.compile(r"\b(clk_[A-Za-z0-9_-]{8})[A-Za-z0-9_-]+"), r"\1[redacted]"),
    # JSON Web Tokens (access tokens): three base64url parts, the first `eyJ`.
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    # `Authorization: Bearer xyz` and the like, whatever the token looks like.
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), r"\1 [redacted]"),
    # password=..., "password": "...", secret, token, api_key, authorization
    (
        re.compile(
            r"(?i)([\"']?(?:password|passwd|secret|secret_key|access_token|token|api_key|"
            r"authorization)[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)"
        ),
        r"\1[redacted]",
    ),
]

_SENSITIVE_KEYS = frozenset(
    {"password", "passwd", "secret", "secret_key", "token", "access_token", "authorization"}
)


def redact(text: str) -> str:
    """`text` with API keys, tokens and password values masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            k: "[redacted]" if str(k).lower() in _SENSITIVE_KEYS else _clean(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extras become fields; secrets are masked."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(message),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key in _STANDARD or key in entry or key.startswith("_"):
                continue
            entry[key] = "[redacted]" if key.lower() in _SENSITIVE_KEYS else _clean(value)
        if record.exc_info:
            entry["exc_info"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


_HANDLER_NAME = "coopledger-json"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes to whatever `sys.stderr` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override,unused-ignore]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str | int = "INFO", stream: Any = None) -> None:
    """Send every logger's records to one JSON handler on stderr (idempotent).

    Uvicorn's own handlers are replaced, so its error log is JSON and redacted too; its
    access log is silenced because `coopledger.access` logs each request with its id.
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
