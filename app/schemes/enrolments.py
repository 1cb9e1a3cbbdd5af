"""Enrolments: a member or a unit in a scheme from a date (to a date).

Transport units enrol in daily_per_unit schemes; members in monthly and per_harvest ones. An
enrolment's end may move only where no due already depends on the old end: dues are never
rewritten (see `update_enrolment`).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import Actor
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.messages import N_, Template
from app.core.money import format_minor
from app.members.messages import NO_SUCH_MEMBER, NO_SUCH_UNIT
from app.members.models import Member, TransportUnit
from app.schemes.generation import lock_dues
from app.schemes.models import AmountKind, Due, Enrolment, Scheme, SchemeKind
from app.schemes.schedule import declared_amount
from app.schemes.schemas import EnrolmentCreate, EnrolmentRead, EnrolmentUpdate
from app.schemes.service import list_versions, scheme_for_field, version_on
from app.schemes.terms import terms

ENROLS_UNITS = Template(
    "enrolment.scheme_enrols_units",
    N_("%(scheme)s is daily per unit: it enrols transport units"),
)
ENROLS_MEMBERS = Template(
    "enrolment.scheme_enrols_members", N_("%(scheme)s is %(kind)s: it enrols members")
)
ENDS_BEFORE_START = Template("enrolment.ends_before_start", N_("must not be before starts_on"))
NO_VERSION_AT_START = Template(
    "enrolment.no_version_on_start",
    N_("%(scheme)s has no version in force on %(day)s (its first is effective %(first)s)"),
)
INCOME_MISSING = Template(
    "enrolment.income_missing", N_("%(scheme)s takes a share of the member's income: give it")
)
INCOME_NOT_TAKEN = Template(
    "enrolment.income_not_taken", N_("%(scheme)s does not take a share of income")
)
INCOME_REQUIRED = Template(
    "enrolment.income_required", N_("%(scheme)s takes a share of income: it cannot be removed")
)
OVERLAPS = Template(
    "enrolment.overlaps",
    N_(
        "already enrolled in %(scheme)s from %(start)s (enrolment %(id)s); periods would be "
        "owed twice"
    ),
)
OVERLAPS_PERIOD = Template(
    "enrolment.overlaps_period",
    N_(
        "already enrolled in %(scheme)s from %(start)s to %(end)s (enrolment %(id)s); periods "
        "would be owed twice"
    ),
)
ENROLMENT_NOT_FOUND = Template("enrolment.not_found", N_("no enrolment %(id)s"))
END_BEFORE_DUES = Template(
    "enrolment.end_before_dues",
    N_(
        "dues of this enrolment exist for periods through %(day)s; an end before that would "
        "rewrite them (dues are never rewritten)"
    ),
)
END_PRORATED = Template(
    "enrolment.end_prorated",
    N_(
        "the due for the period ending %(day)s was prorated to the old end; enrol again from "
        "the next day instead of moving the end"
    ),
)
END_OVERLAPS = Template(
    "enrolment.end_overlaps", N_("the new end overlaps enrolment %(id)s in %(scheme)s")
)


def _income(text: str | None, currency: str) -> int | None:
    return declared_amount(text, currency, "declared_income")


def _overlapping(
    session: Session,
    scheme_id: uuid.UUID,
    member_id: uuid.UUID | None,
    unit_id: uuid.UUID | None,
    starts_on: date,
    ends_on: date | None,
    exclude: uuid.UUID | None = None,
) -> Enrolment | None:
    subject = Enrolment.member_id == member_id if member_id else Enrolment.unit_id == unit_id
    stmt = select(Enrolment).where(
        subject,
        Enrolment.scheme_id == scheme_id,
        or_(Enrolment.ends_on.is_(None), Enrolment.ends_on >= starts_on),
    )
    if ends_on is not None:
        stmt = stmt.where(Enrolment.starts_on <= ends_on)
    if exclude is not None:
        stmt = stmt.where(Enrolment.id != exclude)
    return session.scalar(stmt.limit(1))


def create_enrolment(session: Session, actor: Actor, data: EnrolmentCreate) -> Enrolment:
    """Enrol a member or a unit in a scheme from `starts_on` (to `ends_on`).

    422 naming the field when the subject does not fit the scheme's rhythm, does not exist,
    when no version is in force on `starts_on`, or an income-based scheme lacks
    `declared_income`; 409 when it overlaps an enrolment of the same subject in that scheme.
    """
    scheme = scheme_for_field(session, data.scheme_code)
    kind = SchemeKind(scheme.kind)
    if kind.enrols_units:
        if data.unit_id is None:
            raise ValidationFailed.field("unit_id", ENROLS_UNITS(scheme=scheme.code))
        if session.scalar(select(TransportUnit.id).where(TransportUnit.id == data.unit_id)) is None:
            raise ValidationFailed.field("unit_id", NO_SUCH_UNIT())
    else:
        if data.member_id is None:
            raise ValidationFailed.field("member_id", ENROLS_MEMBERS(scheme=scheme.code, kind=kind))
        if session.scalar(select(Member.id).where(Member.id == data.member_id)) is None:
            raise ValidationFailed.field("member_id", NO_SUCH_MEMBER())
    if data.ends_on is not None and data.ends_on < data.starts_on:
        raise ValidationFailed.field("ends_on", ENDS_BEFORE_START())
    versions = list_versions(session, scheme)
    if version_on(versions, data.starts_on) is None:
        first = versions[0].effective_from if versions else None
        raise ValidationFailed.field(
            "starts_on", NO_VERSION_AT_START(scheme=scheme.code, day=data.starts_on, first=first)
        )
    income_based = any(
        terms(v.rules, scheme.currency).amount_kind == AmountKind.percent_of_income
        for v in versions
    )
    income = _income(data.declared_income, scheme.currency)
    if income_based and income is None:
        raise ValidationFailed.field("declared_income", INCOME_MISSING(scheme=scheme.code))
    if not income_based and income is not None:
        raise ValidationFailed.field("declared_income", INCOME_NOT_TAKEN(scheme=scheme.code))
    clash = _overlapping(
        session, scheme.id, data.member_id, data.unit_id, data.starts_on, data.ends_on
    )
    if clash is not None:
        if clash.ends_on is None:
            raise Conflict(OVERLAPS(scheme=scheme.code, start=clash.starts_on, id=clash.id))
        raise Conflict(
            OVERLAPS_PERIOD(
                scheme=scheme.code, start=clash.starts_on, end=clash.ends_on, id=clash.id
            )
        )
    enrolment = Enrolment(
        member_id=data.member_id,
        unit_id=data.unit_id,
        scheme_id=scheme.id,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        declared_income=income,
    )
    session.add(enrolment)
    session.flush()
    audit.record(
        session, actor, "enrolment.create", "enrolment", enrolment.id, data.model_dump(mode="json")
    )
    return enrolment


def get_enrolment(session: Session, enrolment_id: uuid.UUID) -> Enrolment:
    enrolment = session.scalar(select(Enrolment).where(Enrolment.id == enrolment_id))
    if enrolment is None:
        raise NotFound(ENROLMENT_NOT_FOUND(id=enrolment_id))
    return enrolment


def update_enrolment(
    session: Session, actor: Actor, enrolment_id: uuid.UUID, data: EnrolmentUpdate
) -> Enrolment:
    """End an enrolment (or move or remove its end), or change its declared income.

    An end is refused (409) where a due already covers a period past it, and moving an end
    later is refused where the last due was prorated to the old end: dues are never rewritten;
    enrol again instead. A new declared income counts for dues generated after the change.
    """
    e = get_enrolment(session, enrolment_id)
    scheme = session.scalar(select(Scheme).where(Scheme.id == e.scheme_id))
    assert scheme is not None  # a foreign key holds it
    changes = data.model_dump(mode="json", exclude_unset=True)
    if "declared_income" in changes:
        income = _income(data.declared_income, scheme.currency)
        versions = list_versions(session, scheme)
        if income is None and any(terms(v.rules, scheme.currency).income_based for v in versions):
            raise ValidationFailed.field("declared_income", INCOME_REQUIRED(scheme=scheme.code))
        e.declared_income = income
    if "ends_on" in changes and data.ends_on != e.ends_on:
        _move_end(session, scheme, e, data.ends_on)
    session.flush()
    audit.record(session, actor, "enrolment.update", "enrolment", e.id, changes)
    return e


def _month_end(day: date) -> date:
    nxt = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


def _move_end(session: Session, scheme: Scheme, e: Enrolment, new_end: date | None) -> None:
    if new_end is not None and new_end < e.starts_on:
        raise ValidationFailed.field("ends_on", ENDS_BEFORE_START())
    lock_dues(session)  # no dues generation of this organisation runs meanwhile
    mine = and_(Due.enrolment_id == e.id)
    if new_end is not None:
        past = session.scalar(
            select(func.max(Due.period_end)).where(mine, Due.period_end > new_end)
        )
        if past is not None:
            raise Conflict(END_BEFORE_DUES(day=past))
    old_end = e.ends_on
    if old_end is not None and (new_end is None or new_end > old_end):
        # a monthly due cut short at the old end would stay prorated: refuse rather than owe too little
        cut = scheme.kind == SchemeKind.monthly and old_end != _month_end(old_end)
        if cut and session.scalar(select(Due.id).where(mine, Due.period_end == old_end).limit(1)):
            raise Conflict(END_PRORATED(day=old_end))
        clash = _overlapping(
            session, e.scheme_id, e.member_id, e.unit_id, e.starts_on, new_end, exclude=e.id
        )
        if clash is not None:
            raise Conflict(END_OVERLAPS(id=clash.id, scheme=scheme.code))
    e.ends_on = new_end
    if e.generated_through is not None:
        # Dues reach exactly as far as the last one made: from there, generation makes the
        # periods the new end shapes (a month cut at the new end, the days up to a later one).
        e.generated_through = session.scalar(select(func.max(Due.period_end)).where(mine))


def enrolment_reads(session: Session, enrolments: list[Enrolment]) -> list[EnrolmentRead]:
    schemes = (
        {
            s.id: s
            for s in session.scalars(
                select(Scheme).where(Scheme.id.in_({e.scheme_id for e in enrolments}))
            )
        }
        if enrolments
        else {}
    )
    return [
        EnrolmentRead(
            id=e.id,
            member_id=e.member_id,
            unit_id=e.unit_id,
            scheme_code=schemes[e.scheme_id].code,
            starts_on=e.starts_on,
            ends_on=e.ends_on,
            declared_income=None
            if e.declared_income is None
            else format_minor(e.declared_income, schemes[e.scheme_id].currency),
            generated_through=e.generated_through,
            created_at=e.created_at,
        )
        for e in enrolments
    ]


def list_enrolments(
    session: Session,
    *,
    member_id: uuid.UUID | None,
    unit_id: uuid.UUID | None,
    scheme_code: str | None,
    limit: int,
    after: uuid.UUID | None,
) -> tuple[list[Enrolment], uuid.UUID | None]:
    """Enrolments in the order they were made (ids are time-ordered)."""
    stmt = select(Enrolment).order_by(Enrolment.id).limit(limit + 1)
    if member_id is not None:
        stmt = stmt.where(Enrolment.member_id == member_id)
    if unit_id is not None:
        stmt = stmt.where(Enrolment.unit_id == unit_id)
    if scheme_code is not None:
        stmt = stmt.where(
            Enrolment.scheme_id.in_(select(Scheme.id).where(Scheme.code == scheme_code))
        )
    if after is not None:
        stmt = stmt.where(Enrolment.id > after)
    rows = list(session.scalars(stmt))
    nxt = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], nxt
