"""The invariants of payments for `coopledger verify`: each one a set-based query."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from app.core.verify import invariant
from app.ledger.models import Posting
from app.payments.models import PaymentChannel, PaymentNotification
from app.payments.vocabulary import NotificationStatus

LIMIT = 20


def _held(status: NotificationStatus, journal: Any) -> Any:
    """Per channel: the sum of its notifications in `status` that the books hold."""
    return (
        select(
            PaymentNotification.organisation_id.label("org"),
            PaymentNotification.channel_id.label("channel_id"),
            func.sum(PaymentNotification.amount).label("held"),
        )
        .where(PaymentNotification.status == status.value, journal.is_not(None))
        .group_by(PaymentNotification.organisation_id, PaymentNotification.channel_id)
        .subquery()
    )


def _balance(account: Any) -> Any:
    return (
        select(func.coalesce(func.sum(Posting.amount), 0))
        .where(
            Posting.organisation_id == PaymentChannel.organisation_id, Posting.account_id == account
        )
        .scalar_subquery()
    )


def _compare(
    session: Session,
    org: uuid.UUID | None,
    status: NotificationStatus,
    account: Any,
    journal: Any,
    what: str,
) -> list[str]:
    held = _held(status, journal)
    owed = -_balance(account)  # a liability: its credit balance
    expected = func.coalesce(held.c.held, 0)
    stmt = (
        select(PaymentChannel.code, owed, expected)
        .outerjoin(
            held,
            and_(
                held.c.org == PaymentChannel.organisation_id, held.c.channel_id == PaymentChannel.id
            ),
        )
        .where(owed != expected)
        .limit(LIMIT)
    )
    if org is not None:
        stmt = stmt.where(PaymentChannel.organisation_id == org)
    return [
        f"channel {code}: {what} account holds {b}, its notifications {e}"
        for code, b, e in session.execute(stmt)
    ]


@invariant("each payment channel's suspense account holds exactly its payments in suspense")
def suspense_matches(session: Session, org: uuid.UUID | None) -> list[str]:
    return _compare(
        session, org, NotificationStatus.suspense, PaymentChannel.suspense_account_id,
        PaymentNotification.journal_id, "suspense",
    )  # fmt: skip


@invariant("each payment channel's refunds account holds exactly its payments to be refunded")
def refunds_match(session: Session, org: uuid.UUID | None) -> list[str]:
    return _compare(
        session, org, NotificationStatus.refunded, PaymentChannel.refund_account_id,
        PaymentNotification.refund_journal_id, "refunds",
    )  # fmt: skip


@invariant("a matched payment notification has its receipt, another none")
def matched_have_receipts(session: Session, org: uuid.UUID | None) -> list[str]:
    stmt = (
        select(PaymentNotification.id, PaymentNotification.status)
        .where(
            (PaymentNotification.status == NotificationStatus.matched.value)
            != PaymentNotification.receipt_id.is_not(None)
        )
        .limit(LIMIT)
    )
    if org is not None:
        stmt = stmt.where(PaymentNotification.organisation_id == org)
    return [f"notification {i}: {s} with receipt mismatch" for i, s in session.execute(stmt)]


@invariant("a matched payment's receipt stands (a reversed one puts the payment back in suspense)")
def matched_receipts_stand(session: Session, org: uuid.UUID | None) -> list[str]:
    from app.collections.models import Receipt
    from app.collections.vocabulary import ReceiptStatus

    stmt = (
        select(PaymentNotification.transaction_id, Receipt.receipt_number)
        .join(
            Receipt,
            and_(
                Receipt.organisation_id == PaymentNotification.organisation_id,
                Receipt.id == PaymentNotification.receipt_id,
            ),
        )
        .where(
            PaymentNotification.status == NotificationStatus.matched.value,
            Receipt.status == ReceiptStatus.reversed.value,
        )
        .limit(LIMIT)
    )
    if org is not None:
        stmt = stmt.where(PaymentNotification.organisation_id == org)
    return [
        f"payment {t}: matched, but its receipt {n} is reversed" for t, n in session.execute(stmt)
    ]
