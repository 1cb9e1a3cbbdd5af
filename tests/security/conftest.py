"""Fixtures the security tests borrow: a remittances book, and a web client that signs in."""

from __future__ import annotations

from tests.remittances.conftest import books
from tests.web.conftest import make_web_org, web, web_org

__all__ = ["books", "make_web_org", "web", "web_org"]
