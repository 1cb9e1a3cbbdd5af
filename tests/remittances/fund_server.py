"""A real fund endpoint for the http_json adapter, served by uvicorn on loopback in a thread.

It keeps what it received and can be told to fail (503), refuse (400), be slow (past the
client's timeout), or treat a repeated Idempotency-Key as a duplicate (409) or answer the
same again. Never a mock: the adapter talks HTTP to it.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.funds import outbound
from tests.conftest import free_port

ALLOWED_HOSTS_ENV = "COOPLEDGER_ADAPTER_ALLOWED_HOSTS"


@dataclass
class FundServer:
    url: str = ""
    # per request: ok, fail, refuse, slow, lost, redirect, drip, chatty
    script: list[str] = field(default_factory=list)
    duplicate: str = "conflict"  # a key seen before: "conflict" (409) or "same" (200 again)
    reject: set[str] = field(default_factory=set)  # end_to_end_ids / member_ids to reject
    slow_seconds: float = 1.5
    redirect_to: str = ""  # where a "redirect" step sends the client (307)
    requests: list[dict[str, Any]] = field(default_factory=list)
    stored: dict[str, Any] = field(default_factory=dict)  # idempotency key -> batch body

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        lines = []
        for ln in body["lines"]:
            key = ln.get("end_to_end_id") or ln["member_id"]
            if key in self.reject:
                lines.append(
                    {
                        **({"end_to_end_id": key} if "end_to_end_id" in ln else {"member_id": key}),
                        "status": "rejected",
                        "reason": "unknown affiliation",
                    }
                )
            elif "member_id" in ln and "end_to_end_id" not in ln:
                lines.append(
                    {
                        "member_id": key,
                        "status": "accepted",
                        "affiliation_number": f"N-{ln['member_number']}",
                    }
                )
            else:
                lines.append({"end_to_end_id": key, "status": "accepted"})
        return {"reference": f"FUND-{body['batch']['reference']}", "lines": lines}


def _app(state: FundServer) -> Starlette:
    async def receive(request: Request) -> JSONResponse:
        raw = await request.body()
        key = request.headers.get("idempotency-key", "")
        step = state.script.pop(0) if state.script else "ok"
        state.requests.append(
            {
                "key": key,
                "step": step,
                "size": len(raw),
                "auth": request.headers.get("authorization"),
                "host": request.headers.get("host"),
            }
        )
        if step == "fail":
            return JSONResponse({"error": "busy"}, status_code=503)
        if step == "refuse":
            return JSONResponse({"error": "bad batch"}, status_code=400)
        if step == "slow":
            await asyncio.sleep(state.slow_seconds)
            return JSONResponse({"error": "too late"}, status_code=503)
        if step == "redirect":
            return Response(status_code=307, headers={"Location": state.redirect_to})
        if step == "drip":  # an answer that never ends: one byte at a time, each in time

            async def drip() -> AsyncIterator[bytes]:
                for _ in range(200):
                    yield b" "
                    await asyncio.sleep(0.1)

            return StreamingResponse(drip(), status_code=201, media_type="application/json")
        if step == "chatty":  # takes it, answers at length in text with control characters
            state.stored[key] = json.loads(raw)
            text = "Accepted.\x1b[2J\x07\x00 <script>alert(1)</script> call +1 809 555 0100 " * 200
            return Response(text, status_code=202, media_type="text/plain")
        body = json.loads(raw)
        if key in state.stored:
            if state.duplicate == "conflict":
                return JSONResponse(
                    {
                        "error": "already received",
                        "reference": f"FUND-{body['batch']['reference']}",
                    },
                    status_code=409,
                )
            return JSONResponse(state.answer(state.stored[key]), status_code=200)
        state.stored[key] = body
        if step == "lost":  # took it, but the answer never arrives in time
            await asyncio.sleep(state.slow_seconds)
        return JSONResponse(state.answer(body), status_code=201)

    return Starlette(
        routes=[
            Route("/batches", receive, methods=["POST"]),
            Route("/affiliations", receive, methods=["POST"]),
        ]
    )


@pytest.fixture(name="fund_server")
def serve_fund() -> Iterator[FundServer]:
    state = FundServer()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app(state), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fund server did not start")
        time.sleep(0.02)
    state.url = f"http://127.0.0.1:{port}"
    # This server is on loopback, which fund adapters may not reach unless the operator lists
    # the host (COOPLEDGER_ADAPTER_ALLOWED_HOSTS): allowed here, in this process and in any
    # server process a test starts with this environment.
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
