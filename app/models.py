"""Import every model module, so that metadata (and Alembic) sees the whole schema."""

from __future__ import annotations


def load_all_models() -> None:
    import app.core.audit
    import app.identity.models
    import app.ledger.models  # noqa: F401
