"""The vocabularies of payments: what became of a notification, what the provider said."""

from __future__ import annotations

from app.core.messages import N_
from app.core.vocabulary import Vocabulary


class NotificationStatus(Vocabulary):
    """Where a payment notification stands. Exactly one of these, always."""

    pending = "pending", N_("pending")  # the provider has not finished it: nothing booked yet
    matched = "matched", N_("matched")  # a receipt was posted for it
    suspense = "suspense", N_("in suspense")  # money held until a treasurer resolves it
    refunded = "refunded", N_("to be refunded")  # a refund is owed to the payer
    refused = "refused", N_("refused")  # nothing was booked (bad signature, failed payment)
    duplicate = "duplicate", N_("conflicting duplicate")  # same id, other amount: flagged


class ProviderStatus(Vocabulary):
    """What the provider says of the transaction."""

    successful = "successful", N_("successful")
    failed = "failed", N_("failed")
    pending = "pending", N_("pending")
    reversed = "reversed", N_("reversed")


RESOLVED = frozenset({NotificationStatus.matched, NotificationStatus.refunded})
