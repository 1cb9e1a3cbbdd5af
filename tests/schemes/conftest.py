"""Fixtures of the schemes, members and funds tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.settings import get_settings


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the `coopledger` command at this test's database."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()
