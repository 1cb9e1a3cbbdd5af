"""The accounts collections moves money through, opened by the service itself.

Organisation-wide accounts (desk cash, clearing, fee income, shortfall, surplus) are opened
on first use. Two concurrent first receipts may both find the account missing: the second
insert waits on the unique (organisation, code) index, fails, and is undone by its savepoint,
after which the account the first one opened is read. Nothing else is lost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.collections import lookups
from app.collections.vocabulary import Channel
from app.core.audit import Actor
from app.core.database import bound_organisation
from app.core.errors import Conflict
from app.ledger import ownership
from app.ledger import service as ledger
from app.ledger.models import Account, AccountType

COLLECTIONS = ledger.Owner("collections")
ownership.reserve("FEE:", "collections")
ownership.reserve("COLLECTOR:", "collections (collectors' cash, hand-over differences)")


@dataclass(frozen=True, slots=True)
class SharedAccount:
    code: str
    name: str
    type: AccountType
    # Desk cash and the clearing accounts are the organisation's treasury: a treasurer moves
    # them to the bank and reconciles them with manual entries, and no receipt row depends on
    # their balances. Fee income and the hand-over differences are the service's own figures.
    owner: ledger.Owner = ledger.MANUAL_OWNER


DESK_CASH = SharedAccount("CASH:DESK", "Cash taken at the desk", AccountType.asset)
BANK_CLEARING = SharedAccount(
    "BANK:CLEARING", "Bank receipts not yet reconciled", AccountType.asset
)
MOBILE_MONEY_CLEARING = SharedAccount(
    "MOBILE_MONEY:CLEARING", "Mobile-money receipts not yet reconciled", AccountType.asset
)
FEE_INCOME = SharedAccount(
    "FEE:INCOME", "Intermediary's fee on contributions", AccountType.income, COLLECTIONS
)
SHORTFALL = SharedAccount(
    "COLLECTOR:SHORTFALL",
    "Collector cash counted short at hand-over",
    AccountType.expense,
    COLLECTIONS,
)
SURPLUS = SharedAccount(
    "COLLECTOR:SURPLUS", "Collector cash counted over at hand-over", AccountType.income, COLLECTIONS
)

CLEARING_BY_CHANNEL = {
    Channel.cash: DESK_CASH,
    Channel.bank: BANK_CLEARING,
    Channel.mobile_money: MOBILE_MONEY_CLEARING,
}


def collector_cash_code(collector_id: uuid.UUID) -> str:
    return f"COLLECTOR:{collector_id}:CASH"


def shared_account(session: Session, actor: Actor, spec: SharedAccount, currency: str) -> uuid.UUID:
    """The id of an organisation-wide account, opened once even by concurrent first users."""
    org = bound_organisation(session)
    known = lookups.ACCOUNTS.get((org, spec.code))
    if known is not None:
        return uuid.UUID(str(known))
    found = session.scalar(select(Account.id).where(Account.code == spec.code))
    if found is not None:
        lookups.ACCOUNTS.stage(session, (org, spec.code), found)
        return found
    try:
        with session.begin_nested():
            account = ledger.open_account(
                session,
                actor,
                code=spec.code,
                name=spec.name,
                type=spec.type,
                currency=currency,
                owner=spec.owner,
            )
            return account.id
    except (IntegrityError, Conflict):
        # Another transaction opened it first and has committed: use that one.
        found = session.scalar(
            select(Account.id)
            .where(Account.code == spec.code)
            .execution_options(populate_existing=True)
        )
        if found is None:  # pragma: no cover - the unique index said it exists
            raise
        return found
