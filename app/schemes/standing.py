"""Standing, arrears and coverage, computed from dues (amount, paid, due date) alone.

Receipts and their allocation keep `Due.paid` (collections allocates oldest first); here we
only read dues. A unit's dues count, in full, toward each of its covered crew members'
standing and coverage (the contract); so a sum of members' arrears counts a unit's arrears
once per covered crew member. What the organisation is owed is `overdue_by_age`: every
overdue due once, whoever owes it. The dashboard, the arrears report's total and its CSV
all read that one figure; each report line shows which part of it came through a unit.

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
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    union,
    union_all,
)
from sqlalchemy.orm import Session

from app.core import dialect
from app.core.database import bound_organisation
from app.ledger import service as ledger
from app.members.models import Member, TransportUnit, UnitCrew
from app.schemes.models import CoverageStatus, Due, SchemeVersion
from app.schemes.terms import PPM, terms

BUCKETS = ("0-30", "31-60", "61-90", "90+")


@dataclass(frozen=True, slots=True)
class FundCoverage:
    fund_code: str
    status: CoverageStatus
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


@dataclass(frozen=True, slots=True)
class _Version:
    rules: dict[str, Any]
    penalty_ppm: int
    penalty_after_days: int | None  # None: the version has no penalty
    grace_days: int
    funds: tuple[str, ...]


_VERSIONS: dict[uuid.UUID, _Version] = {}
"""Scheme versions by id, kept for the life of the process: a version never changes (the
database refuses it), so what was read once stays true."""


def _load_versions(session: Session, ids: set[uuid.UUID]) -> None:
    """Read into the cache the versions it does not hold yet."""
    from app.schemes.models import Scheme

    missing = ids - _VERSIONS.keys()
    if not missing:
        return
    rows = session.execute(
        select(SchemeVersion.id, SchemeVersion.rules, Scheme.currency)
        .join(
            Scheme,
            and_(
                Scheme.organisation_id == SchemeVersion.organisation_id,
                Scheme.id == SchemeVersion.scheme_id,
            ),
        )
        .where(SchemeVersion.id.in_(missing))
    )
    for vid, rules, currency in rows:
        t = terms(rules, currency)
        _VERSIONS[vid] = _Version(
            rules,
            t.penalty_ppm,
            t.penalty_after_days if rules.get("penalty") else None,
            t.grace_days,
            tuple(str(s["fund"]) for s in rules["split"]),
        )


@lru_cache(maxsize=128)
def _statement(pg: bool, after: tuple[tuple[uuid.UUID, int], ...]) -> Any:
    """The figures statement for a set of penalty rules, built once and reused.

    Binds: org, member_ids (expanding), as_of, and the bucket limits d30, d60, d90.
    """
    org = bindparam("org", type_=Uuid())
    member_ids = bindparam("member_ids", expanding=True, type_=Uuid())
    as_of = bindparam("as_of", type_=Date())
    limits = [bindparam(name, type_=Date()) for name in ("d30", "d60", "d90")]
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
    buckets = [
        and_(overdue, d.c.due_on >= limits[0]),
        and_(overdue, d.c.due_on < limits[0], d.c.due_on >= limits[1]),
        and_(overdue, d.c.due_on < limits[1], d.c.due_on >= limits[2]),
        and_(overdue, d.c.due_on < limits[2]),
    ]
    penalty_base: Any = literal(0)
    if after:
        after_days = case(dict(after), value=d.c.v, else_=None)
        if pg:
            days: Any = as_of - d.c.due_on
        else:
            days = cast(func.julianday(as_of) - func.julianday(d.c.due_on), Integer)
        months = (days - after_days + 29) // 30  # started 30-day periods (integer division)
        penalty_base = func.sum(
            case(
                (and_(overdue, after_days.is_not(None), days > after_days), owing * months), else_=0
            )
        )
    return select(
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


def _figures(
    session: Session, member_ids: list[uuid.UUID], as_of: date
) -> dict[uuid.UUID, list[_VersionFigures]]:
    """Per member and scheme version: aging sums, penalty base and the dates coverage needs.

    One statement over the members' own dues and their covered units' dues. Penalties need
    each version's `after_days` inside the statement: it uses the versions already cached,
    and runs once more in the rare case the dues name a version with a penalty it had not
    seen yet (the first time in the life of the process).
    """
    out: dict[uuid.UUID, list[_VersionFigures]] = defaultdict(list)
    if not member_ids:
        return out
    params = {
        "org": _org(session),
        "member_ids": member_ids,
        "as_of": as_of,
        **{f"d{n}": as_of - timedelta(days=n) for n in (30, 60, 90)},
    }
    pg = dialect.is_postgres(session)
    for _attempt in range(2):
        known = set(_VERSIONS)
        after = tuple(
            sorted(
                (vid, v.penalty_after_days)
                for vid, v in _VERSIONS.items()
                if v.penalty_after_days is not None
            )
        )
        rows = session.execute(_statement(pg, after), params).all()
        seen = {row[1] for row in rows}
        _load_versions(session, seen)
        if not any(_VERSIONS[v].penalty_after_days is not None for v in seen - known):
            break
    for row in rows:
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
    versions: dict[uuid.UUID, _Version] = _VERSIONS,
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
        if f.penalty_base:
            penalty_exact += f.penalty_base * versions[f.version_id].penalty_ppm
    st.penalty = (2 * penalty_exact + PPM) // (2 * PPM)
    overdue = [f.first_overdue_on for f in figures if f.first_overdue_on]
    st.oldest_overdue_on = min(overdue) if overdue else None
    st.paid_through = _paid_through(figures)
    by_fund: dict[str, list[_VersionFigures]] = defaultdict(list)
    for f in figures:
        for fund in versions[f.version_id].funds:
            by_fund[fund].append(f)
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
    versions: dict[uuid.UUID, _Version],
) -> FundCoverage:
    def grace(f: _VersionFigures) -> int:
        return versions[f.version_id].grace_days

    unpaid = [(f.first_unpaid_due_on, f) for f in figures if f.first_unpaid_due_on is not None]
    anchor: date
    if unpaid:
        anchor, f = min(unpaid, key=lambda pair: pair[0])
        overdue = anchor < as_of
    else:
        f = max(figures, key=lambda f: f.last_due_on)
        anchor, overdue = f.last_due_on, False
    until = anchor + timedelta(days=grace(f))
    status = (
        CoverageStatus.lapsed
        if as_of > until
        else CoverageStatus.grace
        if overdue
        else CoverageStatus.covered
    )
    return FundCoverage(fund_code, status, until)


def member_standing(session: Session, member: Member, as_of: date) -> Standing:
    """A member's standing on `as_of`: paid through, arrears and aging, penalty, prepaid
    credit, and coverage per fund. A handful of indexed statements, however long the history."""
    figures = _figures(session, [member.id], as_of).get(member.id, [])
    st = _standing(member.id, as_of, figures)
    raw = ledger.balances(session, [member.credit_account_id])[member.credit_account_id]
    st.credit = -raw  # a liability: credit balances are positive
    return st


@dataclass(frozen=True, slots=True)
class UnitArrears:
    unit_id: uuid.UUID
    registration: str
    arrears: int


@dataclass(frozen=True, slots=True)
class ArrearsLine:
    member: Member
    standing: Standing
    through_units: list[UnitArrears] = field(default_factory=list)

    @property
    def own_arrears(self) -> int:
        """What is overdue on the member's own dues (the rest came through units)."""
        return self.standing.arrears - sum(u.arrears for u in self.through_units)


