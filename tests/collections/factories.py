"""A small book for collections tests: funds, members, units, schemes and dues.

Funds, members, units, schemes and enrolments are made through their packages' services, as
the API makes them. Dues are inserted directly (each with its enrolment) so that a test
controls exactly which dues exist and what they owe; the dues-created hooks are then called
as dues generation calls them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.audit import CLI_ACTOR
from app.core.database import bind_organisation, unit_of_work
from app.core.money import exponent
from app.schemes.models import Due, SchemeVersion
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
MONTHLY_FEE_RULES: dict[str, Any] = {
    "amount": "250.00",
    "fee": {"percent": "2.5"},
    "split": [
        {"fund": "PENSION", "percent": "33.3"},
        {"fund": "HEALTH", "percent": "33.3"},
        {"fund": "ACCIDENT", "percent": "33.4"},
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
    """A fund through the funds service (which opens its owed and in-transit accounts)."""
    from app.funds.schemas import FundCreate
    from app.funds.service import create_fund

    fund = create_fund(
        session,
        CLI_ACTOR,
        FundCreate(
            code=code, name=f"{code} fund", kind="other", currency=book.currency, adapter="csv"
        ),
    )
    book.funds[code] = fund.id
    book.owed[code] = fund.owed_account_id


def _yaml(code: str, kind: str, rules: dict[str, Any], currency: str) -> str:
    fee = f'    fee: {{percent: "{rules["fee"]["percent"]}"}}\n' if rules.get("fee") else ""
    split = ", ".join(f'{{fund: {s["fund"]}, percent: "{s["percent"]}"}}' for s in rules["split"])
    timing = "    due_day: 10\n" if kind == "monthly" else "    due_after_days: 0\n"
    amount = rules["amount"] if exponent(currency) else rules["amount"].split(".")[0]
    return (
        f"code: {code}\nname: {code}\nkind: {kind}\ncurrency: {currency}\nversions:\n"
        f'  - effective_from: 2026-01-01\n    amount: "{amount}"\n{timing}'
        f"    grace_days: {rules['grace_days']}\n{fee}    split: [{split}]\n"
    )


def make_scheme(session: Session, book: Book, code: str, kind: str, rules: dict[str, Any]) -> None:
    """A scheme loaded from its schedule file text through the schemes service."""
    from app.schemes.service import load_schedule

    loaded = load_schedule(session, CLI_ACTOR, _yaml(code, kind, rules, book.currency), code)
    version = session.scalar(
        select(SchemeVersion.id).where(SchemeVersion.scheme_id == loaded.scheme.id)
    )
    assert version is not None
    book.schemes[code] = (loaded.scheme.id, version)


def make_member(session: Session, book: Book, number: str) -> uuid.UUID:
    """A member through the members service (which opens its prepaid-credit account)."""
    from app.members.schemas import MemberCreate
    from app.members.service import create_member

    member = create_member(
        session,
        CLI_ACTOR,
        MemberCreate(
            member_number=number, full_name=f"Member {number}", joined_on=date(2026, 1, 1)
        ),
    )
    book.members[number] = member.id
    book.credit_accounts[member.id] = member.credit_account_id
    return member.id


def make_unit(
    session: Session,
    book: Book,
    registration: str,
    crew: list[tuple[uuid.UUID, str, bool]],
    owner: uuid.UUID | None = None,
) -> uuid.UUID:
    """A transport unit and its crew through the members service."""
    from app.members.schemas import CrewMember, UnitCreate
    from app.members.units import create_unit

    unit = create_unit(
        session,
        CLI_ACTOR,
        UnitCreate(
            registration=registration,
            kind="minibus",
            owner_member_id=owner,
            crew=[CrewMember(member_id=m, role=role, covered=c) for m, role, c in crew],  # type: ignore[arg-type]
        ),
    )
    book.units[registration] = unit.id
    book.credit_accounts[unit.id] = unit.credit_account_id
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
        from app.schemes.enrolments import create_enrolment
        from app.schemes.schemas import EnrolmentCreate

        enrolment = create_enrolment(
            session,
            CLI_ACTOR,
            EnrolmentCreate(
                member_id=member_id, unit_id=unit_id, scheme_code=scheme, starts_on=date(2026, 1, 1)
            ),
        )
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
        make_scheme(session, book, "monthly-fee", "monthly", MONTHLY_FEE_RULES)
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
