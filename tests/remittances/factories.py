"""Test data for remittances: funds and members through their own services, and owed
contributions (a due, an allocation from prepaid credit, the fund's share) written with the
balanced ledger entry that credits the fund's owed account, as collections would.

The end-to-end tests (test_done_when.py) go through the real API instead: receipts and all.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.collections.models import Allocation, ContributionShare
from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from app.core.ids import uuid7
from app.funds.models import Fund
from app.funds.schemas import FundCreate
from app.funds.service import create_fund
from app.ledger import service as ledger
from app.ledger.models import AccountType
from app.ledger.service import Line
from app.members.models import Member
from app.members.schemas import MemberCreate
from app.members.service import create_member
from app.schemes.models import Due, Enrolment, Scheme, SchemeVersion


def make_fund(
    session: Session,
    code: str,
    *,
    currency: str = "DOP",
    adapter: str = "csv",
    config: dict[str, Any] | None = None,
    custody: bool = False,
    settlement_account: Any = None,
) -> Fund:
    return create_fund(
        session,
        CLI_ACTOR,
        FundCreate(
            code=code,
            name=f"Fund {code}",
            kind="health_mutual" if custody else "social_security",
            currency=currency,
            adapter=adapter,
            adapter_config=config or {},
            settlement_account=settlement_account,
            custody=custody,
        ),
    )


def make_member(
    session: Session,
    number: str,
    *,
    affiliations: dict[str, str] | None = None,
    name: str | None = None,
) -> Member:
    return create_member(
        session,
        CLI_ACTOR,
        MemberCreate(
            member_number=number,
            full_name=name or f"Member {number}",
            joined_on=date(2026, 1, 1),
            affiliations=affiliations or {},
        ),
    )


def _scheme(session: Session, currency: str) -> tuple[Scheme, SchemeVersion]:
    scheme = session.scalar(select(Scheme).where(Scheme.code == "test-monthly"))
    if scheme is None:
        scheme = Scheme(code="test-monthly", name="Test monthly", kind="monthly", currency=currency)
        session.add(scheme)
        session.flush()
        version = SchemeVersion(
            scheme_id=scheme.id,
            version=1,
            effective_from=date(2026, 1, 1),
            rules={},
            created_by="test",
        )
        session.add(version)
        session.flush()
        return scheme, version
    version = session.scalar(select(SchemeVersion).where(SchemeVersion.scheme_id == scheme.id))
    assert version is not None
    return scheme, version


def owe(
    session: Session,
    member: Member,
    fund: Fund,
    amount: int,
    period_start: date,
    period_end: date,
) -> ContributionShare:
    """A contribution owed to `fund` for `member`: due, allocation, share, and the entry that
    moved the money from the member's prepaid credit to the fund's owed account."""
    scheme, version = _scheme(session, fund.currency)
    enrolment = Enrolment(member_id=member.id, scheme_id=scheme.id, starts_on=period_start)
    session.add(enrolment)
    session.flush()
    due = Due(
        enrolment_id=enrolment.id,
        member_id=member.id,
        scheme_id=scheme.id,
        scheme_version_id=version.id,
        period_start=period_start,
        period_end=period_end,
        due_on=period_end,
        currency=fund.currency,
        amount=amount,
        paid=amount,
    )
    session.add(due)
    session.flush()
    journal_id = ledger.post(
        session,
        CLI_ACTOR,
        description=f"Contribution of {member.member_number} to {fund.code}",
        effective_on=period_end,
        lines=[
            Line.debit(member.credit_account_id, amount),
            Line.credit(fund.owed_account_id, amount),
        ],
        kind="test.contribution",
    )
    allocation = Allocation(
        due_id=due.id, receipt_id=None, source="credit", amount=amount, journal_id=journal_id
    )
    session.add(allocation)
    session.flush()
    share = ContributionShare(
        allocation_id=allocation.id,
        due_id=due.id,
        fund_id=fund.id,
        member_id=member.id,
        period_start=period_start,
        period_end=period_end,
        amount=amount,
    )
    session.add(share)
    session.flush()
    return share


def owe_daily(
    session: Session, member: Member, fund: Fund, first_day: date, days: int, amount: int
) -> int:
    """`days` contributions of `amount` owed to `fund` for `member`, one per daily period
    from `first_day` (so `days` remittance lines), written set-based with one balanced entry;
    returns the total."""
    from datetime import timedelta

    from sqlalchemy import insert

    scheme, version = _scheme(session, fund.currency)
    enrolment = Enrolment(member_id=member.id, scheme_id=scheme.id, starts_on=first_day)
    session.add(enrolment)
    session.flush()
    total = amount * days
    journal_id = ledger.post(
        session,
        CLI_ACTOR,
        description=f"{days} daily contributions of {member.member_number} to {fund.code}",
        effective_on=first_day + timedelta(days=days - 1),
        lines=[
            Line.debit(member.credit_account_id, total),
            Line.credit(fund.owed_account_id, total),
        ],
        kind="test.contribution",
    )
    org = fund.organisation_id
    rows = [(uuid7(), uuid7(), first_day + timedelta(days=i)) for i in range(days)]
    common = {"organisation_id": org, "member_id": member.id, "amount": amount}
    session.execute(
        insert(Due),
        [
            {
                **common,
                "id": due_id,
                "enrolment_id": enrolment.id,
                "scheme_id": scheme.id,
                "scheme_version_id": version.id,
                "period_start": day,
                "period_end": day,
                "due_on": day,
                "currency": fund.currency,
                "paid": amount,
            }
            for due_id, _, day in rows
        ],
    )
    common.pop("member_id")
    session.execute(
        insert(Allocation),
        [
            {
                **common,
                "id": alloc_id,
                "due_id": due_id,
                "source": "credit",
                "journal_id": journal_id,
            }
            for due_id, alloc_id, _ in rows
        ],
    )
    session.execute(
        insert(ContributionShare),
        [
            {
                **common,
                "id": uuid7(),
                "allocation_id": alloc_id,
                "due_id": due_id,
                "fund_id": fund.id,
                "member_id": member.id,
                "period_start": day,
                "period_end": day,
            }
            for due_id, alloc_id, day in rows
        ],
    )
    return total


def undo(
    session: Session, share: ContributionShare, fund: Fund, member: Member
) -> ContributionShare:
    """Undo a share as a receipt reversal would: a negative share and the mirror entry."""
    journal_id = ledger.post(
        session,
        CLI_ACTOR,
        description="Undo",
        effective_on=share.period_end,
        lines=[
            Line.debit(fund.owed_account_id, share.amount),
            Line.credit(member.credit_account_id, share.amount),
        ],
        kind="test.contribution",
    )
    allocation = session.scalar(select(Allocation).where(Allocation.id == share.allocation_id))
    assert allocation is not None
    undo_alloc = Allocation(
        due_id=allocation.due_id,
        receipt_id=None,
        source="credit",
        amount=-allocation.amount,
        journal_id=journal_id,
        reverses_id=allocation.id,
    )
    session.add(undo_alloc)
    session.flush()
    negative = ContributionShare(
        allocation_id=undo_alloc.id,
        due_id=share.due_id,
        fund_id=share.fund_id,
        member_id=share.member_id,
        period_start=share.period_start,
        period_end=share.period_end,
        amount=-share.amount,
        reverses_id=share.id,
    )
    session.add(negative)
    session.flush()
    return negative


class Books:
    """Set-up helper bound to one organisation: `with books() as s:` is a unit of work."""

    def __init__(self, session_factory: Any, organisation_id: uuid.UUID) -> None:
        self.factory = session_factory
        self.org = organisation_id

    def __call__(self) -> Any:
        return unit_of_work(self.factory, self.org)


def bank_account(session: Session, code: str = "BANK:MAIN", currency: str = "DOP") -> uuid.UUID:
    return ledger.ensure_account(
        session, CLI_ACTOR, code=code, name=code, type=AccountType.asset, currency=currency
    ).id


__all__ = [
    "Books",
    "bank_account",
    "bind_organisation",
    "make_fund",
    "make_member",
    "owe",
    "owe_daily",
    "undo",
    "uuid7",
]
