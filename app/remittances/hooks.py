"""What remittances plugs into other packages, registered when app.models loads everything
(the API, the CLI, migrations and the tests all load it), not where a router happens to be
imported.

- collections: a receipt reversal may not undo contribution shares that are in a live
  remittance batch (`guards.refuse_undoing_batched_shares`, one of its REVERSAL_GUARDS).
"""

from __future__ import annotations

from app.collections import service as collections
from app.remittances.guards import refuse_undoing_batched_shares


def register() -> None:
    """Idempotent: importing this module twice registers the guard once."""
    if refuse_undoing_batched_shares not in collections.REVERSAL_GUARDS:
        collections.REVERSAL_GUARDS.append(refuse_undoing_batched_shares)


register()
