"""Sign-in throttling, Argon2 parameters, hashed API keys, security headers, production secrets."""

from __future__ import annotations

import hashlib
import re

import pytest
import sqlalchemy as sa

from app.core.settings import PLACEHOLDER_SECRET, Settings
from app.core.throttle import LoginThrottle
from tests.security.helpers import PASSWORD, make_user, sign_in, table_counts


def test_wrong_passwords_lock_the_username_with_429_and_retry_after(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    make_user(session_factory, org, "ana")
    make_user(session_factory, org, "bea")
    before = table_counts(engine)
    for _ in range(5):
        assert sign_in(client, "AMUSSOL/ana", "not-the-password").status_code == 401
    locked = sign_in(client, "AMUSSOL/ana")  # even the right password is not tried now
    assert locked.status_code == 429
    assert locked.headers["content-type"] == "application/problem+json"
    body = locked.json()
    assert body["type"] == "/problems/too-many-attempts" and body["status"] == 429
    wait = int(locked.headers["Retry-After"])
    assert 0 < wait <= 15 * 60 and body["retry_after"] == wait
    # the same username named the other way (organisation field) is the same lock
    assert sign_in(client, "ana", organisation="AMUSSOL").status_code == 429
    # another user from the same address is not locked out by ana's attacker
    assert sign_in(client, "AMUSSOL/bea").status_code == 200
    after = table_counts(engine)
    # a sign-in writes nothing but the throttle's count: 5 failures x (username, address)
    assert after.pop("login_failure") == before.pop("login_failure") + 10
    assert after == before
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM login_failure"))]
    for row in rows:  # neither the username nor the address is stored, only an HMAC
        assert re.fullmatch(r"[0-9a-f]{64}", row["key_hash"])
        assert not any("ana" in str(v).lower() or "testclient" in str(v) for v in row.values())


def test_lock_lifts_after_the_window_and_success_clears_failures(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    now = [1000.0]
    client.app.state.login_throttle = LoginThrottle(
        per_user=3, per_address=100, window_seconds=60, clock=lambda: now[0], engine=engine
    )
    make_user(session_factory, org, "ana")
    for _ in range(2):
        assert sign_in(client, "AMUSSOL/ana", "nope-nope-nope").status_code == 401
    assert sign_in(client, "AMUSSOL/ana").status_code == 200  # clears ana's two failures
    for _ in range(3):
        assert sign_in(client, "AMUSSOL/ana", "nope-nope-nope").status_code == 401
    refused = sign_in(client, "AMUSSOL/ana")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    now[0] += 30
    assert sign_in(client, "AMUSSOL/ana").headers["Retry-After"] == "30"
    now[0] += 31
    assert sign_in(client, "AMUSSOL/ana").status_code == 200


def test_one_address_guessing_many_usernames_is_throttled(
    client, org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    client.app.state.login_throttle = LoginThrottle(per_user=100, per_address=4, engine=engine)
    make_user(session_factory, org, "ana")
    for name in ("u1", "u2", "u3", "u4"):
        assert sign_in(client, f"AMUSSOL/{name}", "guess-guess-guess").status_code == 401
    refused = sign_in(client, "AMUSSOL/ana")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_two_app_instances_share_the_count(settings, org, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Two server processes (here two apps on the same database) share one sign-in count."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    make_user(session_factory, org, "ana")
    with (
        TestClient(create_app(settings), raise_server_exceptions=False) as first,
        TestClient(create_app(settings), raise_server_exceptions=False) as second,
    ):
        assert first.app.state.login_throttle is not second.app.state.login_throttle
        for client in (first, second, first, second, first):
            assert sign_in(client, "AMUSSOL/ana", "not-the-password").status_code == 401
        # 5 failures in all, split 3 / 2: each instance alone would still allow attempts
        for client in (first, second):
            refused = sign_in(client, "AMUSSOL/ana")
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_success_on_one_instance_clears_the_count_on_the_other(
    settings, org, session_factory
) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from app.main import create_app

    make_user(session_factory, org, "ana")
    with (
        TestClient(create_app(settings), raise_server_exceptions=False) as first,
        TestClient(create_app(settings), raise_server_exceptions=False) as second,
    ):
        for _ in range(4):
            assert sign_in(first, "AMUSSOL/ana", "not-the-password").status_code == 401
        assert sign_in(second, "AMUSSOL/ana").status_code == 200  # clears ana's failures
        for _ in range(4):
            assert sign_in(first, "AMUSSOL/ana", "not-the-password").status_code == 401
        assert sign_in(second, "AMUSSOL/ana").status_code == 200  # 4 < 5: not locked


def test_old_failures_are_pruned_as_new_ones_come(engine) -> None:  # type: ignore[no-untyped-def]
    now = [5000.0]
    throttle = LoginThrottle(per_user=2, window_seconds=60, clock=lambda: now[0], engine=engine)
    throttle.failed(["user:a/old", "addr:198.51.100.1"])
    throttle.failed(["user:a/old"])
    assert throttle.retry_after(["user:a/old"]) == 60
    now[0] += 61
    assert throttle.retry_after(["user:a/old"]) is None  # aged out, even before the prune
    throttle.failed(["user:a/new"])
    with engine.connect() as conn:
        hashes = conn.execute(sa.text("SELECT key_hash FROM login_failure")).scalars().all()
    assert hashes == [throttle.key_hash("user:a/new")]  # the old three rows are gone


def test_throttle_forgets_the_oldest_keys_beyond_its_bound() -> None:
    throttle = LoginThrottle(per_user=1, max_keys=3)
    for i in range(5):
        throttle.failed([f"user:u{i}"])
    assert throttle.retry_after(["user:u0"]) is None  # forgotten: memory stays bounded
    assert throttle.retry_after(["user:u4"]) is not None


def test_passwords_are_argon2id_with_the_documented_parameters(
    org, session_factory, engine
) -> None:  # type: ignore[no-untyped-def]
    make_user(session_factory, org, "ana")
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT password_hash FROM app_user WHERE username = 'ana'")
        ).scalar_one()
    # RFC 9106's second recommended option: Argon2id, 64 MiB, 3 passes, 4 lanes, 16-byte salt
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), stored
    salt, digest = stored.split("$")[4:6]
    assert len(salt) >= 21 and len(digest) == 43  # 16-byte salt, 32-byte hash (base64)
    assert PASSWORD not in stored


def test_api_keys_are_stored_only_as_sha256(org, engine) -> None:  # type: ignore[no-untyped-def]
    key = org.keys["collector"]
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM api_key"))]
    mine = [r for r in rows if r["key_hash"] == hashlib.sha256(key.encode()).hexdigest()]
    assert len(mine) == 1 and mine[0]["prefix"] == key[:12]
    for row in rows:
        assert not any(isinstance(v, str) and key[12:] in v for v in row.values())


HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/healthz", {}, 200),
        ("get", "/api/v1/accounts", {}, 401),
        ("get", "/api/v1/no-such-thing", {}, 404),
        ("post", "/api/v1/auth/token", {"data": {"username": "x"}}, 422),
        (
            "post",
            "/api/v1/auth/token",
            {"content": b"x" * 9000, "headers": {"Content-Length": "99999999"}},
            413,
        ),
    ],
)
def test_security_headers_on_every_answer(client, method, path, kwargs, status) -> None:  # type: ignore[no-untyped-def]
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    for name, value in HEADERS.items():
        assert response.headers[name] == value
    assert "camera=()" in response.headers["permissions-policy"]
    assert len(response.headers["x-request-id"]) >= 8


