"""What a transaction noted for later: kept if it commits, dropped with what rolls back.

Several parts of the app note something during a transaction that must take effect only if it
commits: the ledger's net balance changes (applied just before commit), counters (counted after
commit), values read for a process-wide cache (kept after commit). Each note remembers the
transaction or savepoint that made it; a savepoint that rolls back drops its notes (and those
of savepoints inside it), a transaction that rolls back drops them all, and a transaction that
ends without taking them forgets them, so nothing carries into the session's next transaction.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

T = TypeVar("T")

_KEYS: set[str] = set()


class TransactionNotes(Generic[T]):
    """Notes of one kind, kept in `session.info` under `key` until taken or dropped."""

    def __init__(self, key: str) -> None:
        if key in _KEYS:
            raise ValueError(f"notes {key!r} exist already")
        _KEYS.add(key)
        self.key = key

    def add(self, session: Session, note: T) -> None:
        here = session.get_nested_transaction() or session.get_transaction()
        session.info.setdefault(self.key, []).append((here, note))

    def take(self, session: Session) -> list[T]:
        """This transaction's notes, removed from it."""
        return [note for _, note in session.info.pop(self.key, ())]


def _within(txn: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while txn is not None:
        if txn is ended:
            return True
        txn = txn.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    for key in _KEYS:
        notes = session.info.get(key)
        if not notes:
            continue
        if previous.nested:
            session.info[key] = [n for n in notes if not _within(n[0], previous)]
        else:
            del session.info[key]


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    # runs after `after_commit`, whose listeners take what they need first
    if transaction.parent is None:
        for key in _KEYS:
            session.info.pop(key, None)
