"""A small cooperative's book for the web tests, made with the features' own services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from app.core.audit import CLI_ACTOR
from app.core.database import unit_of_work

MONTHLY = """
code: monthly-dop
name: Trabajadores informales, mensual
kind: monthly
currency: DOP
versions:
  - effective_from: 2026-01-01
    amount: "300.00"
    due_day: 10
    grace_days: 30
    fee: {percent: "5"}
    split:
      - {fund: PENSION, percent: "80"}
      - {fund: HEALTH, percent: "20"}
"""


@dataclass
class Book:
    members: dict[str, uuid.UUID] = field(default_factory=dict)
    units: dict[str, uuid.UUID] = field(default_factory=dict)


def make_book(session_factory: Any, org_id: uuid.UUID, *, months_from: date | None = None) -> Book:
    """Funds PENSION (pain.001) and HEALTH (csv), the monthly-dop scheme, members M-0001 and
    M-0002 enrolled from September 2026 with their dues generated through today, and a
    minibus A123456 crewed by both."""
    from app.funds.schemas import FundCreate
    from app.funds.service import create_fund
    from app.members.schemas import CrewMember, MemberCreate, UnitCreate
    from app.members.service import create_member
    from app.members.units import create_unit
    from app.schemes.enrolments import create_enrolment
    from app.schemes.generation import generate_dues
    from app.schemes.schemas import EnrolmentCreate
    from app.schemes.service import load_schedule

    book = Book()
    with unit_of_work(session_factory, org_id) as s:
        create_fund(
            s,
            CLI_ACTOR,
            FundCreate(
                code="PENSION",
                name="Fondo de pensiones",
                kind="pension",
                currency="DOP",
                adapter="pain001",
                adapter_config={},
                settlement_account={"iban": "DO28BAGR00000001212453611324", "bic": "BAGRDOSDXXX"},
            ),
        )
        create_fund(
            s,
            CLI_ACTOR,
            FundCreate(
                code="HEALTH",
                name="Seguro de salud",
                kind="health_mutual",
                currency="DOP",
                adapter="csv",
            ),
        )
        load_schedule(s, CLI_ACTOR, MONTHLY, "monthly-dop.yaml")
        for number, name in (("M-0001", "María Pérez"), ("M-0002", "Juan Rodríguez")):
            m = create_member(
                s,
                CLI_ACTOR,
                MemberCreate(
                    member_number=number,
                    full_name=name,
                    joined_on=date(2026, 1, 5),
                    phone="+1 809 555 0101",
                    sector="transport",
                    affiliations={"PENSION": f"SS-{number[-4:]}"},
                ),
            )
            book.members[number] = m.id
            create_enrolment(
                s,
                CLI_ACTOR,
                EnrolmentCreate(
                    member_id=m.id,
                    scheme_code="monthly-dop",
                    starts_on=months_from or date(2026, 9, 1),
                ),
            )
        unit = create_unit(
            s,
            CLI_ACTOR,
            UnitCreate(
                registration="A123456",
                kind="minibus",
                owner_member_id=book.members["M-0001"],
                crew=[CrewMember(member_id=book.members["M-0002"], role="driver")],
            ),
        )
        book.units["A123456"] = unit.id
        generate_dues(s, CLI_ACTOR, datetime.now(UTC).date())
    return book
