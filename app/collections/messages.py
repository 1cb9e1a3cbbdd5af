"""What several modules of collections say (each message said by one module lives beside its
rule, in that module)."""

from __future__ import annotations

from app.core.messages import N_, Template
from app.members.messages import NO_SUCH_MEMBER

NO_SUCH_UNIT = Template("payer.no_such_unit", N_("no such unit in this organisation"))
NO_SUCH_COLLECTOR = Template(
    "collector.not_in_organisation", N_("no such collector in this organisation")
)
NO_RECEIPT = Template("receipt.not_found", N_("no receipt %(id)s"))
NO_HANDOVER = Template("handover.not_found", N_("no hand-over %(id)s"))
NOT_BOOK_CURRENCY = Template("receipt.not_book_currency", N_("receipts are taken in %(currency)s"))

NO_SUCH_PAYER = {"member": NO_SUCH_MEMBER, "unit": NO_SUCH_UNIT}
"""By payer kind (a `PayerKind`, or its value)."""
