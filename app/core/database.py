"""Engine, sessions, the declarative base and the organisation scope.

Tenancy is one mechanism, here: every organisation's table mixes in `OrgScoped`, whose
primary key starts with `organisation_id`. A session bound to an organisation
(`bind_organisation`) adds `organisation_id = :org` to every ORM SELECT of such a table and
stamps (or refuses) the organisation of every new row at flush. Composite foreign keys that
include `organisation_id` make the database itself refuse a row that points into another
organisation. An endpoint cannot forget any of it: it only ever sees a bound session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    MetaData,
    create_engine,
    event,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from app.core.ids import uuid7

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC and always read back timezone-aware (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: instants must carry a UTC offset")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), int: BigInteger()}


class OrgScoped:
    """Mixin for every table that belongs to one organisation.

    The primary key is `(organisation_id, id)`, so the schema can be distributed by
    organisation (Citus) and every unique constraint and foreign key carries the tenant.
    """

    @declared_attr
    def organisation_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            ForeignKey("organisation.id", ondelete="RESTRICT"), primary_key=True, sort_order=-10
        )

    @declared_attr
    def id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(primary_key=True, default=uuid7, sort_order=-9)


def org_fk(
    columns: list[str], target: str, target_columns: list[str] | None = None, **kw: Any
) -> ForeignKeyConstraint:
    """A foreign key that includes the tenant: `(organisation_id, *columns)` -> target."""
    target_columns = target_columns or ["id"]
    return ForeignKeyConstraint(
        ["organisation_id", *columns],
        [f"{target}.organisation_id", *(f"{target}.{c}" for c in target_columns)],
        **kw,
    )


# -- engine ---------------------------------------------------------------------------------


def make_engine(url: str, *, pool_size: int = 20, echo: bool = False) -> Engine:
    """Create the engine. SQLite gets foreign keys, WAL, a busy timeout and `BEGIN IMMEDIATE`.

    `BEGIN IMMEDIATE` takes SQLite's write lock when a transaction starts, so two writers
    queue instead of one failing half-way with SQLITE_BUSY on its first write.
    """
    if url.startswith("sqlite"):
        if ":memory:" in url or url in {"sqlite://", "sqlite:///"}:
            raise ValueError("an in-memory SQLite database cannot hold a ledger; use a file")
        engine = create_engine(
            url,
            echo=echo,
            poolclass=NullPool,
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


@contextmanager
def unit_of_work(
    factory: sessionmaker[Session], organisation_id: uuid.UUID | None = None
) -> Iterator[Session]:
    """One business action: commit if the block succeeds, roll back if it raises."""
    with factory() as session:
        if organisation_id is not None:
            bind_organisation(session, organisation_id)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# -- organisation scope ------------------------------------------------------------------------

_ORG_KEY = "organisation_id"


def bind_organisation(session: Session, organisation_id: uuid.UUID) -> None:
    """Scope every later ORM query and insert of this session to one organisation."""
    bound = session.info.get(_ORG_KEY)
    if bound is not None and bound != organisation_id:
        raise RuntimeError("session already bound to another organisation")
    session.info[_ORG_KEY] = organisation_id


def bound_organisation(session: Session) -> uuid.UUID | None:
    value = session.info.get(_ORG_KEY)
    return value if isinstance(value, uuid.UUID) else None


@event.listens_for(Session, "do_orm_execute")
def _scope_selects(state: ORMExecuteState) -> None:
    org = state.session.info.get(_ORG_KEY)
    if org is None or not state.is_select:
        return
    if state.is_column_load or state.is_relationship_load:
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            OrgScoped,
            lambda cls: cls.organisation_id == org,
            include_aliases=True,
        )
    )


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, _ctx: Any, _instances: Any) -> None:
    org = session.info.get(_ORG_KEY)
    if org is None:
        return
    for obj in session.new:
        if isinstance(obj, OrgScoped):
            current = obj.organisation_id
            if current is None:
                obj.organisation_id = org
            elif current != org:
                raise PermissionError("refused: a row for another organisation")
