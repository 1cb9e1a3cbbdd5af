"""Errors on web pages answer with a page in the user's language, never problem+json or a 500
stack: the API's handlers keep answering everything outside the web prefix."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.core.errors import DomainError
from app.web.deps import CsrfRefused, SignInRequired, WebForbidden
from app.web.session import load_session
from app.web.templating import PREFIX, redirect, render, translate
from app.web.vocabulary import N_

log = logging.getLogger("coopledger.web")

Handler = Callable[[Request, Any], Awaitable[Response]]


def is_web(request: Request) -> bool:
    path = request.url.path
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


def error_page(request: Request, status: int, title: str, detail: str | None = None) -> Response:
    return render(
        request, "error.html", {"status": status, "title": title, "detail": detail}, status=status
    )


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method != "GET":
        target = PREFIX + "/"
    from urllib.parse import quote

    return redirect(request, f"{PREFIX}/sign-in?next={quote(target, safe='')}")


async def _csrf(request: Request, exc: Exception) -> Response:
    load_session(request)
    return error_page(
        request,
        403,
        translate(request, "This form has expired"),
        translate(
            request,
            "The form was not sent from this session (or the session ended). Nothing was "
            "saved. Go back, reload the page and send it again.",
        ),
    )


async def _forbidden(request: Request, exc: Exception) -> Response:
    return error_page(
        request,
        403,
        translate(request, "Not allowed"),
        translate(request, "Your role may not open this page or do this."),
    )


def _titles(request: Request, status: int) -> str:
    names = {
        400: N_("Bad request"),
        404: N_("Not found"),
        405: N_("Not allowed"),
        409: N_("This conflicts with the current state"),
        413: N_("Too large"),
        422: N_("Not valid"),
    }
    return translate(request, names.get(status, N_("Something went wrong")))


def install_error_pages(app: FastAPI) -> None:
    """Route web requests' errors to HTML pages; everything else to the API's handlers."""
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(CsrfRefused, _csrf)
    app.add_exception_handler(WebForbidden, _forbidden)

    def wrap(kind: type[BaseException], page: Handler) -> None:
        api_handler = app.exception_handlers.get(kind)

        async def dispatch(request: Request, exc: Any) -> Response:
            if is_web(request) or api_handler is None:
                return await page(request, exc)
            result = api_handler(request, exc)
            return await result if inspect.isawaitable(result) else result

        app.exception_handlers[kind] = dispatch

    async def domain(request: Request, exc: DomainError) -> Response:
        from app.web import problems
        from app.web.templating import request_locale

        locale = request_locale(request)
        return error_page(
            request, exc.status, problems.title(locale, exc), problems.detail(locale, exc)
        )

    async def http(request: Request, exc: StarletteHTTPException) -> Response:
        return error_page(request, exc.status_code, _titles(request, exc.status_code))

    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_page(
            request,
            404,
            _titles(request, 404),
            translate(request, "This address does not name anything here."),
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_page(
            request,
            500,
            _titles(request, 500),
            translate(request, "The service failed; nothing was saved. Please try again."),
        )

    wrap(DomainError, domain)
    wrap(StarletteHTTPException, http)
    wrap(RequestValidationError, invalid)
    wrap(Exception, unexpected)
