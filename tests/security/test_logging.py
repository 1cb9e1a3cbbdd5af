"""Logs are JSON lines with the request id, and never hold a password, a token or an API key."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from app.core.logging import JsonFormatter, configure_logging, redact
from tests.security.helpers import PASSWORD, make_user, sign_in


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log record of every logger, at DEBUG (SQL statements and rows too), as JSON."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    engine_log = logging.getLogger("sqlalchemy.engine")
    old_level = engine_log.level
    root.addHandler(handler)
    engine_log.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        engine_log.setLevel(old_level)
        root.removeHandler(handler)


def test_sign_in_and_key_use_leave_no_secret_in_logs(
    client, org, session_factory, captured
) -> None:  # type: ignore[no-untyped-def]
    make_user(session_factory, org, "ana")
    bad = sign_in(client, "AMUSSOL/ana", "wrong password, not the real one")
    assert bad.status_code == 401
    good = sign_in(client, "AMUSSOL/ana", headers={"X-Request-Id": "req-sign-in-1"})
    assert good.status_code == 200, good.text
    token = good.json()["access_token"]
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}", "X-Request-Id": "req-me-2"}
    )
    assert me.status_code == 200 and me.json()["name"] == "ana"
    api_key = org.keys["treasurer"]
    by_key = client.get("/api/v1/accounts", headers=org.headers("treasurer"))
    assert by_key.status_code == 200
    revoked = client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {api_key}x"})
    assert revoked.status_code == 401

    text = captured.getvalue()
    assert text, "nothing was logged: the capture is broken, so the test would prove nothing"
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(line["logger"].startswith("sqlalchemy.engine") for line in lines)
    for secret in (PASSWORD, "wrong password, not the real one", token, api_key, api_key[12:]):
        assert secret not in text, f"a secret reached the logs: {secret[:6]}..."
    # the hashes the database holds are not secrets, but the key's own text never appears
    access = [line for line in lines if line["logger"] == "coopledger.access"]
    ids = {line["request_id"]: line for line in access}
    assert ids["req-sign-in-1"]["route"] == "/api/v1/auth/token"
    assert ids["req-sign-in-1"]["status"] == 200
    assert ids["req-me-2"]["route"] == "/api/v1/auth/me"
    assert all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    # the SQL run while serving a request carries that request's id too
    assert any(
        line.get("request_id") == "req-me-2" and line["logger"].startswith("sqlalchemy.engine")
        for line in lines
    )


def test_a_secret_logged_by_mistake_is_masked() -> None:
    buffer = io.StringIO()
    logger = logging.getLogger("coopledger.test.mistake")
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    key = "clk_" + "A1b2C3d4" + "e5F6g7H8i9J0kLmNoPqRsTuVwXyZ_-0123456789ab"
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXBhcnQ"
    try:
        logger.warning("key %s used; header Authorization: Bearer %s", key, jwt_like)
        logger.warning("form password=hunter2hunter2&username=ana", extra={"token": "abc123"})
        logger.warning("details", extra={"payload": {"password": "s3cret-pass", "n": 1}})
    finally:
        logger.removeHandler(handler)
    out = buffer.getvalue()
    for secret in (key, key[12:], jwt_like, "hunter2hunter2", "abc123", "s3cret-pass"):
        assert secret not in out
    first, second, third = (json.loads(line) for line in out.splitlines())
    assert "clk_A1b2C3d4[redacted]" in first["message"]  # the prefix still names the key
    assert second["token"] == "[redacted]" and "username=ana" in second["message"]
    assert third["payload"] == {"password": "[redacted]", "n": 1}


def test_redact_keeps_ordinary_text() -> None:
    text = "posted 150.00 DOP for member 00042 (token bucket refilled)"
    assert redact(text) == text


def test_configure_logging_writes_json_to_stderr(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging()
    logging.getLogger("coopledger.test").warning("hello %s", "world", extra={"n": 3})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    parsed = json.loads(line)
    assert parsed["message"] == "hello world" and parsed["n"] == 3
    assert parsed["level"] == "warning" and parsed["logger"] == "coopledger.test"
