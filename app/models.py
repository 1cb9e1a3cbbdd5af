"""Import every module that defines models or registers hooks, so metadata (and Alembic)
sees the whole schema and every feature's hooks are in place."""

from __future__ import annotations

import importlib

MODEL_MODULES = [
    "app.core.audit",
    "app.core.idempotency",
    "app.core.throttle",
    "app.identity.models",
    "app.ledger.models",
    "app.funds.models",
    "app.members.models",
    "app.schemes.models",
    "app.collections.models",
    "app.remittances.models",
    "app.payments.models",
    "app.collections.hooks",
    "app.remittances.hooks",
    "app.payments.hooks",
]


# Modules that register the books' invariants (`@invariant`, app/core/verify.py) on import:
# loaded here, at the top floor, so that core imports no feature.
CHECK_MODULES = [
    "app.ledger.checks",
    "app.core.audit_checks",
    "app.collections.checks",
    "app.remittances.checks",
    "app.payments.checks",
]


def load_all_models() -> None:
    for module in [*MODEL_MODULES, *CHECK_MODULES]:
        importlib.import_module(module)
