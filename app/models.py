"""Import every module that defines models or registers hooks, so metadata (and Alembic)
sees the whole schema and every feature's hooks are in place."""

from __future__ import annotations

import importlib

MODEL_MODULES = [
    "app.core.audit",
    "app.identity.models",
    "app.ledger.models",
    "app.funds.models",
    "app.members.models",
    "app.schemes.models",
    "app.collections.models",
    "app.remittances.models",
    "app.collections.hooks",
]


def load_all_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)
