"""Server-rendered pages for treasurers (and auditors, collectors, fund offices), under /web.

`install(app)` mounts the pages, their static files and their HTML error pages; the JSON API
is untouched. Pages call the feature packages' service functions directly, in the request's
one transaction, with the session bound to the signed-in user's organisation.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"

# Each module's `router` holds one area's pages.
PAGE_MODULES = [
    "app.web.routes.auth",
    "app.web.routes.dashboard",
    "app.web.routes.members",
    "app.web.routes.receipts",
    "app.web.routes.uploads",
    "app.web.routes.remittances",
    "app.web.routes.schemes",
    "app.web.routes.reports",
    "app.web.routes.units",
    "app.web.routes.cash",
    "app.web.routes.rounds",
    "app.web.routes.enrolments",
    "app.web.routes.affiliations",
    "app.web.routes.funds",
    "app.web.routes.payments",
    "app.web.routes.payment_statements",
    "app.web.routes.admin",
]


def install(app: FastAPI) -> None:
    from app.web.errors import install_error_pages
    from app.web.templating import PREFIX

    for module in PAGE_MODULES:
        app.include_router(importlib.import_module(module).router, include_in_schema=False)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC_DIR), name="web-static")
    # the collector app (docs/collect.md): its own files and texts, under /collect/
    from app.web.routes.collect import collect_app, redirect_route

    app.router.routes.append(redirect_route())
    app.mount("/collect", collect_app(), name="collect")
    install_error_pages(app)
