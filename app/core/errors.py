"""Domain errors and their RFC 9457 problem+json rendering.

Services raise `DomainError` subclasses; `install_handlers` maps them (and FastAPI's own
validation and HTTP errors) to `application/problem+json`. Nothing else builds error bodies.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.messages import (
    INVALID,
    N_,
    FieldError,
    Message,
    Template,
    field_errors,
    from_pydantic,
)

log = logging.getLogger("coopledger.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"


class DomainError(Exception):
    """A request the domain refuses: a `Message` (code and parameters) and, where fields are at
    fault, one `FieldError` each. Subclasses set the HTTP status and problem type."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        message: Message | None = None,
        *,
        errors: Sequence[FieldError] | None = None,
    ) -> None:
        self.errors = list(errors or ())
        if not all(isinstance(e, FieldError) for e in self.errors):
            raise TypeError("field errors are FieldErrors")
        if message is None:
            if not self.errors:
                raise TypeError("a refusal needs a message or field errors")
            first = self.errors[0]
            message = first.message
            detail = f"{first.field}: {first.message.english()}"
        elif isinstance(message, Message):
            detail = message.english()
        else:
            raise TypeError("a refusal is a Message (a Template's code and parameters), not text")
        super().__init__(detail)
        self.message = message
        self.detail = detail

    @property
    def code(self) -> str:
        return self.message.code

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        params = self.message.plain_params()
        if params:
            body["params"] = params
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = field_errors(self.errors)
        return body


class ValidationFailed(DomainError):
    status, slug, title = 422, "validation-error", "The request is not valid"

    @classmethod
    def field(cls, field: str, message: Message) -> ValidationFailed:
        return cls(errors=[FieldError(field, message)])

    @classmethod
    def fields(cls, errors: Sequence[FieldError]) -> ValidationFailed:
        """The 422 for these field errors (its detail names the first)."""
        return cls(errors=errors)


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict with the current state"


class IdempotencyConflict(Conflict):
    slug, title = "idempotency-key-reused", "Idempotency key reused with another request"


class Unauthorized(DomainError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Not allowed for this role"


class PayloadTooLarge(DomainError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


def problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_of(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "form"}:
        parts = parts[1:] or parts
    return ".".join(parts) if parts else "body"


def validation_errors(raw: Sequence[Any]) -> list[FieldError]:
    """Pydantic's errors as field errors: a validator's own template keeps its code; Pydantic's
    error types become `field.<type>`, worded in English as Pydantic words them."""
    out = []
    for err in raw:
        msg = str(err.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        field = _field_of(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            # FastAPI locates a JSON syntax error by its character offset, which is no field
            reason = (err.get("ctx") or {}).get("error")
            msg = f"{msg}: {reason} (at character {field})" if reason else msg
            field = "body"
        message = from_pydantic(err, msg)
        # Pydantic's error type as it was before validators raised our templates: one of ours
        # is a validator's `value_error` (its code says which)
        kind = err.get("type", "value_error")
        kind = "value_error" if kind == message.code else kind
        out.append(FieldError(field, message, {"type": kind}))
    return out


DOCUMENT_TOO_DEEP = Template(
    "document.too_deep", N_("JSON nested too deeply (past about %(levels)s levels)")
)
DOCUMENT_NOT_UTF8 = Template("document.not_utf8", N_("the body is not UTF-8 text"))
DOCUMENT_NOT_JSON = Template("document.not_json", N_("not valid JSON: %(error)s"))


def _unreadable_json(request: Request, exc: StarletteHTTPException) -> ValidationFailed | None:
    """FastAPI answers 400 "There was an error parsing the body" when `json.loads` fails
    other than with a syntax error: nesting past Python's recursion limit (RecursionError),
    bytes that are not UTF-8. Such a body is an invalid request: 422 naming `body`."""
    cause = exc.__cause__
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if exc.status_code != 400 or cause is None or not (media.endswith(("/json", "+json"))):
        return None
    if isinstance(cause, RecursionError):
        bound = "depth"
        message = DOCUMENT_TOO_DEEP(levels=sys.getrecursionlimit())
    elif isinstance(cause, UnicodeDecodeError):
        bound, message = "encoding", DOCUMENT_NOT_UTF8()
    elif isinstance(cause, ValueError):
        bound, message = "syntax", DOCUMENT_NOT_JSON(error=cause)
    else:
        return None
    return ValidationFailed(
        errors=[FieldError("body", message, {"type": "document_bound", "bound": bound})]
    )


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(exc.status, exc.to_problem(request.url.path), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors()) or [FieldError("body", INVALID())]
        problem = ValidationFailed(errors=errors)
        return problem_response(422, problem.to_problem(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        unreadable = _unreadable_json(request, exc)
        if unreadable is not None:
            return problem_response(422, unreadable.to_problem(request.url.path))
        titles = {404: "Not found", 405: "Method not allowed", 401: "Authentication required"}
        body = {
            "type": "about:blank",
            "title": titles.get(exc.status_code, "HTTP error"),
            "status": exc.status_code,
            "detail": str(exc.detail),
            "instance": request.url.path,
        }
        return problem_response(exc.status_code, body, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = {
            "type": PROBLEM_BASE + "internal-error",
            "title": "Internal error",
            "status": 500,
            "detail": "The service failed; nothing was written. Retry with the same Idempotency-Key.",
            "instance": request.url.path,
        }
        return problem_response(500, body)
