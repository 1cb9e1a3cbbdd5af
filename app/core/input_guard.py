"""Refuse the NUL character (U+0000) at the edge: 422, before any handler or query runs.

PostgreSQL cannot hold U+0000 in text; a NUL that reached a query failed there as a 500.
JSON bodies are refused field by field by the `Schema` base (`app/core/schemas.py`), which
names the field; this guard covers what no schema sees: the path, the query string and
URL-encoded form bodies (sign-in, the web forms), where a NUL arrives as `%00`.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.messages import NO_NUL, FieldError

_NUL = b"%00"
_FORM = b"application/x-www-form-urlencoded"


async def _refuse(scope: Scope, send: Send, where: str) -> None:
    said = NO_NUL()
    body = json.dumps(
        {
            "type": "/problems/validation-error",
            "title": "The request is not valid",
            "status": 422,
            "detail": f"{where}: {said.english()}",
            "code": said.code,
            "instance": scope.get("path"),
            "errors": [FieldError(where, said, {"type": "nul_character"}).to_json()],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RefuseNulMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
        if _NUL in raw_path.lower() or "\x00" in scope.get("path", ""):
            await _refuse(scope, send, "path")
            return
        if _NUL in (scope.get("query_string") or b"").lower():
            await _refuse(scope, send, "query")
            return
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
        if not content_type.lower().startswith(_FORM):
            await self.app(scope, receive, send)
            return
        # A URL-encoded form is small (the edge middleware bounds it): read it whole, look,
        # then hand the same messages to the application.
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if _NUL in body.lower():
            await _refuse(scope, send, "form")
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
