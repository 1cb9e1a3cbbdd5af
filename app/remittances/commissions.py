"""The fund paying the commissions of an affiliation batch.

Each accepted affiliation books the fund's commission as income owed by the fund (debit
`FUND:{code}:COMMISSION_RECEIVABLE`, credit `FUND:{code}:COMMISSION_INCOME`; see
affiliations.py). When the fund pays, the money arrives in a bank account: debit the bank,
credit the receivable, for the amount that actually arrived. Once per batch, after the fund
has answered for every member. A payment that differs from what was booked is recorded and
flagged, never absorbed: the difference stays in the receivable until a treasurer explains
it with a journal entry (as a remittance's settlement difference stays in transit).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import Actor
from app.core.errors import Conflict
from app.core.ids import uuid7
from app.core.messages import N_, Template
from app.ledger import service as ledger
from app.ledger.models import AccountType
from app.ledger.service import Line
from app.remittances.lifecycle import AffiliationStatus
from app.remittances.lookups import fund_of, get_affiliation_batch
from app.remittances.models import AffiliationBatch, AffiliationCommissionPayment
from app.remittances.settlement import bank_account

NOT_ANSWERED = Template(
    "commission.not_answered",
    N_(
        "affiliation batch %(reference)s is %(status)s: its commissions are paid once the "
        "fund has answered for every member"
    ),
)
NO_COMMISSION = Template(
    "commission.none_booked", N_("no commission was booked for affiliation batch %(reference)s")
)
ALREADY_PAID = Template(
    "commission.already_paid",
    N_("the commissions of affiliation batch %(reference)s were already paid on %(day)s"),
)


def receivable_code(fund_code: str) -> str:
    return f"FUND:{fund_code}:COMMISSION_RECEIVABLE"


def payments_of(
    session: Session, batch_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AffiliationCommissionPayment]:
    """The commission payment of each of these batches that has one."""
    if not batch_ids:
        return {}
    return {
        p.batch_id: p
        for p in session.scalars(
            select(AffiliationCommissionPayment).where(
                AffiliationCommissionPayment.batch_id.in_(list(batch_ids))
            )
        )
    }


def record_commission_payment(
    session: Session,
    actor: Actor,
    batch_id: uuid.UUID,
    *,
    amount: int,
    paid_on: date,
    reference: str | None = None,
    bank_account_id: uuid.UUID | None = None,
) -> tuple[AffiliationBatch, AffiliationCommissionPayment]:
    """Book the fund's payment of a batch's commissions: bank <- commission receivable, for
    what arrived. 409 before the fund has answered for every member, when no commission was
    booked, or when the payment is already recorded."""
    batch = get_affiliation_batch(session, batch_id, lock=True)
    if batch.status != AffiliationStatus.acknowledged:
        raise Conflict(
            NOT_ANSWERED(reference=batch.reference, status=AffiliationStatus(batch.status))
        )
    if batch.commission_total == 0:
        raise Conflict(NO_COMMISSION(reference=batch.reference))
    paid = payments_of(session, [batch.id]).get(batch.id)
    if paid is not None:
        raise Conflict(ALREADY_PAID(reference=batch.reference, day=paid.paid_on))
    fund = fund_of(session, batch)
    to_account = bank_account(session, actor, bank_account_id, fund.currency)
    receivable = ledger.ensure_account(
        session,
        actor,
        code=receivable_code(fund.code),
        name=f"Commission receivable from {fund.name}",
        type=AccountType.asset,
        currency=fund.currency,
        owner=ledger.Owner("fund", fund.code),
    )
    journal_id = ledger.post(
        session,
        actor,
        description=f"Affiliation commission {batch.reference} paid by {fund.code}"
        + (f" ({reference})" if reference else ""),
        effective_on=paid_on,
        lines=[Line.debit(to_account, amount), Line.credit(receivable.id, amount)],
        kind="affiliation.commission_payment",
        owner=ledger.Owner("affiliation_batch", batch.reference),
    )
    payment = AffiliationCommissionPayment(
        organisation_id=batch.organisation_id,
        id=uuid7(),
        batch_id=batch.id,
        amount=amount,
        expected=batch.commission_total,
        paid_on=paid_on,
        reference=reference,
        account_id=to_account,
        journal_id=journal_id,
        created_by=actor.name,
    )
    session.add(payment)
    session.flush()
    audit.record(
        session,
        actor,
        "affiliation.commission_payment",
        "affiliation_batch",
        batch.id,
        {
            "reference": batch.reference,
            "amount": amount,
            "expected": batch.commission_total,
            "difference": payment.difference,
            "paid_on": paid_on.isoformat(),
            "payment_reference": reference,
            "account_id": str(to_account),
            "journal_id": str(journal_id),
        },
    )
    return batch, payment
