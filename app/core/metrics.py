"""Business metrics on `/metrics`, next to the HTTP ones: what features count and what the
database holds.

Two kinds, both cheap:

- **Counters** that a feature bumps for what it committed::

      from app.core import metrics
      metrics.count_after_commit(session, "receipts_posted", len(receipts), channel="cash")

  The count is applied only if the transaction commits (a savepoint or a transaction that
  rolls back counts nothing), so a retried request is not counted twice. Counters are per
  process, like every Prometheus counter: Prometheus sums them across processes.
- **Gauges read at scrape time** from the database, for state rather than events, e.g.
  remittance batches by status: `define_gauge_query(name, help, labels, sql)`. A query that
  fails (a table not migrated yet) is skipped for that scrape, never a failed scrape.

Defined here: `coopledger_receipts_posted_total{channel}`,
`coopledger_receipts_reversed_total`, `coopledger_remittance_batches{status}` and
`coopledger_audit_events_total` (events appended to the trails).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from app.core.pending import TransactionNotes

log = logging.getLogger("coopledger.metrics")
PREFIX = "coopledger_"


@dataclass(frozen=True, slots=True)
class _Definition:
    name: str
    documentation: str
    labelnames: tuple[str, ...]


_lock = threading.Lock()
_counters: dict[str, _Definition] = {}
_values: dict[tuple[str, tuple[str, ...]], float] = {}
_gauges: dict[str, tuple[_Definition, str]] = {}


def define_counter(name: str, documentation: str, labelnames: Iterable[str] = ()) -> None:
    """Declare a counter (`coopledger_<name>_total`); declaring it again is harmless."""
    with _lock:
        _counters[name] = _Definition(name, documentation, tuple(labelnames))


def define_gauge_query(name: str, documentation: str, labelnames: Iterable[str], sql: str) -> None:
    """A gauge read at scrape time: `sql` returns the label values then the value per row."""
    with _lock:
        _gauges[name] = (_Definition(name, documentation, tuple(labelnames)), sql)


def _key(name: str, labels: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    definition = _counters.get(name)
    if definition is None:
        raise KeyError(f"no counter {name!r}: declare it with define_counter() first")
    if set(labels) != set(definition.labelnames):
        raise ValueError(f"counter {name!r} takes labels {definition.labelnames}, got {labels}")
    return name, tuple(str(labels[n]) for n in definition.labelnames)


def inc(name: str, amount: float = 1, **labels: str) -> None:
    """Add to a counter now (for work not done in a database transaction)."""
    if amount < 0:
        raise ValueError("counters only go up")
    key = _key(name, labels)
    with _lock:
        _values[key] = _values.get(key, 0) + amount


def value(name: str, **labels: str) -> float:
    """A counter's current value in this process (for tests and the CLI)."""
    with _lock:
        return _values.get(_key(name, labels), 0)


_PENDING: TransactionNotes[tuple[tuple[str, tuple[str, ...]], float]] = TransactionNotes(
    "metrics.pending"
)


def count_after_commit(session: Session, name: str, amount: float = 1, **labels: str) -> None:
    """Add to a counter when (and only if) this session's transaction commits."""
    key = _key(name, labels)  # refuse an unknown counter at once, not at commit
    if amount < 0:
        raise ValueError("counters only go up")
    _PENDING.add(session, (key, amount))


@event.listens_for(Session, "after_commit")
def _apply_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its counts wait for the real commit
    pending = _PENDING.take(session)
    if not pending:
        return
    with _lock:
        for key, amount in pending:
            _values[key] = _values.get(key, 0) + amount


class BusinessCollector(Collector):
    """Yields the counters, and the gauges read from the database of `engine()`."""

    def __init__(self, engine: Callable[[], Engine | None]) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        with _lock:
            counters = list(_counters.values())
            values = dict(_values)
            gauges = list(_gauges.values())
        for d in counters:
            family = CounterMetricFamily(PREFIX + d.name, d.documentation, labels=d.labelnames)
            for (name, labels), amount in sorted(values.items()):
                if name == d.name:
                    family.add_metric(list(labels), amount)
            yield family
        engine = self.engine()
        if engine is None or not gauges:
            return
        try:
            conn_cm: Any = engine.connect()
        except Exception:  # the database is down: /readyz says so; /metrics still answers
            log.warning("metrics: database unreachable; gauges skipped")
            return
        with conn_cm as conn:
            for d, sql in gauges:
                try:
                    rows = conn.execute(text(sql)).all()
                except Exception:
                    conn.rollback()
                    log.info("metrics: gauge %s skipped (query failed)", d.name)
                    continue
                gauge = GaugeMetricFamily(PREFIX + d.name, d.documentation, labels=d.labelnames)
                for row in rows:
                    *labels, amount = row
                    gauge.add_metric([str(v) for v in labels], float(amount or 0))
                yield gauge


define_counter("receipts_posted", "Receipts posted (committed)", ["channel"])
define_counter("receipts_reversed", "Receipts reversed (committed)")
define_counter("audit_events", "Audit events appended to the organisations' trails")
define_gauge_query(
    "remittance_batches",
    "Remittance batches by status, all organisations",
    ["status"],
    "SELECT status, count(*) FROM remittance_batch GROUP BY status ORDER BY status",
)
