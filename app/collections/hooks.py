"""What collections plugs into other packages, registered when app.models loads everything.

- identity: every user or API key created with role collector becomes a collector, with a
  cash account (`cash.on_principal_created`);
- schemes: new dues take their payers' prepaid credit (`credit.apply_credit`), in the
  transaction that created them.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.collections import cash, credit
from app.core.audit import Actor
from app.identity import service as identity
from app.schemes import service as schemes
from app.schemes.service import Payer


def apply_credit_to_new_dues(session: Session, actor: Actor, payers: set[Payer]) -> None:
    """schemes' DUES_CREATED_HOOKS: the payers that got new dues spend their prepaid credit."""
    credit.apply_credit(session, actor, payers)


def register() -> None:
    """Idempotent: importing this module twice registers each hook once."""
    if cash.on_principal_created not in identity._on_principal_created:
        identity.on_principal_created(cash.on_principal_created)
    if apply_credit_to_new_dues not in schemes.DUES_CREATED_HOOKS:
        schemes.DUES_CREATED_HOOKS.append(apply_credit_to_new_dues)


register()
