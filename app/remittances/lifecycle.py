"""The statuses of a remittance batch, its lines and an affiliation batch, and the one rule
that moves a batch from one status to another.

Each kind of batch has a transition table: for each status it may move to, the statuses it
may move from. `transition(batch, to)` refuses (409, one coded message per kind of batch) a
move its table does not allow, else sets the status and its time (`sealed_at`, ...). A step
that works before it moves the batch (posts an entry, calls the fund) checks first with
`require(batch, to)`, then moves it with `transition` once the work is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from app.core.database import utcnow
from app.core.errors import Conflict
from app.core.messages import N_, OneOf, Template
from app.core.vocabulary import Vocabulary


class BatchStatus(Vocabulary):
    """Where a remittance batch is in its life."""

    draft = "draft", N_("draft")
    sealed = "sealed", N_("sealed")
    submitted = "submitted", N_("submitted")
    acknowledged = "acknowledged", N_("acknowledged")
    settled = "settled", N_("settled")
    cancelled = "cancelled", N_("cancelled")


class LineStatus(Vocabulary):
    """The fund's decision on a line of a remittance batch or an affiliation batch."""

    pending = "pending", N_("pending")
    accepted = "accepted", N_("accepted")
    rejected = "rejected", N_("rejected")


class AffiliationStatus(Vocabulary):
    """Where an affiliation batch is in its life."""

    open = "open", N_("open")
    submitted = "submitted", N_("submitted")
    acknowledged = "acknowledged", N_("acknowledged")


BATCH_STATUS_REFUSED = Template(
    "batch.wrong_status",
    N_("batch %(reference)s is %(status)s: only a batch that is %(allowed)s can be %(action)s"),
)
AFFILIATION_STATUS_REFUSED = Template(
    "affiliation_batch.wrong_status",
    N_("affiliation batch %(reference)s is %(status)s: only an open one is submitted"),
)


@dataclass(frozen=True)
class Lifecycle:
    """A kind of batch's statuses and the moves between them."""

    statuses: type[Vocabulary]
    moves: Mapping[Vocabulary, tuple[Vocabulary, ...]]
    """For each status a batch may move to (or a step that keeps it, such as answering an
    acknowledged batch again), the statuses it may come from."""
    refusal: Template

    def sources(self, to: Vocabulary) -> tuple[Vocabulary, ...]:
        return self.moves.get(to, ())

    def allows(self, status: str, to: Vocabulary) -> bool:
        return status in self.sources(to)

    def steps(self, status: str) -> frozenset[str]:
        """The statuses a batch in `status` may move to (what its page offers)."""
        return frozenset(to.value for to in self.moves if self.allows(status, to))

    def refused(self, batch: Batch, to: Vocabulary, action: Any = None) -> Conflict:
        sources = self.sources(to)
        allowed: Any = sources[0] if len(sources) == 1 else OneOf(sources)
        params = {
            "reference": batch.reference,
            "status": self.statuses(batch.status),
            "allowed": allowed,
            "action": to if action is None else action,
        }
        return Conflict(self.refusal(**{k: params[k] for k in self.refusal.names}))


B = BatchStatus
REMITTANCE = Lifecycle(
    BatchStatus,
    {
        B.sealed: (B.draft,),
        B.cancelled: (B.draft,),
        B.submitted: (B.sealed,),
        # a fund answers a submitted batch, and may send its answer again once it is
        # acknowledged (a line decided once; the same decision again changes nothing)
        B.acknowledged: (B.submitted, B.acknowledged),
        B.settled: (B.acknowledged,),
    },
    BATCH_STATUS_REFUSED,
)
A = AffiliationStatus
AFFILIATION = Lifecycle(
    AffiliationStatus,
    {
        A.submitted: (A.open,),
        # a fund may answer from the file before the batch is submitted through its adapter
        A.acknowledged: (A.open, A.submitted, A.acknowledged),
    },
    AFFILIATION_STATUS_REFUSED,
)


class Batch(Protocol):
    lifecycle: ClassVar[Lifecycle]
    status: Any

    @property
    def reference(self) -> str: ...


def require(batch: Batch, to: Vocabulary, action: Any = None) -> None:
    """Refuse (409) unless the batch's table lets it move to `to` (or take that step again)."""
    if not batch.lifecycle.allows(batch.status, to):
        raise batch.lifecycle.refused(batch, to, action)


def transition(
    batch: Batch, to: Vocabulary, action: Any = None, *, at: datetime | None = None
) -> None:
    """Move the batch to `to`, stamping `<to>_at`, or refuse (409) a move its table does not
    allow. A step that keeps the status (a repeated answer) changes nothing."""
    require(batch, to, action)
    if batch.status == to:
        return
    batch.status = to.value
    setattr(batch, f"{to.value}_at", at or utcnow())


__all__ = [
    "AFFILIATION",
    "REMITTANCE",
    "AffiliationStatus",
    "BatchStatus",
    "Lifecycle",
    "LineStatus",
    "require",
    "transition",
]
