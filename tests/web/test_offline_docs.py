"""/docs (Swagger UI) and /redoc work without internet: every asset they load is served by
this app from files a package ships, none from a CDN (issue 11)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}
# what a page loads: src/href attributes, Swagger UI's `url: '...'`, ReDoc's spec-url
_REFERENCES = re.compile(r"""(?:src|href|spec-url)="([^"]*)"|\burl:\s*'([^']*)'""")


def references(html: str) -> list[str]:
    return [a or b for a, b in _REFERENCES.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_pages_load_only_this_apps_assets(client, page: str) -> None:  # type: ignore[no-untyped-def]
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # the browser is told to load nothing from elsewhere, whatever the scripts ask for
    policy = r.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
    assert not re.search(r"(?i)\b(?:https?:)?//[a-z0-9.-]+\.[a-z]", r.text), "names another host"
    refs = references(r.text)
    kinds = {urlsplit(u).path.rsplit(".", 1)[-1] for u in refs}
    # the page's script (and Swagger UI's style sheet), its icon and the schema
    assert {"js", "png", "json"} <= kinds, refs
    if page == "/docs":
        assert "css" in kinds
    for url in refs:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        wanted = CONTENT_TYPES["." + parts.path.rsplit(".", 1)[-1]]
        assert asset.headers["content-type"].split(";")[0] == wanted, (url, asset.headers)
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert len(asset.content) > 100, url


def _offline_context(browser, live_server) -> tuple[Any, list[str]]:  # type: ignore[no-untyped-def]
    """A browser context that reaches nothing but the live server on loopback."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(20_000)
    refused: list[str] = []

    def only_loopback(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost", "::1"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    return context, refused


def test_swagger_ui_and_redoc_render_the_operations_without_internet(browser, live_server) -> None:  # type: ignore[no-untyped-def]
    context, refused = _offline_context(browser, live_server)
    try:
        page = context.new_page()
        failed: list[tuple[str, str]] = []
        page.on("requestfailed", lambda req: failed.append((req.url, str(req.failure))))
        page.goto("/docs")
        page.locator(".opblock").first.wait_for()
        # the operations are rendered: one block per endpoint, the token one among them
        assert page.locator(".opblock").count() >= 75
        assert page.locator(".opblock-summary-path", has_text="/api/v1/auth/token").count() >= 1
        assert page.evaluate("getComputedStyle(document.querySelector('.swagger-ui')).display")
        page.goto("/redoc")
        page.locator("[data-section-id*='/operation/']").first.wait_for()
        assert page.locator("[data-section-id*='/operation/']").count() >= 75
        # nothing went out to another host; what a script asked of one (ReDoc's footer logo)
        # was stopped by the page's Content-Security-Policy before any request was made
        assert refused == [], refused
        for url, why in failed:
            assert urlsplit(url).hostname != urlsplit(live_server).hostname, (url, why)
            assert why == "csp", (url, why)
    finally:
        context.close()


def test_the_schema_refers_only_to_its_components(client) -> None:  # type: ignore[no-untyped-def]
    # a `#/$defs/...` reference (a Pydantic schema given inline) points at nothing in an
    # OpenAPI document: ReDoc showed a blank page for it
    schema = client.get("/openapi.json").text
    assert '"$defs"' not in schema and "#/$defs/" not in schema
    assert "AcknowledgementLine" in client.get("/openapi.json").json()["components"]["schemas"]
