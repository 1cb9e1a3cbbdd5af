"""A loopback fake of MTN MoMo's Collection API, served by uvicorn in a thread.

It does what the mtn_momo adapter and the apps that ask members to pay see of MTN:
`POST /collection/token/` (Basic api_user:api_key and the subscription key -> a bearer token),
`POST /collection/v1_0/requesttopay` (an `X-Reference-Id`, an `X-Callback-Url`; the request
is PENDING) and `GET /collection/v1_0/requesttopay/{referenceId}` (its result, 404 for a
reference it does not know). The test plays the payer and MTN's back office: `finish()` ends
a request (a SUCCESSFUL one gets a financialTransactionId), `send_callback()` delivers the
result to the callback URL as MTN does, once, by POST (with the referenceId in an
`X-Reference-Id` header when asked: MTN's own callbacks do not carry it, a relay in front of
coopledger may). It can be told to refuse tokens or fail status calls. Never a mock: the
adapter talks HTTP to it.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.funds import outbound
from tests.conftest import free_port

ALLOWED_HOSTS_ENV = "COOPLEDGER_ADAPTER_ALLOWED_HOSTS"

API_USER = "5f1c1e0c-0b36-4b8a-9d4c-6f0b1a2c3d4e"
API_KEY = "f1db798c98df4bcf83b538175893bbf0"
SUBSCRIPTION_KEY = "d484a1f0d34f4301916d0f2c9e9106a2"
ENVIRONMENT = "sandbox"


@dataclass
class MomoFake:
    url: str = ""
    tokens: set[str] = field(default_factory=set)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # referenceId -> request
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path) received
    refuse_tokens: bool = False
    fail_status: bool = False  # status calls answer 500
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1_000_000_001))

    # -- what the tests do as the payer and MTN's back office ----------------------------------

    def config(self, **extra: Any) -> dict[str, Any]:
        """A channel config that reaches this fake."""
        return {
            "base_url": self.url,
            "api_user": API_USER,
            "api_key": API_KEY,
            "subscription_key": SUBSCRIPTION_KEY,
            "target_environment": ENVIRONMENT,
            "timeout_seconds": 5,
            **extra,
        }

    def request_to_pay(
        self,
        amount: str,
        currency: str,
        external_id: str,
        msisdn: str,
        callback_url: str,
    ) -> str:
        """An app asks a member to pay, over HTTP as it would; the referenceId."""
        ref = str(uuid.uuid4())
        basic = base64.b64encode(f"{API_USER}:{API_KEY}".encode()).decode()
        with httpx.Client(base_url=self.url, timeout=10) as c:
            token = c.post(
                "/collection/token/",
                headers={"Authorization": f"Basic {basic}", "Ocp-Apim-Subscription-Key": SUBSCRIPTION_KEY},
            ).json()["access_token"]  # fmt: skip
            r = c.post(
                "/collection/v1_0/requesttopay",
                json={
                    "amount": amount,
                    "currency": currency,
                    "externalId": external_id,
                    "payer": {"partyIdType": "MSISDN", "partyId": msisdn},
                    "payerMessage": "cotisation",
                    "payeeNote": "cotisation",
                },
                headers={
                    "Authorization": f"Bearer {token}",
                    "X-Reference-Id": ref,
                    "X-Callback-Url": callback_url,
                    "X-Target-Environment": ENVIRONMENT,
                    "Ocp-Apim-Subscription-Key": SUBSCRIPTION_KEY,
                },
            )
            assert r.status_code == 202, r.text
        return ref

    def finish(self, ref: str, status: str, reason: str | None = None) -> dict[str, Any]:
        """The payer approved (SUCCESSFUL) or declined (FAILED) the request."""
        request = self.requests[ref]
        request["status"] = status
        if status == "SUCCESSFUL":
            request["financialTransactionId"] = str(next(self._ids))
        if reason is not None:
            request["reason"] = reason
        return self.result(ref)

    def result(self, ref: str) -> dict[str, Any]:
        """The body of the status call (and of the callback)."""
        r = self.requests[ref]
        body = {
            "financialTransactionId": r.get("financialTransactionId"),
            "externalId": r["externalId"],
            "amount": r["amount"],
            "currency": r["currency"],
            "payer": r["payer"],
            "payerMessage": r["payerMessage"],
            "payeeNote": r["payeeNote"],
            "status": r["status"],
        }
        if body["financialTransactionId"] is None:
            del body["financialTransactionId"]
        if "reason" in r:
            body["reason"] = r["reason"]
        return body

    def send_callback(
        self, ref: str, *, name_reference: bool = True, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """MTN delivers the result to the request's callback URL (once: it never retries)."""
        request = self.requests[ref]
        headers = {"Content-Type": "application/json"}
        if name_reference:
            headers["X-Reference-Id"] = ref
        return httpx.post(
            request["callbackUrl"],
            content=json.dumps(body if body is not None else self.result(ref)).encode(),
            headers=headers,
            timeout=10,
        )


