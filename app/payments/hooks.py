"""What payments plugs into other packages, registered when app.models loads everything.

- collections: a receipt posted for a payment and then reversed by a treasurer (it went to the
  wrong payer, say) puts the payment back in suspense, to be matched again or refunded
  (`service.on_receipt_reversed`, one of its RECEIPT_REVERSED_HOOKS).
"""

from __future__ import annotations

from app.collections import service as collections
from app.payments.service import on_receipt_reversed


def register() -> None:
    """Idempotent: importing this module twice registers the hook once."""
    if on_receipt_reversed not in collections.RECEIPT_REVERSED_HOOKS:
        collections.RECEIPT_REVERSED_HOOKS.append(on_receipt_reversed)


register()
