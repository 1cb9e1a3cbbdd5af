"""Configuration from the environment (and a `.env` file), validated at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me-development-only"  # noqa: S105 - a placeholder that production refuses
DEFAULT_DATA_DIR = Path("data")


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (`postgres://`, `postgresql://`) and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///./{DEFAULT_DATA_DIR}/coopledger.db",
        validation_alias="DATABASE_URL",
    )
    env: Literal["development", "production", "test"] = Field(
        default="development", validation_alias="COOPLEDGER_ENV"
    )
    secret_key: str = Field(default=PLACEHOLDER_SECRET, validation_alias="COOPLEDGER_SECRET_KEY")
    access_token_minutes: int = Field(
        default=12 * 60, ge=1, le=31 * 24 * 60, validation_alias="COOPLEDGER_ACCESS_TOKEN_MINUTES"
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, validation_alias="COOPLEDGER_MAX_BODY_BYTES"
    )
    db_pool_size: int = Field(default=20, ge=1, validation_alias="COOPLEDGER_DB_POOL_SIZE")
    adapter_allowed_hosts: str = Field(
        default="",
        validation_alias="COOPLEDGER_ADAPTER_ALLOWED_HOSTS",
        description="comma-separated hosts (host or host:port) a fund adapter may reach even "
        "though they are loopback or private (app/funds/outbound.py); empty: public hosts only",
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        self.database_url = normalise_database_url(self.database_url)
        if self.env == "production":
            weak = (
                not self.secret_key
                or self.secret_key == PLACEHOLDER_SECRET
                or "change-me" in self.secret_key
                or len(self.secret_key) < 32
            )
            if weak:
                raise ValueError(
                    "COOPLEDGER_SECRET_KEY must be set to a random value of at least 32 characters "
                    "when COOPLEDGER_ENV=production (e.g. `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'`)"
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
