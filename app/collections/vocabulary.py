"""The vocabularies of collections: how money came in, who paid, what became of a receipt.

Each is one `Vocabulary` (app.core.vocabulary): the CHECK constraints of `models`, the types of
`schemas` and the pages' labels (app.web.vocabulary) are made from these.
"""

from __future__ import annotations

from app.core.messages import N_
from app.core.vocabulary import Vocabulary


class Channel(Vocabulary):
    """How a receipt's money came in (it decides the account debited when no collector took
    it: the desk, bank or mobile-money clearing account)."""

    cash = "cash", N_("cash")
    mobile_money = "mobile_money", N_("mobile money")
    bank = "bank", N_("bank")


class PayerKind(Vocabulary):
    """Who a receipt is from: a member, or a transport unit (for its covered crew)."""

    member = "member", N_("member")
    unit = "unit", N_("unit")

    @property
    def field(self) -> str:
        """The request field that names a payer of this kind (`member_id`, `unit_id`)."""
        return f"{self.value}_id"


class ReceiptStatus(Vocabulary):
    """A receipt is posted, and may be reversed once."""

    posted = "posted", N_("posted")
    reversed = "reversed", N_("reversed")


class ReportGrouping(Vocabulary):
    """How the collections report groups posted receipts (its rows' `key`)."""

    day = "day", N_("Day")
    collector = "collector", N_("Collector")
    fund = "fund", N_("Fund")
    scheme = "scheme", N_("Scheme")
