"""Operations at the edge: liveness, readiness, metrics, headers, and errors for bad requests."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.core.migrations import head_revisions
from app.core.settings import Settings
from app.main import create_app

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and "type" in body
    return body


def test_healthz(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_at_head_and_503_when_the_schema_is_behind(client, engine) -> None:  # type: ignore[no-untyped-def]
    heads = sorted(head_revisions())
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "revision": heads}

    with engine.connect() as conn:
        current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    try:
        # as if this release's migrations had not been applied to the database
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = 'bogus'"))
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert behind.json() == {
            "status": "migrations pending",
            "current": ["bogus"],
            "head": heads,
        }

        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM alembic_version"))
        never = client.get("/readyz")
        assert never.status_code == 503 and never.json()["current"] == []
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM alembic_version"))
            for version in current:
                conn.execute(
                    sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version}
                )
    assert client.get("/readyz").status_code == 200


def test_metrics_count_requests_by_route_and_status(client, org) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/accounts").status_code == 401
    assert client.get("/api/v1/accounts", headers=org.headers("auditor")).status_code == 200
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "# TYPE coopledger_http_requests_total counter" in text

    samples = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "coopledger_http_requests"
        for s in family.samples
        if s.name == "coopledger_http_requests_total"
    }
    assert samples[("GET", "/healthz", "200")] == 3
    assert samples[("GET", "/api/v1/accounts", "401")] == 1
    assert samples[("GET", "/api/v1/accounts", "200")] == 1
    assert "coopledger_http_request_seconds_bucket" in text


def test_every_answer_carries_security_headers_and_a_request_id(client) -> None:  # type: ignore[no-untyped-def]
    for response in (
        client.get("/healthz"),
        client.get("/api/v1/accounts"),
        client.get("/no/such/path"),
    ):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    a, b = client.get("/healthz"), client.get("/healthz")
    assert a.headers["x-request-id"] != b.headers["x-request-id"]
    given = client.get("/healthz", headers={"X-Request-Id": "collector-app-42"})
    assert given.headers["x-request-id"] == "collector-app-42"


@pytest.fixture
def small_client(settings: Settings):  # type: ignore[no-untyped-def]
    """The app with COOPLEDGER_MAX_BODY_BYTES at its smallest allowed value (1 KiB)."""
    small = settings.model_copy(update={"max_body_bytes": 1024})
    with TestClient(create_app(small), raise_server_exceptions=False) as c:
        yield c


def test_a_body_over_the_limit_is_413_problem_json(small_client, org, engine) -> None:  # type: ignore[no-untyped-def]
    h = org.headers("treasurer", **{"Content-Type": "application/json"})
    big = b'{"description": "' + b"x" * 2000 + b'"}'
    declared = small_client.post("/api/v1/journal", content=big, headers=h)
    body = assert_problem(declared, 413)
    assert body["type"] == "/problems/payload-too-large" and "1024 bytes" in body["detail"]
    assert declared.headers["x-frame-options"] == "DENY"

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(5):  # sent chunked: no Content-Length to refuse it by
            yield b"x" * 400

    streamed = small_client.post("/api/v1/journal", content=chunks(), headers=h)
    assert "content-length" not in streamed.request.headers
    assert assert_problem(streamed, 413)["type"] == "/problems/payload-too-large"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM journal_entry")).scalar_one() == 0
    # under the limit is served as usual
    assert small_client.get("/healthz").status_code == 200


def test_malformed_json_is_422_problem_json_naming_the_body(client, org) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/journal",
        content=b'{"description": "x", ',
        headers=org.headers("treasurer", **{"Content-Type": "application/json"}),
    )
    body = assert_problem(r, 422)
    assert body["type"] == "/problems/validation-error"
    assert body["errors"][0]["field"] == "body"
    assert "JSON" in body["errors"][0]["message"]


def test_unknown_path_and_method_are_problem_json(client) -> None:  # type: ignore[no-untyped-def]
    body = assert_problem(client.get("/api/v1/no-such-thing"), 404)
    assert body["instance"] == "/api/v1/no-such-thing"
    assert_problem(client.delete("/healthz"), 405)
