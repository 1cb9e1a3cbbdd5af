"""The ASGI application: `uvicorn app.main:app`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.core.database import make_engine, make_session_factory
from app.core.errors import install_handlers
from app.core.input_guard import RefuseNulMiddleware
from app.core.logging import configure_logging
from app.core.messages import INTERNAL_CODES, REGISTRY, Template
from app.core.metrics import BusinessCollector
from app.core.middleware import EdgeMiddleware, Metrics
from app.core.settings import Settings, get_settings
from app.core.throttle import LoginThrottle
from app.identity.principals import IdentityPrincipals
from app.models import load_all_models

API_PREFIX = "/api/v1"
# Swagger UI (/docs) and ReDoc (/redoc) load their scripts, style sheet and icon from here:
# files the fastapi-offline package ships, so the documentation works without internet.
DOCS_ASSETS = "/docs/assets"
# ...and load nothing from anywhere else (ReDoc's footer would fetch a logo from its CDN)
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Each feature package's `router`, mounted under API_PREFIX.
API_ROUTERS = [
    "app.identity.router",
    "app.ledger.router",
    "app.funds.router",
    "app.members.router",
    "app.schemes.enrolments_router",
    "app.schemes.router",
    "app.collections.router",
    "app.remittances.router",
    "app.payments.router",
    "app.ops.audit_router",
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging()
    load_all_models()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        app.state.engine = engine
        app.state.session_factory = make_session_factory(engine)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        docs_url=None,  # served by install_docs, from this package's files
        redoc_url=None,
        title="coopledger",
        version="0.1.0",
        summary="Contribution collection and remittance ledger for cooperatives, mutuals and unions",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # who holds a bearer credential: the identity tables, read for app.core.deps.authenticate
    app.state.principal_source = IdentityPrincipals()
    # the hosts a fund adapter may reach although they are private (app/funds/outbound.py)
    from app.funds import outbound

    outbound.configure(settings.adapter_allowed_hosts)
    # sign-in failures counted in the database: shared by every worker process
    app.state.login_throttle = LoginThrottle(
        engine=lambda: getattr(app.state, "engine", None), secret=settings.secret_key
    )
    metrics = Metrics()
    metrics.registry.register(BusinessCollector(lambda: getattr(app.state, "engine", None)))
    app.state.metrics_registry = metrics.registry
    install_handlers(app)

    from app.ops.router import router as ops_router

    app.include_router(ops_router)
    for module in API_ROUTERS:
        app.include_router(importlib.import_module(module).router, prefix=API_PREFIX)

    # Web pages for people (server-rendered, under /web; `/` leads there): app/web.
    from app.web import install as install_web_pages

    install_web_pages(app)

    install_docs(app)
    app.add_middleware(RefuseNulMiddleware)  # inside the edge: size limit and headers apply
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes, metrics=metrics)
    return app


def install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI), /docs/oauth2-redirect and /redoc, with every asset served from
    DOCS_ASSETS and a Content-Security-Policy that lets them load nothing else."""
    assets = Path(str(resources.files("fastapi_offline") / "static"))
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")
    app.openapi = lambda: _openapi_with_components_only(app)  # type: ignore[method-assign]
    oauth2_redirect = "/docs/oauth2-redirect"

    def confined(page: HTMLResponse) -> HTMLResponse:
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return confined(
            get_swagger_ui_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=f"{root}{oauth2_redirect}",
                swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return confined(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return confined(
            get_redoc_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
                with_google_fonts=False,
            )
        )


def _openapi_with_components_only(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with the `$defs` of a Pydantic schema given inline (an endpoint's
    `openapi_extra`) moved to components/schemas: their `#/$defs/X` references point at the
    document's root, where OpenAPI has no `$defs`, and ReDoc then renders nothing at all."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = FastAPI.openapi(app)
    components = schema.setdefault("components", {}).setdefault("schemas", {})

    def hoist(node: Any) -> Any:
        if isinstance(node, dict):
            for name, definition in node.pop("$defs", {}).items():
                components.setdefault(name, hoist(definition))
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
            for value in node.values():
                hoist(value)
        elif isinstance(node, list):
            for value in node:
                hoist(value)
        return node

    hoist(schema.get("paths", {}))
    for definition in list(components.values()):  # a schema's own inline `json_schema_extra`
        hoist(definition)
    _document_problems(schema)
    app.openapi_schema = schema
    return schema


def every_template() -> dict[str, Template]:
    """Every message the service can say, by code. Templates are declared by the modules that
    say them, so each module of `app` is loaded first."""
    import app as package

    for info in pkgutil.walk_packages(package.__path__, "app."):
        importlib.import_module(info.name)
    return {
        code: REGISTRY[code]
        for code in sorted(REGISTRY)
        if code not in INTERNAL_CODES and not code.startswith(TESTS_OWN)
    }


TESTS_OWN = "test."
"""The code namespace of templates that tests declare for themselves (never the service's)."""

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _document_problems(schema: dict[str, Any]) -> None:
    """The problem+json bodies in the OpenAPI: one Problem schema whose `code` lists every
    refusal's code with its English text, answered by every operation for 4XX (and 422)."""
    templates = every_template()
    codes = sorted(templates)
    listing = "\n".join(f"- `{code}`: {templates[code].text}" for code in codes)
    components = schema["components"]["schemas"]
    components["FieldProblem"] = {
        "type": "object",
        "description": "What is wrong with one field, row or item of the request.",
        "required": ["field", "message", "code"],
        "properties": {
            "field": {"type": "string", "description": "the field (a dotted path)"},
            "message": {"type": "string", "description": "what is wrong, in English"},
            "code": {"type": "string", "enum": codes, "description": "the message's code"},
            "params": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "the message's parameters, by the names of its template",
            },
            "type": {"type": "string", "description": "Pydantic's error type, where it is one"},
        },
    }
    components["Problem"] = {
        "type": "object",
        "description": "An RFC 9457 problem: every refusal (4XX) is answered with one, as "
        "`application/problem+json`.",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "description": "the problem type, e.g. /problems/conflict"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string", "description": "the refusal, in English"},
            "code": {
                "type": "string",
                "enum": codes,
                "description": "The refusal's stable code (for a 422, its first field's). A "
                "client translates it with `params`; the English template of each code:\n\n"
                + listing,
            },
            "params": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "the refusal's parameters, by the names of its template",
            },
            "instance": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldProblem"}},
        },
        "x-templates": {code: templates[code].text for code in codes},
    }
    refused = {"application/problem+json": {"schema": _PROBLEM}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"]["content"] = refused
            responses.setdefault("4XX", {"description": "Refused", "content": refused})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)


def __getattr__(name: str) -> FastAPI:
    # `app.main:app` is built on first access, so importing this module reads no settings.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
