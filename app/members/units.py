"""Transport units and their crews (owner, drivers, conductors, who are members).

A unit's contributions are paid on behalf of its covered crew. Creating a unit opens its
prepaid-credit account (`UNIT:{registration}:CREDIT`, a liability).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import Actor
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.messages import MUST_NOT_BE_NULL, N_, FieldError, Template
from app.funds.service import organisation_currency
from app.ledger import ownership
from app.ledger import service as ledger
from app.ledger.models import AccountType
from app.members.messages import NO_SUCH_MEMBER
from app.members.models import CrewRole, Member, TransportUnit, UnitCrew
from app.members.schemas import CrewMember, UnitCreate, UnitRead, UnitUpdate

ownership.reserve("UNIT:", "the transport units")

REGISTRATION_TAKEN = Template(
    "unit.registration_taken", N_("a unit with registration %(registration)s exists already")
)
UNIT_NOT_FOUND = Template("unit.not_found", N_("no transport unit %(id)s"))
TWO_OWNERS = Template("unit.two_owners", N_("a unit has one owner"))
LISTED_TWICE = Template("unit.member_listed_twice", N_("this member is listed twice"))
OWNER_DIFFERS = Template(
    "unit.owner_differs", N_("differs from the crew member whose role is owner")
)
OWNER_IN_OTHER_ROLE = Template(
    "unit.owner_in_other_role", N_("the owner is listed in the crew with another role")
)
NO_MEMBER_NUMBERED = Template("unit.no_member_numbered", N_("No member with number %(numbers)s."))
NUMBER_LISTED_TWICE = Template("unit.number_listed_twice", N_("%(number)s is listed twice."))

CREW_FIELDS = {
    CrewRole.owner: "owner",
    CrewRole.driver: "drivers",
    CrewRole.conductor: "conductors",
}
"""The field that names each role's members by member number (`crew_by_numbers`)."""


def crew_by_numbers(
    session: Session,
    numbers: Mapping[CrewRole, Sequence[str]],
    covered: Mapping[uuid.UUID, bool] | None = None,
) -> tuple[uuid.UUID | None, list[CrewMember]]:
    """The owner and the crew (owner included) named by member numbers, {role: numbers}.

    422 naming each role's field (`CREW_FIELDS`: owner, drivers, conductors) for numbers no
    member has, a second owner, or a number listed twice. A member keeps `covered[member_id]`
    (covered by default)."""
    wanted = [n for role in CrewRole for n in numbers.get(role, ())]
    found = (
        {
            m.member_number: m.id
            for m in session.scalars(select(Member).where(Member.member_number.in_(wanted)))
        }
        if wanted
        else {}
    )
    errors: dict[str, FieldError] = {}
    if len(numbers.get(CrewRole.owner, ())) > 1:
        errors["owner"] = FieldError("owner", TWO_OWNERS())
    for role in CrewRole:
        unknown = [n for n in numbers.get(role, ()) if n not in found]
        if unknown and CREW_FIELDS[role] not in errors:
            errors[CREW_FIELDS[role]] = FieldError(
                CREW_FIELDS[role], NO_MEMBER_NUMBERED(numbers=unknown)
            )
    listed: set[str] = set()
    for role in CrewRole:
        for n in numbers.get(role, ()):
            if n in listed and CREW_FIELDS[role] not in errors:
                errors[CREW_FIELDS[role]] = FieldError(
                    CREW_FIELDS[role], NUMBER_LISTED_TWICE(number=n)
                )
            listed.add(n)
    if errors:
        raise ValidationFailed.fields(list(errors.values()))
    crew = [
        CrewMember(member_id=found[n], role=role, covered=(covered or {}).get(found[n], True))
        for role in CrewRole
        for n in numbers.get(role, ())
    ]
    owner = next((c.member_id for c in crew if c.role == CrewRole.owner), None)
    return owner, crew


def credit_account_code(registration: str) -> str:
    return f"UNIT:{registration}:CREDIT"


def _checked_crew(
    session: Session, crew: list[CrewMember], owner_member_id: uuid.UUID | None
) -> tuple[list[CrewMember], uuid.UUID | None]:
    """The crew with its owner in it, and the owner; 422 naming the field for a stranger, a
    member listed twice, two owners, or an owner that contradicts the crew."""
    owners = [i for i, c in enumerate(crew) if c.role == CrewRole.owner]
    if len(owners) > 1:
        raise ValidationFailed.field(f"crew[{owners[1]}].role", TWO_OWNERS())
    seen: set[uuid.UUID] = set()
    for i, c in enumerate(crew):
        if c.member_id in seen:
            raise ValidationFailed.field(f"crew[{i}].member_id", LISTED_TWICE())
        seen.add(c.member_id)
    wanted = seen | ({owner_member_id} if owner_member_id else set())
    found = (
        set(session.scalars(select(Member.id).where(Member.id.in_(wanted)))) if wanted else set()
    )
    for i, c in enumerate(crew):
        if c.member_id not in found:
            raise ValidationFailed.field(f"crew[{i}].member_id", NO_SUCH_MEMBER())
    if owner_member_id is not None and owner_member_id not in found:
        raise ValidationFailed.field("owner_member_id", NO_SUCH_MEMBER())
    if owners:
        listed = crew[owners[0]].member_id
        if owner_member_id is not None and owner_member_id != listed:
            raise ValidationFailed.field("owner_member_id", OWNER_DIFFERS())
        return list(crew), listed
    if owner_member_id is None:
        return list(crew), None
    if owner_member_id in seen:
        raise ValidationFailed.field("owner_member_id", OWNER_IN_OTHER_ROLE())
    return [
        *crew,
        CrewMember(member_id=owner_member_id, role=CrewRole.owner, covered=True),
    ], owner_member_id


