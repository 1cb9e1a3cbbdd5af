"""The collector app at /collect/: its static files, compressed, and its texts per language.

The app itself is plain JavaScript in app/web/collect/ (docs/collect.md): no build step, no
CDN. Its texts come from the same gettext catalogues as the pages, so one catalogue says
everything in en/fr/es: `GET /collect/i18n/{locale}.json` answers the app's own strings
(app/web/collect/strings.py) and every message code's template, from which the app says a
rejected receipt's reason in the collector's language.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app.core.messages import INTERNAL_CODES, REGISTRY
from app.web import i18n

APP_DIR = Path(__file__).resolve().parents[1] / "collect"
SERVED = frozenset({".html", ".css", ".js", ".mjs", ".webmanifest", ".svg", ".png", ".json"})
"""What the app's folder may serve: never its Python (the strings list) or caches."""

_TYPES = {".webmanifest": "application/manifest+json", ".mjs": "text/javascript"}


class AppFiles(StaticFiles):
    """The app's static files: only the kinds in SERVED; the service worker and the shell are
    revalidated on every load (no-cache with an ETag), so an update reaches phones at once."""

    def file_response(
        self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200
    ) -> Response:
        suffix = Path(str(full_path)).suffix
        if suffix not in SERVED:
            raise HTTPException(status_code=404)
        response = super().file_response(full_path, stat_result, scope, status_code)
        if suffix in _TYPES:
            response.headers["content-type"] = _TYPES[suffix]
        response.headers["cache-control"] = "no-cache"
        return response


def app_strings() -> tuple[str, ...]:
    from app.web.collect.strings import STRINGS

    return tuple(STRINGS)


@lru_cache(maxsize=len(i18n.LOCALES))
def catalogue(locale: str) -> bytes:
    """The app's texts and every message code's template, in `locale` (JSON, UTF-8)."""
    say = i18n.translations(locale).gettext
    codes = {
        code: say(template.text)
        for code, template in sorted(REGISTRY.items())
        if code not in INTERNAL_CODES and not code.startswith("test.")
    }
    body = {"locale": locale, "ui": {s: say(s) for s in app_strings()}, "codes": codes}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def texts(request: Request) -> Response:
    locale = request.path_params["locale"]
    if locale not in i18n.LOCALES:
        return Response(status_code=404)
    return Response(
        catalogue(locale),
        media_type="application/json",
        headers={"cache-control": "no-cache"},
    )


async def to_app(request: Request) -> Response:
    return RedirectResponse(request.url.path + "/", status_code=308)


def collect_app() -> Any:
    """The app mounted at /collect: texts, files, gzip when the browser takes it."""
    inner = Starlette(
        routes=[
            Route("/i18n/{locale}.json", texts),
            Mount("/", app=AppFiles(directory=APP_DIR, html=True)),
        ]
    )
    return GZipMiddleware(inner, minimum_size=512)


def redirect_route() -> Route:
    """`/collect` (no slash) leads to the app."""
    return Route("/collect", to_app)
