"""Standing, arrears and coverage, computed from dues (amount, paid, due date) alone.

Receipts and their allocation keep `Due.paid` (collections allocates oldest first); here we
only read dues. A unit's dues count, in full, toward each of its covered crew members.

- paid through: the day before the oldest period not fully paid (the last period's end when
  everything is paid; none when the very first is unpaid);
- arrears: what is unpaid on dues whose due date is before `as_of`, aged by days overdue in
  buckets 0-30, 31-60, 61-90 and 90+;
- penalty: where a version defines one, `percent_per_month` of each overdue amount for every
  started 30 days past `after_days`, summed exactly and rounded half-up once;
- coverage per fund (the funds a due's version splits to): holds until `grace_days` after the
  due date of the oldest unpaid due (or of the last due, when all are paid). `covered` while
  nothing is overdue, `grace` while something is overdue but within that time, `lapsed` after.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Date, Integer, and_, case, cast, func, literal, select, union, union_all
from sqlalchemy.orm import Session

from app.core.database import bound_organisation
from app.ledger import service as ledger
from app.members.models import Member, UnitCrew
from app.schemes.models import Due, SchemeVersion
from app.schemes.terms import PPM, terms

BUCKETS = ("0-30", "31-60", "61-90", "90+")


@dataclass(frozen=True, slots=True)
class FundCoverage:
    fund_code: str
    status: str  # covered | grace | lapsed
    covered_until: date


@dataclass(slots=True)
class Standing:
    member_id: uuid.UUID
    as_of: date
    paid_through: date | None = None
    arrears: int = 0
    aging: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    penalty: int = 0
    credit: int = 0
    oldest_overdue_on: date | None = None
    coverage: list[FundCoverage] = field(default_factory=list)


@dataclass(slots=True)
class _VersionFigures:
    version_id: uuid.UUID
    aging: list[int]
    penalty_base: int  # sum of overdue amount x started months past after_days
    first_unpaid_due_on: date | None
    first_unpaid_start: date | None
    first_overdue_on: date | None
    first_start: date
    last_end: date
    last_due_on: date


def _org(session: Session) -> uuid.UUID:
    org = bound_organisation(session)
    if org is None:
        raise RuntimeError("standing needs a session bound to an organisation")
    return org


def _days_overdue(session: Session, due_on: Any, as_of: date) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return literal(as_of, Date) - due_on
    return cast(func.julianday(literal(as_of, Date)) - func.julianday(due_on), Integer)


def _all_versions(session: Session) -> dict[uuid.UUID, tuple[SchemeVersion, str]]:
    from app.schemes.models import Scheme

    rows = session.execute(
        select(SchemeVersion, Scheme.currency).join(
            Scheme,
            and_(
                Scheme.organisation_id == SchemeVersion.organisation_id,
                Scheme.id == SchemeVersion.scheme_id,
            ),
        )
    )
    return {v.id: (v, currency) for v, currency in rows}


def _figures(
    session: Session,
    member_ids: list[uuid.UUID],
    as_of: date,
    versions: dict[uuid.UUID, tuple[SchemeVersion, str]],
) -> dict[uuid.UUID, list[_VersionFigures]]:
    """Per member and scheme version: aging sums, penalty base and the dates coverage needs.

    One statement over the member's own dues and their covered units' dues.
    """
    org = _org(session)
    cols = (
        Due.scheme_version_id.label("v"),
        Due.amount,
        Due.paid,
        Due.due_on,
        Due.period_start,
        Due.period_end,
    )
    own = select(Due.member_id.label("for_member"), *cols).where(
        Due.organisation_id == org, Due.member_id.in_(member_ids)
    )
    via = (
        select(UnitCrew.member_id.label("for_member"), *cols)
        .join(
            UnitCrew,
            and_(UnitCrew.organisation_id == Due.organisation_id, UnitCrew.unit_id == Due.unit_id),
        )
        .where(
            Due.organisation_id == org,
            UnitCrew.member_id.in_(member_ids),
            UnitCrew.covered.is_(True),
        )
    )
    d = union_all(own, via).subquery()
    unpaid = d.c.paid < d.c.amount
    overdue = and_(unpaid, d.c.due_on < as_of)
    owing = d.c.amount - d.c.paid
    limits = [as_of - timedelta(days=n) for n in (30, 60, 90)]
    buckets = [
        and_(overdue, d.c.due_on >= limits[0]),
        and_(overdue, d.c.due_on < limits[0], d.c.due_on >= limits[1]),
        and_(overdue, d.c.due_on < limits[1], d.c.due_on >= limits[2]),
        and_(overdue, d.c.due_on < limits[2]),
    ]
    after = {
        vid: terms(v.rules, cur).penalty_after_days
        for vid, (v, cur) in versions.items()
        if v.rules.get("penalty")
    }
    if after:
        after_days = case(after, value=d.c.v, else_=None)
        days = _days_overdue(session, d.c.due_on, as_of)
        months = (days - after_days + 29) // 30  # started 30-day periods (integer division)
        penalty_base: Any = func.sum(
            case(
                (and_(overdue, after_days.is_not(None), days > after_days), owing * months), else_=0
            )
        )
    else:
        penalty_base = literal(0)
    stmt = select(
        d.c.for_member,
        d.c.v,
        *(func.sum(case((b, owing), else_=0)) for b in buckets),
        penalty_base,
        func.min(case((unpaid, d.c.due_on), else_=None)),
        func.min(case((unpaid, d.c.period_start), else_=None)),
        func.min(case((overdue, d.c.due_on), else_=None)),
        func.min(d.c.period_start),
        func.max(d.c.period_end),
        func.max(d.c.due_on),
    ).group_by(d.c.for_member, d.c.v)
    out: dict[uuid.UUID, list[_VersionFigures]] = defaultdict(list)
    for row in session.execute(stmt):
        member_id, vid, b0, b1, b2, b3, pen, fu_due, fu_start, fo, fs, le, ld = row
        out[member_id].append(
            _VersionFigures(
                vid,
                [int(b0 or 0), int(b1 or 0), int(b2 or 0), int(b3 or 0)],
                int(pen or 0),
                _d(fu_due),
                _d(fu_start),
                _d(fo),
                _day(fs),
                _day(le),
                _day(ld),
            )
        )
    return out


def _day(value: Any) -> date:
    day = _d(value)
    assert day is not None  # MIN/MAX over at least one row
    return day


def _d(value: Any) -> date | None:
    """A date from an aggregate (SQLite hands MIN/MAX of dates back as text)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _standing(
    member_id: uuid.UUID,
    as_of: date,
    figures: list[_VersionFigures],
    versions: dict[uuid.UUID, tuple[SchemeVersion, str]],
) -> Standing:
    st = Standing(member_id, as_of)
    if not figures:
        return st
    for f in figures:
        for i, b in enumerate(BUCKETS):
            st.aging[b] += f.aging[i]
    st.arrears = sum(st.aging.values())
    penalty_exact = 0  # x PPM
    for f in figures:
        v, currency = versions[f.version_id]
        if f.penalty_base:
            penalty_exact += f.penalty_base * terms(v.rules, currency).penalty_ppm
    st.penalty = (2 * penalty_exact + PPM) // (2 * PPM)
    overdue = [f.first_overdue_on for f in figures if f.first_overdue_on]
    st.oldest_overdue_on = min(overdue) if overdue else None
    st.paid_through = _paid_through(figures)
    by_fund: dict[str, list[_VersionFigures]] = defaultdict(list)
    for f in figures:
        for part in versions[f.version_id][0].rules["split"]:
            by_fund[part["fund"]].append(f)
    for fund_code in sorted(by_fund):
        st.coverage.append(_coverage(fund_code, as_of, by_fund[fund_code], versions))
    return st


