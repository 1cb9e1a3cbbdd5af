"""Alembic environment: the only way a coopledger schema comes to exist."""

from __future__ import annotations

from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import create_engine, pool

from app.core.database import Base, make_engine
from app.core.settings import get_settings, normalise_database_url
from app.models import load_all_models

config = context.config
if config.config_file_name is not None and not config.attributes.get("quiet_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

load_all_models()
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return normalise_database_url(url)
    settings = get_settings()
    if settings.is_sqlite:
        # the default SQLite file lives under ./data/, made on first use
        path = settings.database_url.split("///", 1)[-1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return settings.database_url


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # UTCDateTime is an application type; migrations store a plain timestamptz
    from app.core.database import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = _url()
    engine = (
        make_engine(url)
        if url.startswith("sqlite")
        else create_engine(url, poolclass=pool.NullPool)
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=_render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