def bucket_of(as_of: date, due_on: date) -> str:
    """The aging bucket of a due overdue on `as_of` (due before it)."""
    days = (as_of - due_on).days
    return BUCKETS[0 if days <= 30 else 1 if days <= 60 else 2 if days <= 90 else 3]


def overdue_by_age(session: Session, as_of: date) -> dict[str, dict[str, int]]:
    """What the organisation is owed on `as_of`, per currency and aging bucket: every overdue
    due (due before `as_of`, not fully paid) counted once, a member's or a unit's."""
    rows = session.execute(
        select(Due.currency, Due.due_on, func.sum(Due.amount - Due.paid))
        .where(Due.organisation_id == _org(session), Due.due_on < as_of, Due.paid < Due.amount)
        .group_by(Due.currency, Due.due_on)
    )
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(BUCKETS, 0))
    for currency, due_on, owed in rows:
        out[currency][bucket_of(as_of, _day(due_on))] += int(owed or 0)
    return dict(out)


def _through_units(
    session: Session, member_ids: list[uuid.UUID], as_of: date
) -> dict[uuid.UUID, list[UnitArrears]]:
    """Per covered crew member: the arrears of each unit that count in their standing."""
    org = _org(session)
    out: dict[uuid.UUID, list[UnitArrears]] = defaultdict(list)
    if not member_ids:
        return out
    rows = session.execute(
        select(
            UnitCrew.member_id,
            TransportUnit.id,
            TransportUnit.registration,
            func.sum(Due.amount - Due.paid),
        )
        .join(
            UnitCrew,
            and_(UnitCrew.organisation_id == Due.organisation_id, UnitCrew.unit_id == Due.unit_id),
        )
        .join(
            TransportUnit,
            and_(
                TransportUnit.organisation_id == Due.organisation_id,
                TransportUnit.id == Due.unit_id,
            ),
        )
        .where(
            Due.organisation_id == org,
            Due.paid < Due.amount,
            Due.due_on < as_of,
            UnitCrew.covered.is_(True),
            UnitCrew.member_id.in_(member_ids),
        )
        .group_by(UnitCrew.member_id, TransportUnit.id, TransportUnit.registration)
        .order_by(UnitCrew.member_id, TransportUnit.registration)
    )
    for member_id, unit_id, registration, owed in rows:
        out[member_id].append(UnitArrears(unit_id, registration, int(owed or 0)))
    return out


def arrears_page(
    session: Session, as_of: date, *, limit: int, after_number: str | None = None
) -> tuple[list[ArrearsLine], str | None]:
    """Members with arrears on `as_of`, by member number: one page, and the next cursor.

    A line's arrears are the member's standing (a covered crew member's include the unit's);
    `through_units` says which part came through which unit. Summing lines counts a unit
    once per covered crew member: the total owed is `overdue_by_age`."""
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
    figures = _figures(session, [m.id for m in page], as_of)
    credits = ledger.balances(session, [m.credit_account_id for m in page])
    through = _through_units(session, [m.id for m in page], as_of)
    lines = []
    for m in page:
        st = _standing(m.id, as_of, figures.get(m.id, []))
        st.credit = -credits[m.credit_account_id]
        lines.append(ArrearsLine(m, st, through.get(m.id, [])))
    nxt = page[-1].member_number if len(members) > limit else None
    return lines, nxt