def test_a_hostile_request_id_is_replaced_not_echoed(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/healthz", headers={"X-Request-Id": "a b<script>"})
    assert r.headers["x-request-id"] != "a b<script>" and "<" not in r.headers["x-request-id"]
    assert (
        client.get("/healthz", headers={"X-Request-Id": "sheet-7.retry-2"}).headers["x-request-id"]
        == "sheet-7.retry-2"
    )


@pytest.mark.parametrize(
    "secret", [None, PLACEHOLDER_SECRET, "change-me-please-0123456789abcdefghijkl", "short"]
)
def test_production_refuses_placeholder_secrets(secret) -> None:  # type: ignore[no-untyped-def]
    env = {"COOPLEDGER_ENV": "production", "DATABASE_URL": "sqlite:///x.db"}
    if secret is not None:
        env["COOPLEDGER_SECRET_KEY"] = secret
    with pytest.raises(ValueError, match="COOPLEDGER_SECRET_KEY"):
        Settings(**env)  # type: ignore[arg-type]
    ok = Settings(**{**env, "COOPLEDGER_SECRET_KEY": "x" * 48})  # type: ignore[arg-type]
    assert ok.env == "production"


def test_the_web_sign_in_and_the_api_share_the_count(client, web, org, session_factory) -> None:  # type: ignore[no-untyped-def]
    make_user(session_factory, org, "ana")
    for _ in range(3):
        assert sign_in(client, "AMUSSOL/ana", "not-the-password").status_code == 401
    form = {"organisation": "AMUSSOL", "username": "ana", "password": "not-the-password"}
    for _ in range(2):
        assert web.post("/web/sign-in", form).status_code == 422
    assert web.post("/web/sign-in", {**form, "password": PASSWORD}).status_code == 429
    assert sign_in(client, "AMUSSOL/ana").status_code == 429