def _paid_through(figures: list[_VersionFigures]) -> date | None:
    first_unpaid = [f.first_unpaid_start for f in figures if f.first_unpaid_start]
    if not first_unpaid:
        return max(f.last_end for f in figures)
    oldest_unpaid = min(first_unpaid)
    if oldest_unpaid <= min(f.first_start for f in figures):
        return None
    return oldest_unpaid - timedelta(days=1)


def _coverage(
    fund_code: str,
    as_of: date,
    figures: list[_VersionFigures],
    versions: dict[uuid.UUID, tuple[SchemeVersion, str]],
) -> FundCoverage:
    def grace(f: _VersionFigures) -> int:
        return int(versions[f.version_id][0].rules.get("grace_days", 0))

    unpaid = [(f.first_unpaid_due_on, f) for f in figures if f.first_unpaid_due_on is not None]
    anchor: date
    if unpaid:
        anchor, f = min(unpaid, key=lambda pair: pair[0])
        overdue = anchor < as_of
    else:
        f = max(figures, key=lambda f: f.last_due_on)
        anchor, overdue = f.last_due_on, False
    until = anchor + timedelta(days=grace(f))
    status = "lapsed" if as_of > until else "grace" if overdue else "covered"
    return FundCoverage(fund_code, status, until)


def member_standing(session: Session, member: Member, as_of: date) -> Standing:
    """A member's standing on `as_of`: paid through, arrears and aging, penalty, prepaid
    credit, and coverage per fund. A handful of indexed statements, however long the history."""
    versions = _all_versions(session)
    figures = _figures(session, [member.id], as_of, versions).get(member.id, [])
    st = _standing(member.id, as_of, figures, versions)
    raw = ledger.balances(session, [member.credit_account_id])[member.credit_account_id]
    st.credit = -raw  # a liability: credit balances are positive
    return st


@dataclass(frozen=True, slots=True)
class ArrearsLine:
    member: Member
    standing: Standing


def arrears_page(
    session: Session, as_of: date, *, limit: int, after_number: str | None = None
) -> tuple[list[ArrearsLine], str | None]:
    """Members with arrears on `as_of`, by member number: one page, and the next cursor."""
    org = _org(session)
    overdue = and_(Due.organisation_id == org, Due.paid < Due.amount, Due.due_on < as_of)
    own = select(Due.member_id.label("member_id")).where(overdue, Due.member_id.is_not(None))
    units = select(Due.unit_id).where(overdue, Due.unit_id.is_not(None))
    via = select(UnitCrew.member_id).where(
        UnitCrew.organisation_id == org, UnitCrew.covered.is_(True), UnitCrew.unit_id.in_(units)
    )
    owing = union(own, via).subquery()
    stmt = (
        select(Member)
        .where(Member.id.in_(select(owing.c.member_id)))
        .order_by(Member.member_number)
        .limit(limit + 1)
    )
    if after_number is not None:
        stmt = stmt.where(Member.member_number > after_number)
    members = list(session.scalars(stmt))
    page = members[:limit]
    versions = _all_versions(session)
    figures = _figures(session, [m.id for m in page], as_of, versions)
    credits = ledger.balances(session, [m.credit_account_id for m in page])
    lines = []
    for m in page:
        st = _standing(m.id, as_of, figures.get(m.id, []), versions)
        st.credit = -credits[m.credit_account_id]
        lines.append(ArrearsLine(m, st))
    nxt = page[-1].member_number if len(members) > limit else None
    return lines, nxt
