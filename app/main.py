"""The ASGI application: `uvicorn app.main:app`."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.core.database import make_engine, make_session_factory
from app.core.errors import install_handlers
from app.core.input_guard import RefuseNulMiddleware
from app.core.logging import configure_logging
from app.core.metrics import BusinessCollector
from app.core.middleware import EdgeMiddleware, Metrics
from app.core.settings import Settings, get_settings
from app.core.throttle import LoginThrottle
from app.models import load_all_models

API_PREFIX = "/api/v1"
# Each feature package's `router`, mounted under API_PREFIX.
API_ROUTERS = [
    "app.identity.router",
    "app.ledger.router",
    "app.funds.router",
    "app.members.router",
    "app.schemes.router",
    "app.collections.router",
    "app.remittances.router",
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
        title="coopledger",
        version="0.1.0",
        summary="Contribution collection and remittance ledger for cooperatives, mutuals and unions",
        lifespan=lifespan,
    )
    app.state.settings = settings
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

    app.add_middleware(RefuseNulMiddleware)  # inside the edge: size limit and headers apply
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes, metrics=metrics)
    return app


def __getattr__(name: str) -> FastAPI:
    # `app.main:app` is built on first access, so importing this module reads no settings.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
