"""A small book for collections tests: funds, members, units, schemes and dues.

Made through the ORM and app.ledger.service (each fund, member and unit opens its ledger
accounts as the real services do), so these tests do not depend on the members/schemes API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from app.funds.models import Fund
from app.ledger import service as ledger
from app.ledger.models import AccountType
from app.members.models import Enrolment, Member, TransportUnit, UnitCrew
from app.schemes.models import Due, Scheme, SchemeVersion
from app.schemes.service import run_dues_created_hooks

TRANSPORT_RULES: dict[str, Any] = {
    "amount": "50.00",
    "fee": {"percent": "5"},
    "split": [
        {"fund": "PENSION", "percent": "60"},
        {"fund": "HEALTH", "percent": "35"},
        {"fund": "ACCIDENT", "percent": "5"},
    ],
    "grace_days": 30,
}
MONTHLY_RULES: dict[str, Any] = {
    "amount": "300.00",
    "split": [{"fund": "PENSION", "percent": "80"}, {"fund": "HEALTH", "percent": "20"}],
    "grace_days": 30,
}


@dataclass
class Book:
    org_id: uuid.UUID
    currency: str
    funds: dict[str, uuid.UUID] = field(default_factory=dict)  # code -> fund id
    owed: dict[str, uuid.UUID] = field(default_factory=dict)  # code -> owed account id
    schemes: dict[str, tuple[uuid.UUID, uuid.UUID]] = field(default_factory=dict)  # version
    members: dict[str, uuid.UUID] = field(default_factory=dict)  # number -> id
    credit_accounts: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # payer -> acct
    units: dict[str, uuid.UUID] = field(default_factory=dict)  # registration -> id
    enrolments: dict[tuple[str, uuid.UUID], uuid.UUID] = field(default_factory=dict)


def make_fund(session: Session, book: Book, code: str) -> None:
    owed = ledger.open_account(
        session,
        CLI_ACTOR,
        code=f"FUND:{code}:OWED",
        name=f"Owed to {code}",
        type=AccountType.liability,
        currency=book.currency,
    )
    transit = ledger.open_account(
        session,
        CLI_ACTOR,
        code=f"FUND:{code}:TRANSIT",
        name=f"In transit to {code}",
        type=AccountType.liability,
        currency=book.currency,
    )
    fund = Fund(
        code=code,
        name=f"{code} fund",
        kind="other",
        currency=book.currency,
        adapter="csv",
        adapter_config={},
        owed_account_id=owed.id,
        transit_account_id=transit.id,
    )
    session.add(fund)
    session.flush()
    book.funds[code] = fund.id
    book.owed[code] = owed.id


def make_scheme(session: Session, book: Book, code: str, kind: str, rules: dict[str, Any]) -> None:
    scheme = Scheme(code=code, name=code, kind=kind, currency=book.currency)
    session.add(scheme)
    session.flush()
    version = SchemeVersion(
        scheme_id=scheme.id,
        version=1,
        effective_from=date(2026, 1, 1),
        rules=rules,
        created_by="test",
    )
    session.add(version)
    session.flush()
    book.schemes[code] = (scheme.id, version.id)


def make_member(session: Session, book: Book, number: str) -> uuid.UUID:
    account = ledger.open_account(
        session,
        CLI_ACTOR,
        code=f"MEMBER:{number}:CREDIT",
        name=f"Credit of {number}",
        type=AccountType.liability,
        currency=book.currency,
    )
    member = Member(
        member_number=number,
        full_name=f"Member {number}",
        joined_on=date(2026, 1, 1),
        credit_account_id=account.id,
    )
    session.add(member)
    session.flush()
    book.members[number] = member.id
    book.credit_accounts[member.id] = account.id
    return member.id


def make_unit(
    session: Session,
    book: Book,
    registration: str,
    crew: list[tuple[uuid.UUID, str, bool]],
    owner: uuid.UUID | None = None,
) -> uuid.UUID:
    account = ledger.open_account(
        session,
        CLI_ACTOR,
        code=f"UNIT:{registration}:CREDIT",
        name=f"Credit of {registration}",
        type=AccountType.liability,
        currency=book.currency,
    )
    unit = TransportUnit(
        registration=registration,
        kind="minibus",
        owner_member_id=owner,
        credit_account_id=account.id,
    )
    session.add(unit)
    session.flush()
    for member_id, role, covered in crew:
        session.add(UnitCrew(unit_id=unit.id, member_id=member_id, role=role, covered=covered))
    session.flush()
    book.units[registration] = unit.id
    book.credit_accounts[unit.id] = account.id
    return unit.id


def make_due(
    session: Session,
    book: Book,
    scheme: str,
    *,
    member_id: uuid.UUID | None = None,
    unit_id: uuid.UUID | None = None,
    period_start: date,
    period_end: date | None = None,
    amount: int,
    due_on: date | None = None,
) -> uuid.UUID:
    scheme_id, version_id = book.schemes[scheme]
    payer = member_id or unit_id
    assert payer is not None
    enrolment_id = book.enrolments.get((scheme, payer))
    if enrolment_id is None:  # every due comes from an enrolment (or a harvest)
        enrolment = Enrolment(
            member_id=member_id, unit_id=unit_id, scheme_id=scheme_id, starts_on=date(2026, 1, 1)
        )
        session.add(enrolment)
        session.flush()
        enrolment_id = book.enrolments[(scheme, payer)] = enrolment.id
    due = Due(
        enrolment_id=enrolment_id,
        member_id=member_id,
        unit_id=unit_id,
        scheme_id=scheme_id,
        scheme_version_id=version_id,
        period_start=period_start,
        period_end=period_end or period_start,
        due_on=due_on or period_end or period_start,
        currency=book.currency,
        amount=amount,
        paid=0,
    )
    session.add(due)
    session.flush()
    return due.id


def standard_book(session_factory: Any, org: Any) -> Book:
    """Three funds, a daily transport scheme (5% fee) and a monthly one, two members
    (M-001, M-002), a unit BUS-1 crewed by both (covered)."""
    book = Book(org.id, org.currency)
    with unit_of_work(session_factory, org.id) as session:
        for code in ("PENSION", "HEALTH", "ACCIDENT"):
            make_fund(session, book, code)
        make_scheme(session, book, "transport-daily", "daily_per_unit", TRANSPORT_RULES)
        make_scheme(session, book, "monthly", "monthly", MONTHLY_RULES)
        a = make_member(session, book, "M-001")
        b = make_member(session, book, "M-002")
        make_unit(session, book, "BUS-1", [(a, "owner", True), (b, "driver", True)], owner=a)
    return book


def add_dues(
    session_factory: Any,
    book: Book,
    scheme: str,
    payer: tuple[str, uuid.UUID],
    first: date,
    days: int,
    amount: int,
    *,
    run_hooks: bool = True,
) -> list[uuid.UUID]:
    """`days` consecutive daily dues (or one per call for monthly) and the dues-created hooks,
    as dues generation calls them."""
    ids = []
    with unit_of_work(session_factory, book.org_id) as session:
        for i in range(days):
            day = first + timedelta(days=i)
            kw = {"member_id": payer[1]} if payer[0] == "member" else {"unit_id": payer[1]}
            ids.append(make_due(session, book, scheme, period_start=day, amount=amount, **kw))
        if run_hooks:
            run_dues_created_hooks(session, CLI_ACTOR, {payer})
    return ids


def bound(session_factory: Any, org_id: uuid.UUID) -> Session:
    session = session_factory()
    bind_organisation(session, org_id)
    return session
