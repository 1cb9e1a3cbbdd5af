"""ASGI middleware: request id, security headers, body size limit, metrics, access log."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import request_id_var

access_log = logging.getLogger("coopledger.access")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "coopledger_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "coopledger_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )


def route_template(scope: Scope) -> str:
    """The matched route's path template with its router's prefix: `/api/v1/accounts/{account_id}`.

    FastAPI puts the route as declared in its router (without the `include_router` prefix) in
    `scope["route"]`; the prefix is the part of the path before what the route matched.
    A low-cardinality label for metrics and logs: never the raw path.
    """
    route = scope.get("route")
    own = getattr(route, "path", None)
    regex = getattr(route, "path_regex", None)
    if not own or regex is None:
        return "unmatched"
    path: str = scope.get("path", "")
    if regex.match(path):
        return str(own)
    for i, char in enumerate(path):
        if char == "/" and i and regex.match(path[i:]):
            return path[:i] + own
    return str(own)


class _TooLarge(Exception):
    pass


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        offered = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        # a caller's id is kept only if it is plain (it is echoed in a header and logged)
        request_id = offered if _REQUEST_ID_RE.match(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        id_token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, send, request_id)
            self._observe(scope, 413, started, request_id)
            request_id_var.reset(id_token)
            return

        received = 0
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                # FastAPI turns any error while reading a body into its own 400; a streamed
                # (chunked) body over the limit is still a 413, and nothing of the 400 is sent.
                if message["type"] == "http.response.start" and not response_started:
                    response_started = True
                    await self._too_large(scope, send, request_id)
                    status_holder["status"] = 413
                return
            if message["type"] == "http.response.start":
                response_started = True
                status_holder["status"] = message["status"]
                extra = [(b"x-request-id", request_id.encode("latin-1")), *SECURITY_HEADERS]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        # The whole body arrives before any of the application runs. A dependency or handler
        # that reads it later (a web form, read after the signed-in user was loaded) would
        # otherwise wait on a slow client with its transaction open: on SQLite, the write
        # lock every other organisation waits for. The body is bounded by max_body_bytes.
        buffered: list[Message] = []
        try:
            while True:
                message = await limited_receive()
                buffered.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
        except _TooLarge:
            await self._too_large(scope, send, request_id)
            self._observe(scope, 413, started, request_id)
            request_id_var.reset(id_token)
            return

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await limited_receive()

        try:
            await self.app(scope, replay, send_wrapper)
        except _TooLarge:
            if not response_started:
                await self._too_large(scope, send, request_id)
            status_holder["status"] = 413
        finally:
            self._observe(scope, status_holder["status"], started, request_id)
            request_id_var.reset(id_token)

    def _observe(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        template = route_template(scope)
        elapsed = time.perf_counter() - started
        self.metrics.requests.labels(scope["method"], template, str(status)).inc()
        self.metrics.latency.labels(scope["method"], template).observe(elapsed)
        access_log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": scope["method"],
                "route": template,
                "status": status,
                "ms": round(elapsed * 1000, 1),
            },
        )

    async def _too_large(self, scope: Scope, send: Send, request_id: str) -> None:
        body: dict[str, Any] = {
            "type": "/problems/payload-too-large",
            "title": "Request body too large",
            "status": 413,
            "detail": f"the body exceeds {self.max_body_bytes} bytes",
            "instance": scope.get("path"),
        }
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-request-id", request_id.encode("latin-1")),
                    *SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
