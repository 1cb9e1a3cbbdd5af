"""`coopledger verify`: invariants of the books, each a set-based query over the database.

Features register their checks with `@invariant("name")` (app/models.py imports their
modules: core imports no feature); `run()` runs every one and returns the breaches found.
A clean book returns an empty list.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.core.database import bound_organisation


@dataclass(frozen=True, slots=True)
class Breach:
    invariant: str
    detail: str


Check = Callable[[Session, uuid.UUID | None], list[str]]
_CHECKS: dict[str, Check] = {}


def invariant(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        _CHECKS[name] = fn
        return fn

    return register


def invariant_names() -> list[str]:
    """The registered invariants. Features register them on import; `load_all_models()`
    (app/models.py, run by the app, the CLI and the tests) imports them all."""
    if not _CHECKS:
        raise RuntimeError("no invariants registered: call app.models.load_all_models() first")
    return list(_CHECKS)


def run(session: Session, organisation_id: uuid.UUID | None = None) -> list[Breach]:
    """Every registered invariant, over one organisation or all of them.

    A session bound to an organisation checks that organisation only: its ORM queries are
    scoped already, and a check must not compare them with other organisations' rows.
    """
    if organisation_id is None:
        organisation_id = bound_organisation(session)
    breaches: list[Breach] = []
    for name in invariant_names():
        for detail in _CHECKS[name](session, organisation_id):
            breaches.append(Breach(name, detail))
    return breaches
