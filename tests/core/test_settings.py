"""Settings are validated at start-up: production refuses a weak secret; URLs are normalised."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from app.core.settings import PLACEHOLDER_SECRET, Settings, get_settings, normalise_database_url

STRONG = "k3Jx9-pQ2vR8sT4uW6yZ0aB1cD5eF7gH9iJ2lM4nO6"  # 42 characters, random-looking


@pytest.fixture
def environment(monkeypatch, tmp_path) -> Iterator[pytest.MonkeyPatch]:  # type: ignore[no-untyped-def]
    """A clean environment: no COOPLEDGER_* or DATABASE_URL variables and no `.env` file."""
    for name in ("COOPLEDGER_ENV", "COOPLEDGER_SECRET_KEY", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        (None, "missing"),
        ("", "empty"),
        (PLACEHOLDER_SECRET, "the development placeholder"),
        ("change-me-" + "x" * 40, "a placeholder"),
        ("s" * 31, "shorter than 32 characters"),
    ],
)
def test_production_refuses_a_weak_secret_at_start_up(environment, secret, why) -> None:  # type: ignore[no-untyped-def]
    environment.setenv("COOPLEDGER_ENV", "production")
    if secret is not None:
        environment.setenv("COOPLEDGER_SECRET_KEY", secret)
    with pytest.raises(ValidationError, match="COOPLEDGER_SECRET_KEY must be set") as refused:
        Settings()
    assert "at least 32 characters" in str(refused.value), why

    # the application refuses to start with it, too
    from app.main import create_app

    with pytest.raises(ValidationError, match="COOPLEDGER_SECRET_KEY"):
        create_app()


def test_production_accepts_a_strong_secret(environment) -> None:  # type: ignore[no-untyped-def]
    environment.setenv("COOPLEDGER_ENV", "production")
    environment.setenv("COOPLEDGER_SECRET_KEY", STRONG)
    settings = Settings()
    assert settings.env == "production" and settings.secret_key == STRONG
    assert Settings(COOPLEDGER_SECRET_KEY="s" * 32).secret_key == "s" * 32  # type: ignore[call-arg]


def test_development_accepts_the_default_secret(environment) -> None:  # type: ignore[no-untyped-def]
    settings = Settings()
    assert settings.env == "development"
    assert settings.secret_key == PLACEHOLDER_SECRET
    assert settings.database_url == "sqlite:///./data/coopledger.db" and settings.is_sqlite


def test_a_dotenv_file_is_read(environment, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text(
        f"COOPLEDGER_ENV=production\nCOOPLEDGER_SECRET_KEY={STRONG}\n"
        "DATABASE_URL=postgres://ana@db.example:5432/books\n"
    )
    settings = Settings()
    assert settings.env == "production" and settings.secret_key == STRONG
    assert settings.database_url == "postgresql+psycopg://ana@db.example:5432/books"


def test_an_unknown_environment_name_is_refused(environment) -> None:  # type: ignore[no-untyped-def]
    environment.setenv("COOPLEDGER_ENV", "prod")
    with pytest.raises(ValidationError, match="COOPLEDGER_ENV"):
        Settings()


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("postgres://ana:pw@db:5432/books", "postgresql+psycopg://ana:pw@db:5432/books"),
        ("postgresql://ana@db/books", "postgresql+psycopg://ana@db/books"),
        ("postgresql+psycopg://ana@db/books", "postgresql+psycopg://ana@db/books"),
        ("sqlite:///./data/coopledger.db", "sqlite:///./data/coopledger.db"),
    ],
)
def test_database_urls_are_normalised(environment, given, normalised) -> None:  # type: ignore[no-untyped-def]
    assert normalise_database_url(given) == normalised
    environment.setenv("DATABASE_URL", given)
    assert Settings().database_url == normalised
