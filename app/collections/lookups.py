"""Facts every receipt needs that never change once committed, kept in process.

A scheme version's rules are immutable; a fund's id and owed account, an organisation-wide
account's id, and a collector's cash account never change once created. Reading them again for
every receipt would cost a quarter of a receipt's statements, so they are remembered, but only
after the transaction that read them commits: a value read from a row created in a transaction
that rolls back is never kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.pending import TransactionNotes

_PENDING: TransactionNotes[tuple[CommittedCache, Hashable, Any]] = TransactionNotes(
    "collections.lookups"
)
_MAX = 50_000  # entries kept per kind; beyond it the oldest half is forgotten


class CommittedCache:
    """A process-wide map whose entries arrive only when the reading transaction commits."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.values: dict[Hashable, Any] = {}

    def get(self, key: Hashable) -> Any | None:
        return self.values.get(key)

    def stage(self, session: Session, key: Hashable, value: Any) -> None:
        """Remember `value` for `key` once this session's transaction commits (forgotten if
        the transaction, or the savepoint it was read in, rolls back)."""
        _PENDING.add(session, (self, key, value))

    def _keep(self, key: Hashable, value: Any) -> None:
        if len(self.values) >= _MAX:
            for old in list(self.values)[: _MAX // 2]:
                del self.values[old]
        self.values[key] = value

    def clear(self) -> None:
        self.values.clear()


@event.listens_for(Session, "after_commit")
def _keep_committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction may still roll back
    for cache, key, value in _PENDING.take(session):
        cache._keep(key, value)


RULES = CommittedCache("scheme version rules")  # (org, version id) -> rules
FUNDS = CommittedCache("funds")  # (org, code) -> FundAccounts
ACCOUNTS = CommittedCache("shared accounts")  # (org, code) -> account id
COLLECTOR_CASH = CommittedCache("collector cash accounts")  # (org, collector id) -> account id
COLLECTOR_OF = CommittedCache("collectors of principals")  # (org, (kind, id)) -> collector id


def cached(
    session: Session,
    cache: CommittedCache,
    org: uuid.UUID,
    keys: list[Any],
    load: Callable[[list[Any]], dict[Any, Any]],
) -> dict[Any, Any]:
    """Values for `keys` from the cache, the missing ones from `load` (then staged)."""
    out: dict[Any, Any] = {}
    missing = []
    for key in keys:
        value = cache.get((org, key))
        if value is None:
            missing.append(key)
        else:
            out[key] = value
    if missing:
        loaded = load(missing)
        for key, value in loaded.items():
            cache.stage(session, (org, key), value)
        out.update(loaded)
    return out
