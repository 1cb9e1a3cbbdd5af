"""Demo data: the transport union's funds, scheme, members, units with crews, enrolments, and
the dues generated through today. Runs before the collections demo step, which collects on
these dues."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from app.core import clock
from app.core.audit import CLI_ACTOR
from app.funds.schemas import FundCreate
from app.funds.service import create_fund
from app.identity.models import Organisation
from app.members.schemas import CrewMember, MemberCreate, UnitCreate
from app.members.service import create_member
from app.members.units import create_unit
from app.schemes.enrolments import create_enrolment
from app.schemes.generation import generate_dues
from app.schemes.schemas import EnrolmentCreate
from app.schemes.service import load_schedule

SCHEDULE = Path(__file__).resolve().parents[2] / "schedules" / "transport-daily.yaml"

FUNDS = [
    ("PENSION", "Fondo de pensiones", "pension"),
    ("HEALTH", "Seguro familiar de salud", "health_mutual"),
    ("ACCIDENT", "Seguro de riesgos laborales", "accident"),
]
MEMBERS = [
    ("AM-0001", "Juan Pérez Almonte", "001-0123456-7", "+1 809 555 0101"),
    ("AM-0002", "Rafael Santos Mejía", "001-0234567-8", "+1 809 555 0102"),
    ("AM-0003", "Carmen Rosario Díaz", "402-0345678-9", "+1 829 555 0103"),
    ("AM-0004", "Luis Manuel Ortiz", "001-0456789-0", "+1 809 555 0104"),
    ("AM-0005", "Ana Julia Castillo", "402-0567890-1", "+1 849 555 0105"),
    ("AM-0006", "Pedro Antonio Reyes", "001-0678901-2", "+1 809 555 0106"),
    ("AM-0007", "Yolanda Marte Cruz", "402-0789012-3", "+1 829 555 0107"),
]
# registration, kind, owner, [(crew member, role, covered)]
UNITS = [
    (
        "A123456",
        "minibus",
        "AM-0001",
        [("AM-0002", "driver", True), ("AM-0003", "conductor", True)],
    ),
    (
        "A234567",
        "minibus",
        "AM-0004",
        [("AM-0005", "driver", True), ("AM-0006", "conductor", False)],
    ),
    ("K345678", "motoconcho", "AM-0007", []),
]


def transport_members_and_dues(session: Session, org: Organisation) -> None:
    """Funds PENSION, HEALTH and ACCIDENT, the transport-daily scheme, seven members, three
    units with their crews enrolled six weeks ago, and their dues through today."""
    for code, name, kind in FUNDS:
        create_fund(
            session,
            CLI_ACTOR,
            FundCreate(code=code, name=name, kind=kind, currency=org.currency, adapter="csv"),
        )
    load_schedule(session, CLI_ACTOR, SCHEDULE.read_text(encoding="utf-8"), str(SCHEDULE.name))
    on = clock.today(org.time_zone)  # the organisation's day
    joined = date(on.year, 1, 1)
    ids = {}
    for number, name, national_id, phone in MEMBERS:
        member = create_member(
            session,
            CLI_ACTOR,
            MemberCreate(
                member_number=number,
                full_name=name,
                national_id=national_id,
                phone=phone,
                sector="transporte",
                joined_on=min(joined, on),
                affiliations={"PENSION": f"SS-{number[-4:]}"} if number < "AM-0005" else {},
            ),
        )
        ids[number] = member.id
    starts = max(
        on - timedelta(days=42), date(on.year, 1, 1) if on.year > 2026 else date(2026, 1, 1)
    )
    for registration, kind, owner, crew in UNITS:
        unit = create_unit(
            session,
            CLI_ACTOR,
            UnitCreate(
                registration=registration,
                kind=kind,
                owner_member_id=ids[owner],
                crew=[CrewMember(member_id=ids[m], role=role, covered=c) for m, role, c in crew],
            ),
        )
        if starts <= on:
            create_enrolment(
                session,
                CLI_ACTOR,
                EnrolmentCreate(unit_id=unit.id, scheme_code="transport-daily", starts_on=starts),
            )
    generate_dues(session, CLI_ACTOR, on)
