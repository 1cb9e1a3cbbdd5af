"""The guard app.collections asks before a receipt reversal undoes contribution shares
(registered in its REVERSAL_GUARDS by app.remittances.hooks).

A share in a live batch (draft or later) may not be undone: money sealed, sent or settled
to a fund cannot be taken back by reversing the receipt (409), and a draft that carries it
must be cancelled first (its lines are then free again), so a draft's totals never go stale.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.collections.models import ContributionShare
from app.core.errors import Conflict
from app.core.messages import N_, Template
from app.funds.models import Fund
from app.remittances.lifecycle import BatchStatus
from app.remittances.models import RemittanceBatch, RemittanceShare

IN_DRAFT_BATCH = Template(
    "receipt.in_draft_batch",
    N_(
        "this receipt's contributions are in draft remittance batch %(reference)s: cancel "
        "that batch first (its lines become owed again), then reverse"
    ),
)
IN_LIVE_BATCH = Template(
    "receipt.in_live_batch",
    N_(
        "this receipt's contributions are in remittance batch %(reference)s, which is "
        "%(status)s: money sealed for a fund cannot be taken back by reversing the receipt"
    ),
)


def refuse_undoing_batched_shares(session: Session, share_ids: list[uuid.UUID]) -> None:
    """Raise Conflict (409) if any of these shares is in a live remittance batch."""
    if not share_ids:
        return
    # Batch creation holds its fund's row lock while it gathers shares: taking the same
    # locks here means a reversal and a batch never both claim a share (PostgreSQL; SQLite
    # already runs one writer at a time).
    for i in range(0, len(share_ids), 500):
        chunk = share_ids[i : i + 500]
        session.execute(
            select(Fund.id)
            .where(
                Fund.id.in_(
                    select(ContributionShare.fund_id).where(ContributionShare.id.in_(chunk))
                )
            )
            .order_by(Fund.id)
            .with_for_update()
        ).all()
        row = session.execute(
            select(RemittanceBatch.number, RemittanceBatch.status)
            .join(
                RemittanceShare,
                (RemittanceShare.organisation_id == RemittanceBatch.organisation_id)
                & (RemittanceShare.batch_id == RemittanceBatch.id),
            )
            .where(RemittanceShare.share_id.in_(chunk), RemittanceShare.released_at.is_(None))
            .order_by(RemittanceBatch.number)
            .limit(1)
        ).first()
        if row is not None:
            number, status = row
            reference = f"RB{number:06d}"
            if status == BatchStatus.draft:
                raise Conflict(IN_DRAFT_BATCH(reference=reference))
            raise Conflict(IN_LIVE_BATCH(reference=reference, status=BatchStatus(status)))
