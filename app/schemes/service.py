"""Schemes, dues generation, harvests and standing (the service layer of app.schemes)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session

from app.core.audit import Actor

Payer = tuple[str, uuid.UUID]
"""("member" | "unit", id): whoever a due is owed by."""

DuesCreatedHook = Callable[[Session, Actor, set[Payer]], None]

DUES_CREATED_HOOKS: list[DuesCreatedHook] = []
"""Called once at the end of dues generation and of harvest recording, in the same
transaction, with the set of payers that got new dues. Collections registers the hook that
applies a payer's prepaid credit to its new dues. Called once per run, never per due."""


def run_dues_created_hooks(session: Session, actor: Actor, payers: set[Payer]) -> None:
    """Tell every registered hook which payers got new dues (nothing to do for none)."""
    if not payers:
        return
    for hook in DUES_CREATED_HOOKS:
        hook(session, actor, payers)
