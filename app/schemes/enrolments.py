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
from app.core.money import MoneyError, format_minor, parse_minor
from app.members.models import Member, TransportUnit
from app.schemes.generation import lock_dues
from app.schemes.models import Due, Enrolment, Scheme
from app.schemes.schedule import MAX_DUE_MINOR
from app.schemes.schemas import EnrolmentCreate, EnrolmentRead, EnrolmentUpdate
from app.schemes.service import list_versions, scheme_for_field, version_on
from app.schemes.terms import terms


def _income(text: str | None, currency: str) -> int | None:
    if text is None:
        return None
    try:
        value = parse_minor(text, currency)
    except MoneyError as exc:
        raise ValidationFailed.field("declared_income", str(exc)) from None
    if value > MAX_DUE_MINOR:
        raise ValidationFailed.field(
            "declared_income", f"at most {format_minor(MAX_DUE_MINOR, currency)}"
        )
    return value


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
    if scheme.kind == "daily_per_unit":
        if data.unit_id is None:
            raise ValidationFailed.field(
                "unit_id", f"{scheme.code} is daily per unit: it enrols transport units"
            )
        if session.scalar(select(TransportUnit.id).where(TransportUnit.id == data.unit_id)) is None:
            raise ValidationFailed.field("unit_id", "no such transport unit in this organisation")
    else:
        if data.member_id is None:
            raise ValidationFailed.field(
                "member_id", f"{scheme.code} is {scheme.kind}: it enrols members"
            )
        if session.scalar(select(Member.id).where(Member.id == data.member_id)) is None:
            raise ValidationFailed.field("member_id", "no such member in this organisation")
    if data.ends_on is not None and data.ends_on < data.starts_on:
        raise ValidationFailed.field("ends_on", "must not be before starts_on")
    versions = list_versions(session, scheme)
    if version_on(versions, data.starts_on) is None:
        first = versions[0].effective_from if versions else None
        raise ValidationFailed.field(
            "starts_on",
            f"{scheme.code} has no version in force on {data.starts_on} (its first is effective {first})",
        )
    income_based = any(
        terms(v.rules, scheme.currency).amount_kind == "percent_of_income" for v in versions
    )
    income = _income(data.declared_income, scheme.currency)
    if income_based and income is None:
        raise ValidationFailed.field(
            "declared_income", f"{scheme.code} takes a share of the member's income: give it"
        )
    if not income_based and income is not None:
        raise ValidationFailed.field(
            "declared_income", f"{scheme.code} does not take a share of income"
        )
    clash = _overlapping(
        session, scheme.id, data.member_id, data.unit_id, data.starts_on, data.ends_on
    )
    if clash is not None:
        raise Conflict(
            f"already enrolled in {scheme.code} from {clash.starts_on}"
            + (f" to {clash.ends_on}" if clash.ends_on else "")
            + f" (enrolment {clash.id}); periods would be owed twice"
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
        raise NotFound(f"no enrolment {enrolment_id}")
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
            raise ValidationFailed.field(
                "declared_income", f"{scheme.code} takes a share of income: it cannot be removed"
            )
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
        raise ValidationFailed.field("ends_on", "must not be before starts_on")
    lock_dues(session)  # no dues generation of this organisation runs meanwhile
    mine = and_(Due.enrolment_id == e.id)
    if new_end is not None:
        past = session.scalar(
            select(func.max(Due.period_end)).where(mine, Due.period_end > new_end)
        )
        if past is not None:
            raise Conflict(
                f"dues of this enrolment exist for periods through {past}; an end before that "
                "would rewrite them (dues are never rewritten)"
            )
    old_end = e.ends_on
    if old_end is not None and (new_end is None or new_end > old_end):
        # a monthly due cut short at the old end would stay prorated: refuse rather than owe too little
        cut = scheme.kind == "monthly" and old_end != _month_end(old_end)
        if cut and session.scalar(select(Due.id).where(mine, Due.period_end == old_end).limit(1)):
            raise Conflict(
                f"the due for the period ending {old_end} was prorated to the old end; "
                "enrol again from the next day instead of moving the end"
            )
        clash = _overlapping(
            session, e.scheme_id, e.member_id, e.unit_id, e.starts_on, new_end, exclude=e.id
        )
        if clash is not None:
            raise Conflict(f"the new end overlaps enrolment {clash.id} in {scheme.code}")
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
