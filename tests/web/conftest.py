"""Fixtures for the web pages: users who sign in, a form-aware client, and a real browser.

The browser is Debian's chromium (`make browser` installs it) driven by Playwright from PyPI
through `executable_path`; `playwright install` (which downloads a browser) is never used.
One browser per test session (per xdist worker); a fresh context (cookies) per test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from tests.conftest import CHROMIUM_ARGS, chromium_path

__all__ = ["CHROMIUM_ARGS", "chromium_path"]  # where the browser tests have always found them

PASSWORD = "correct-horse-battery"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class WebOrg:
    id: Any
    code: str
    currency: str
    users: dict[str, str]  # role -> username


@pytest.fixture
def make_web_org(session_factory):  # type: ignore[no-untyped-def]
    """make_web_org(code, currency, roles=..., locale=...) -> WebOrg with a user per role."""
    from app.identity.service import create_organisation, create_user

    def make(
        code: str = "AMUSSOL",
        currency: str = "DOP",
        roles: tuple[str, ...] = ("treasurer",),
        locale: str = "en",
    ) -> WebOrg:
        with unit_of_work(session_factory) as session:
            org = create_organisation(
                session, code=code, name=f"Cooperativa {code}", currency=currency
            )
            bind_organisation(session, org.id)
            users = {}
            for role in roles:
                username = {"treasurer": "ana", "auditor": "olga", "collector": "cobra"}.get(
                    role, role
                )
                create_user(
                    session,
                    CLI_ACTOR,
                    username=username,
                    password=PASSWORD,
                    role=role,
                    locale=locale,
                    fund_code="FUND" if role == "fund_office" else None,
                )
                users[role] = username
            return WebOrg(org.id, org.code, org.currency, users)

    return make


@pytest.fixture
def web_org(make_web_org) -> WebOrg:  # type: ignore[no-untyped-def]
    return make_web_org()


_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class WebClient:
    """The test client as a browser without script: it reads each form's CSRF token."""

    def __init__(self, client: Any) -> None:
        self.c = client
        self.csrf: str | None = None

    def get(self, url: str, **kw: Any) -> Any:
        r = self.c.get(url, **kw)
        tokens = _CSRF_RE.findall(r.text)
        if tokens:
            self.csrf = tokens[-1]
            # every form that posts carries this session's token
            assert len(set(tokens)) == 1, "forms on one page carry different CSRF tokens"
            assert r.text.count('method="post"') == len(tokens), "a form has no CSRF token"
        return r

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        if self.csrf is None:
            self.get("/web/sign-in")
        payload = {"csrf_token": self.csrf, **(data or {})}
        r = self.c.post(url, data=payload, **kw)
        m = _CSRF_RE.search(r.text)
        if m:
            self.csrf = m.group(1)
        return r

    def sign_in(self, org: WebOrg, role: str = "treasurer") -> None:
        self.get("/web/sign-in")
        r = self.post(
            "/web/sign-in",
            {"organisation": org.code, "username": org.users[role], "password": PASSWORD},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        self.get(r.headers["location"])


@pytest.fixture
def web(client) -> WebClient:  # type: ignore[no-untyped-def]
    return WebClient(client)


# -- the real browser -----------------------------------------------------------------------------


# `browser` (one per test session and xdist worker) is in tests/conftest.py: one fixture for
# every package whose tests drive Chromium (a second sync Playwright would not start).


@pytest.fixture
def page(browser, live_server) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies) on the live server, English, desktop width."""
    context = browser.new_context(
        base_url=live_server,
        locale="en-GB",
        viewport={"width": 1280, "height": 860},
        accept_downloads=True,
    )
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


def sign_in_browser(page: Any, org: WebOrg, role: str = "treasurer") -> None:
    page.goto("/web/")
    page.get_by_label("Organisation code").fill(org.code)
    page.get_by_label("Username").fill(org.users[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/web/**")


def shoot(page: Any, name: str, *, full_page: bool = True) -> None:
    """A screenshot of the page. Written to docs/screenshots/ when COOPLEDGER_SCREENSHOTS=1
    (see docs/web.md), so an ordinary test run leaves the committed pictures alone."""
    png = page.screenshot(full_page=full_page)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("COOPLEDGER_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(png)
