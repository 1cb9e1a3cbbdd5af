"""Notes a transaction keeps for later go with it: kept on commit, dropped with a rollback."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.pending import TransactionNotes

NOTES: TransactionNotes[str] = TransactionNotes("tests.pending")
TAKEN: list[list[str]] = []


def _take(session: Session) -> None:
    if not session.in_nested_transaction():
        TAKEN.append(NOTES.take(session))


@pytest.fixture
def session():  # type: ignore[no-untyped-def]
    TAKEN.clear()
    engine = sa.create_engine("sqlite://")
    with Session(engine) as s:
        sa.event.listen(s, "before_commit", _take)
        yield s
    engine.dispose()


def test_a_rolled_back_savepoint_drops_its_notes_and_its_inner_ones(session: Session) -> None:
    session.execute(sa.text("SELECT 1"))
    NOTES.add(session, "before")
    outer = session.begin_nested()
    NOTES.add(session, "outer")
    inner = session.begin_nested()
    NOTES.add(session, "inner")
    inner.commit()  # released into `outer`
    outer.rollback()
    with session.begin_nested():
        NOTES.add(session, "kept")
    session.commit()
    assert TAKEN == [["before", "kept"]]


def test_a_rolled_back_transaction_drops_all_and_the_next_starts_clean(session: Session) -> None:
    session.execute(sa.text("SELECT 1"))
    NOTES.add(session, "lost")
    session.rollback()
    session.execute(sa.text("SELECT 1"))
    NOTES.add(session, "next")
    session.commit()
    assert TAKEN == [["next"]]


def test_a_transaction_closed_without_commit_forgets_its_notes(session: Session) -> None:
    session.execute(sa.text("SELECT 1"))
    NOTES.add(session, "forgotten")
    session.close()
    session.execute(sa.text("SELECT 1"))
    session.commit()
    assert TAKEN == [[]]


def test_one_key_one_kind() -> None:
    with pytest.raises(ValueError, match="exist already"):
        TransactionNotes("tests.pending")
