"""Receipts: posting, oldest-first allocation, reversal (the service layer of app.collections)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session

ReversalGuard = Callable[[Session, list[uuid.UUID]], None]

REVERSAL_GUARDS: list[ReversalGuard] = []
"""Called with the ids of the ContributionShare rows a receipt reversal would undo, before
anything is written, in the reversal's transaction. A guard refuses the reversal by raising a
DomainError (remittances raises Conflict, 409, when a share is already in a sealed or
submitted batch). Guards must not write."""


def run_reversal_guards(session: Session, share_ids: list[uuid.UUID]) -> None:
    """Ask every registered guard whether these shares may be undone (each may raise)."""
    for guard in REVERSAL_GUARDS:
        guard(session, share_ids)