def _replace_crew(session: Session, unit: TransportUnit, crew: list[CrewMember]) -> None:
    session.execute(
        delete(UnitCrew)
        .where(UnitCrew.organisation_id == unit.organisation_id, UnitCrew.unit_id == unit.id)
        .execution_options(synchronize_session=False)
    )
    for c in crew:
        session.add(
            UnitCrew(unit_id=unit.id, member_id=c.member_id, role=c.role, covered=c.covered)
        )


def create_unit(session: Session, actor: Actor, data: UnitCreate) -> TransportUnit:
    """Create a transport unit with its crew and open its prepaid-credit account (409 if the
    registration is taken)."""
    if session.scalar(
        select(TransportUnit.id).where(TransportUnit.registration == data.registration)
    ):
        raise Conflict(REGISTRATION_TAKEN(registration=data.registration))
    crew, owner = _checked_crew(session, data.crew, data.owner_member_id)
    account = ledger.open_account(
        session,
        actor,
        code=credit_account_code(data.registration),
        name=f"Prepaid credit of unit {data.registration}",
        type=AccountType.liability,
        currency=organisation_currency(session),
        owner=ledger.Owner("unit", data.registration),
    )
    unit = TransportUnit(
        registration=data.registration,
        kind=data.kind,
        owner_member_id=owner,
        status=data.status,
        credit_account_id=account.id,
    )
    session.add(unit)
    session.flush()
    _replace_crew(session, unit, crew)
    session.flush()
    audit.record(
        session, actor, "unit.create", "transport_unit", unit.id, data.model_dump(mode="json")
    )
    return unit


def get_unit(session: Session, unit_id: uuid.UUID) -> TransportUnit:
    """The unit with this id in the caller's organisation (404 otherwise)."""
    unit = session.scalar(select(TransportUnit).where(TransportUnit.id == unit_id))
    if unit is None:
        raise NotFound(UNIT_NOT_FOUND(id=unit_id))
    return unit


def crews_of(session: Session, unit_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[CrewMember]]:
    ids = list(unit_ids)
    out: dict[uuid.UUID, list[CrewMember]] = defaultdict(list)
    if not ids:
        return out
    order = {role.value: i for i, role in enumerate(CrewRole)}
    rows = sorted(
        session.scalars(select(UnitCrew).where(UnitCrew.unit_id.in_(ids))),
        key=lambda c: (order[c.role], str(c.member_id)),
    )
    for c in rows:
        out[c.unit_id].append(CrewMember(member_id=c.member_id, role=c.role, covered=c.covered))
    return out


def unit_reads(session: Session, units: list[TransportUnit]) -> list[UnitRead]:
    crews = crews_of(session, [u.id for u in units])
    return [
        UnitRead.model_validate(
            {
                **{k: getattr(u, k) for k in UnitRead.model_fields if k != "crew"},
                "crew": crews.get(u.id, []),
            }
        )
        for u in units
    ]


def update_unit(
    session: Session, actor: Actor, unit_id: uuid.UUID, data: UnitUpdate
) -> TransportUnit:
    """Change a unit's kind, status, owner or crew (`crew` replaces the whole crew)."""
    unit = get_unit(session, unit_id)
    changes = data.model_dump(mode="json", exclude_unset=True)
    for name in ("kind", "status"):
        if name in changes and changes[name] is None:
            raise ValidationFailed.field(name, MUST_NOT_BE_NULL())
        if name in changes:
            setattr(unit, name, getattr(data, name))
    if "crew" in changes or "owner_member_id" in changes:
        if data.crew is not None:
            crew = data.crew
        else:
            crew = [
                c for c in crews_of(session, [unit.id]).get(unit.id, []) if c.role != CrewRole.owner
            ]
        owner = (
            data.owner_member_id
            if "owner_member_id" in changes
            else (None if data.crew is not None else unit.owner_member_id)
        )
        crew, unit.owner_member_id = _checked_crew(session, crew, owner)
        _replace_crew(session, unit, crew)
    session.flush()
    audit.record(session, actor, "unit.update", "transport_unit", unit.id, changes)
    return unit


def search_units(
    session: Session,
    *,
    q: str | None,
    member_id: uuid.UUID | None,
    limit: int,
    after: str | None,
) -> tuple[list[TransportUnit], str | None]:
    """Units by registration; `q` matches the registration, `member_id` keeps the units the
    member is crew of."""
    stmt = select(TransportUnit).order_by(TransportUnit.registration).limit(limit + 1)
    if q:
        stmt = stmt.where(
            func.lower(TransportUnit.registration).contains(q.strip().lower(), autoescape=True)
        )
    if member_id is not None:
        stmt = stmt.where(
            TransportUnit.id.in_(select(UnitCrew.unit_id).where(UnitCrew.member_id == member_id))
        )
    if after is not None:
        stmt = stmt.where(TransportUnit.registration > after)
    rows = list(session.scalars(stmt))
    nxt = rows[limit - 1].registration if len(rows) > limit else None
    return rows[:limit], nxt