def _app(state: MomoFake) -> Starlette:
    def subscribed(request: Request) -> bool:
        return request.headers.get("ocp-apim-subscription-key") == SUBSCRIPTION_KEY

    def bearer(request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in state.tokens

    async def token(request: Request) -> Response:
        state.calls.append(("POST", request.url.path))
        basic = base64.b64encode(f"{API_USER}:{API_KEY}".encode()).decode()
        if (
            state.refuse_tokens
            or not subscribed(request)
            or request.headers.get("authorization") != f"Basic {basic}"
        ):
            return JSONResponse({"error": "login_failed"}, status_code=401)
        made = uuid.uuid4().hex
        state.tokens.add(made)
        return JSONResponse(
            {"access_token": made, "token_type": "access_token", "expires_in": 3600}
        )

    async def create(request: Request) -> Response:
        state.calls.append(("POST", request.url.path))
        if not (subscribed(request) and bearer(request)):
            return JSONResponse({"code": "UNAUTHORIZED"}, status_code=401)
        ref = request.headers.get("x-reference-id", "")
        if ref in state.requests:
            return JSONResponse({"code": "RESOURCE_ALREADY_EXIST"}, status_code=409)
        body = json.loads(await request.body())
        state.requests[ref] = {
            **body,
            "status": "PENDING",
            "callbackUrl": request.headers.get("x-callback-url"),
        }
        return Response(status_code=202)

    async def status(request: Request) -> Response:
        state.calls.append(("GET", request.url.path))
        if not (subscribed(request) and bearer(request)):
            return JSONResponse({"code": "UNAUTHORIZED"}, status_code=401)
        if request.headers.get("x-target-environment") != ENVIRONMENT:
            return JSONResponse({"code": "NOT_ALLOWED_TARGET_ENVIRONMENT"}, status_code=403)
        if state.fail_status:
            return JSONResponse({"code": "INTERNAL_PROCESSING_ERROR"}, status_code=500)
        ref = request.path_params["ref"]
        if ref not in state.requests:
            return JSONResponse(
                {"code": "RESOURCE_NOT_FOUND", "message": "Requested resource was not found."},
                status_code=404,
            )
        return JSONResponse(state.result(ref))

    return Starlette(
        routes=[
            Route("/collection/token/", token, methods=["POST"]),
            Route("/collection/v1_0/requesttopay", create, methods=["POST"]),
            Route("/collection/v1_0/requesttopay/{ref}", status, methods=["GET"]),
        ]
    )


@pytest.fixture(name="momo")
def serve_momo() -> Iterator[MomoFake]:
    state = MomoFake()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app(state), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("MoMo fake did not start")
        time.sleep(0.02)
    state.url = f"http://127.0.0.1:{port}"
    # loopback is refused to adapters unless the operator allows the host (app/funds/outbound)
    hosts = os.environ.get(ALLOWED_HOSTS_ENV)
    os.environ[ALLOWED_HOSTS_ENV] = ",".join(filter(None, [hosts, f"127.0.0.1:{port}"]))
    try:
        with outbound.allowing(f"127.0.0.1:{port}"):
            yield state
    finally:
        if hosts is None:
            os.environ.pop(ALLOWED_HOSTS_ENV, None)
        else:
            os.environ[ALLOWED_HOSTS_ENV] = hosts
        server.should_exit = True
        thread.join(timeout=10)
