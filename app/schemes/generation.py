"""Dues generation: set-based, incremental, and the same on PostgreSQL and SQLite.

Dues are made in SQL, `INSERT ... SELECT` over a calendar (PostgreSQL's generate_series, a
recursive CTE on SQLite) joined to the enrolments, one statement per scheme version and chunk
of enrolments: no due passes through Python, so memory stays flat however many are made.
Amounts use integer arithmetic only (see `terms.Terms.amount`): the two databases give the
same dues to the minor unit.

Incremental: `Enrolment.generated_through` says how far each enrolment's dues exist (every
period ending on or before it has its due, none after it), and only periods ending after it
are made. Runs for one organisation are serialised (`lock_dues`: a transaction-scoped
advisory lock on PostgreSQL; SQLite's write lock already does it), so a second run waits and
then finds nothing to do. The unique key (organisation, enrolment, period_start) backs this
up: a bug that made a period twice would fail the run, never double a due. (No ON CONFLICT
clause: it costs a fifth of the insert's time.)

Rules (SCHEDULES.md): a daily due per working day of a unit's enrolment (rest days skipped),
due `due_after_days` later; a monthly due per calendar month, prorated by days for a month
the enrolment starts or ends in, due on `due_day` of the following month. A period is made
once it ends on or before `through`, with the version in force on its first day.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    String,
    Uuid,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.core import audit, dialect
from app.core.audit import Actor
from app.core.database import UTCDateTime, bound_organisation, utcnow
from app.core.ids import uuid7
from app.schemes.models import Enrolment, Scheme, SchemeKind, SchemeVersion
from app.schemes.service import Payer, run_dues_created_hooks, versions_of
from app.schemes.terms import PPM, Terms, terms

CHUNK = 5000
"""Enrolments per statement: bounds each statement's size and paces the progress display."""

EPOCH = date(1900, 1, 1)

Progress = Callable[[int, int], None]
"""progress(enrolments done, enrolments to do)."""


@dataclass(frozen=True, slots=True)
class GenerationResult:
    through: date
    created: int
    enrolments: int
    payers: int


def _reach(through: date) -> ColumnElement[date]:
    """How far an enrolment's dues go after a run through `through`: its end, if sooner."""
    return case(
        (and_(Enrolment.ends_on.is_not(None), Enrolment.ends_on < through), Enrolment.ends_on),
        else_=literal(through, Date),
    )


def _pending(through: date) -> ColumnElement[bool]:
    """Enrolments whose dues do not yet reach `through` (or their end, if sooner)."""
    return and_(
        Enrolment.starts_on <= through,
        or_(
            Enrolment.generated_through.is_(None),
            Enrolment.generated_through < _reach(through),
        ),
    )


_LOCK_SPACE = 0x64756573  # "dues": the advisory-lock namespace of dues generation


def lock_dues(session: Session) -> None:
    """Serialise whatever changes which dues exist in the organisation, until commit.

    PostgreSQL: a transaction-scoped advisory lock per organisation. SQLite: nothing to do,
    every write transaction there holds the database's write lock from its first statement.
    """
    org = bound_organisation(session)
    if org is None:
        raise RuntimeError("dues need a session bound to an organisation")
    if dialect.is_postgres(session):
        key = int.from_bytes(org.bytes[-4:], "big", signed=True)
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": _LOCK_SPACE, "key": key}
        )


def generate_dues(
    session: Session,
    actor: Actor,
    through: date,
    *,
    progress: Progress | None = None,
    chunk: int = CHUNK,
) -> GenerationResult:
    """Create every due of every daily and monthly enrolment for periods ending by `through`.

    Running it again, or with an earlier date, creates nothing. Calls the dues-created hooks
    once with every payer that got new dues, audits the run, and returns how many were made.
    """
    lock_dues(session)
    org = bound_organisation(session)
    assert org is not None  # lock_dues checked it
    now = utcnow()
    schemes = list(
        session.scalars(
            select(Scheme)
            .where(Scheme.kind.in_([k.value for k in SchemeKind if k.generated]))
            .order_by(Scheme.code)
        )
    )
    versions = versions_of(session, [s.id for s in schemes])
    total = (
        session.scalar(
            select(func.count())
            .select_from(Enrolment)
            .where(Enrolment.scheme_id.in_([s.id for s in schemes]), _pending(through))
        )
        if schemes
        else 0
    )
    total = int(total or 0)
    done = created = 0
    payers: set[Payer] = set()
    if progress:
        progress(0, total)
    sql = _Sql(dialect.is_postgres(session))
    for scheme in schemes:
        segments = _segments(versions[scheme.id], scheme.currency, through)
        after: uuid.UUID | None = None
        while True:
            stmt = (
                select(
                    Enrolment.id, func.coalesce(Enrolment.generated_through, Enrolment.starts_on)
                )
                .where(Enrolment.scheme_id == scheme.id, _pending(through))
                .order_by(Enrolment.id)
                .limit(chunk)
            )
            if after is not None:
                stmt = stmt.where(Enrolment.id > after)
            rows = session.execute(stmt).all()
            if not rows:
                break
            lo, hi = rows[0][0], rows[-1][0]
            # how far back this chunk's calendar must reach
            first: date = min(_day(reach) for _, reach in rows)
            if scheme.kind != SchemeKind.daily_per_unit:
                # a month not yet due when the last run stopped mid-month starts before
                # `first`: its version is the one whose segment holds the month's start
                first = first.replace(day=1)
            in_chunk = and_(
                Enrolment.scheme_id == scheme.id, Enrolment.id >= lo, Enrolment.id <= hi
            )
            for version, t, seg_from, seg_to in segments:
                cal_lo = max(seg_from, first)
                if cal_lo > seg_to:
                    continue
                params = {
                    "org": org,
                    "scheme_id": scheme.id,
                    "lo": lo,
                    "hi": hi,
                    "version_id": version.id,
                    "currency": scheme.currency,
                    "now": now,
                    "through": through,
                    "seg_from": seg_from,
                    "seg_to": seg_to,
                    "cal_lo": cal_lo,
                    "cal_hi": seg_to,
                    "epoch": EPOCH,
                }
                if scheme.kind == SchemeKind.daily_per_unit:
                    stmt_text, extra = sql.daily(t)
                else:
                    stmt_text, extra = sql.monthly(t)
                params["id_prefix"] = uuid7().hex[:24]
                result = session.execute(_bind(stmt_text), {**params, **extra})
                created += int(result.rowcount or 0)  # type: ignore[attr-defined]
            payers.update(_payers_with_new_dues(session, in_chunk, through, first))
            session.execute(
                update(Enrolment)
                .where(in_chunk, _pending(through))
                .values(generated_through=_reach(through), updated_at=now)
                .execution_options(synchronize_session=False)
            )
            done += len(rows)
            after = hi
            if progress:
                progress(done, total)
    audit.record(
        session,
        actor,
        "dues.generate",
        "due",
        None,
        {"through": through.isoformat(), "created": created, "enrolments": done},
    )
    run_dues_created_hooks(session, actor, payers)
    return GenerationResult(through, created, done, len(payers))


def _day(value: object) -> date:
    """A date from a COALESCE of dates (SQLite hands it back as text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _segments(
    versions: list[SchemeVersion], currency: str, through: date
) -> list[tuple[SchemeVersion, Terms, date, date]]:
    """Each version with the days it is in force on, up to `through`."""
    out = []
    for i, v in enumerate(versions):
        if v.effective_from > through:
            break
        last = (
            versions[i + 1].effective_from - timedelta(days=1) if i + 1 < len(versions) else through
        )
        out.append((v, terms(v.rules, currency), v.effective_from, min(last, through)))
    return out


def _payers_with_new_dues(
    session: Session, in_chunk: ColumnElement[bool], through: date, first: date
) -> set[Payer]:
    """The members and units of this chunk whose enrolments got dues past their old reach.

    A new due ends after its enrolment's old `generated_through` and starts at most a month
    before the chunk's earliest reach (`first`): that bound keeps the probe of the
    (enrolment, period_start) index short however long the enrolment's history.
    """
    from app.schemes.models import Due

    new_due = (
        select(Due.id)
        .where(
            Due.organisation_id == Enrolment.organisation_id,
            Due.enrolment_id == Enrolment.id,
            Due.period_start >= first - timedelta(days=31),
            Due.period_end > func.coalesce(Enrolment.generated_through, literal(EPOCH, Date)),
        )
        .exists()
    )
    rows = session.execute(
        select(Enrolment.member_id, Enrolment.unit_id)
        .where(in_chunk, _pending(through), new_due)
        .distinct()
    )
    payers: set[Payer] = set()
    for member_id, unit_id in rows:
        if member_id is not None:
            payers.add(("member", member_id))
        elif unit_id is not None:
            payers.add(("unit", unit_id))
    return payers


_TYPES: dict[str, Any] = {
    "org": Uuid(),
    "scheme_id": Uuid(),
    "lo": Uuid(),
    "hi": Uuid(),
    "version_id": Uuid(),
    "currency": String(),
    "now": UTCDateTime(),
    "through": Date(),
    "seg_from": Date(),
    "seg_to": Date(),
    "cal_lo": Date(),
    "cal_hi": Date(),
    "epoch": Date(),
    "id_prefix": String(),
    "after_days": Integer(),
    "after_mod": String(),
    "due_offset": Integer(),
    "due_mod": String(),
    "fixed": BigInteger(),
    "fixed_n": BigInteger(),
    "rate": BigInteger(),
    "min_n": BigInteger(),
    "max_n": BigInteger(),
    "ppm": BigInteger(),
}


def _bind(sql: str) -> Any:
    stmt = text(sql)
    names = sorted(set(re.findall(r"(?<![:\w]):(\w+)", sql)) & _TYPES.keys())
    return stmt.bindparams(*(bindparam(n, type_=_TYPES[n]) for n in names))


_COLUMNS = (
    "organisation_id, id, member_id, unit_id, enrolment_id, harvest_id, scheme_id, "
    "scheme_version_id, period_start, period_end, due_on, currency, amount, paid, created_at"
)


class _Sql:
    """The few fragments where PostgreSQL and SQLite differ: calendars, date arithmetic, ids."""

    def __init__(self, pg: bool) -> None:
        self.pg = pg
        # Ids: a fresh UUIDv7 prefix per statement (:id_prefix, 24 hex digits) and the row's
        # number in its last 8. Time-ordered, so the primary key grows at its right edge,
        # and far cheaper than a random UUID per row.
        counter = (
            "lpad(to_hex(row_number() OVER ()), 8, '0')"
            if self.pg
            else "printf('%08x', row_number() OVER ())"
        )
        self.new_id = (
            f"CAST(:id_prefix || {counter} AS uuid)" if self.pg else f"(:id_prefix || {counter})"
        )

    def _weekday(self, expr: str) -> str:
        return (
            f"CAST(extract(dow FROM {expr}) AS integer)"
            if self.pg
            else f"CAST(strftime('%w', {expr}) AS INTEGER)"
        )

    def _days_between(self, later: str, earlier: str) -> str:
        if self.pg:
            return f"({later} - {earlier})"
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"

    def _amount_numerator(self, t: Terms) -> tuple[str, dict[str, Any]]:
        """N = the full-period amount x PPM, per enrolment (income-based: clamped share)."""
        if not t.income_based:
            return "CAST(:fixed_n AS BIGINT)", {"fixed_n": t.fixed * PPM}
        share = "COALESCE(e.declared_income, 0) * CAST(:rate AS BIGINT)"
        params: dict[str, Any] = {"rate": t.rate_ppm}
        expr = share
        if t.maximum is not None:
            expr = f"CASE WHEN {share} > CAST(:max_n AS BIGINT) THEN CAST(:max_n AS BIGINT) ELSE {expr} END"
            params["max_n"] = t.maximum * PPM
        if t.minimum is not None:
            expr = f"CASE WHEN {share} < CAST(:min_n AS BIGINT) THEN CAST(:min_n AS BIGINT) ELSE {expr} END"
            params["min_n"] = t.minimum * PPM
        return expr, params

    def daily(self, t: Terms) -> tuple[str, dict[str, Any]]:
        rest = ", ".join(str(d) for d in t.rest_weekdays)
        if self.pg:
            working = f"WHERE {self._weekday('g.d')} NOT IN ({rest})" if rest else ""
            calendar = (
                "WITH days(d) AS (SELECT CAST(g.d AS date) FROM generate_series("
                "CAST(:cal_lo AS date), CAST(:cal_hi AS date), interval '1 day') AS g(d) "
                f"{working})"
            )
            due_on = "c.d + CAST(:after_days AS integer)"
            params: dict[str, Any] = {"after_days": t.due_after_days}
        else:
            working = f"WHERE {self._weekday('d')} NOT IN ({rest})" if rest else ""
            calendar = (
                "WITH RECURSIVE cal(d) AS (SELECT :cal_lo UNION ALL "
                "SELECT date(d, '+1 day') FROM cal WHERE d < :cal_hi), "
                f"days(d) AS (SELECT d FROM cal {working})"
            )
            due_on = "date(c.d, :after_mod)"
            params = {"after_mod": f"+{t.due_after_days} days"}
        # a daily_per_unit scheme has a fixed amount (the schedule validation insists)
        amount = "CAST(:fixed AS BIGINT)"
        params["fixed"] = t.fixed
        # INSERT first, WITH after it: drivers count the rows of a statement that starts INSERT
        sql = f"""
INSERT INTO due ({_COLUMNS})
{calendar}
SELECT e.organisation_id, {self.new_id}, e.member_id, e.unit_id, e.id, NULL, e.scheme_id,
       :version_id, c.d, c.d, {due_on}, :currency, {amount}, 0, :now
FROM enrolment e
JOIN days c ON c.d >= e.starts_on AND (e.ends_on IS NULL OR c.d <= e.ends_on)
WHERE e.organisation_id = :org AND e.scheme_id = :scheme_id
  AND e.id >= :lo AND e.id <= :hi
  AND c.d > COALESCE(e.generated_through, :epoch)
  AND c.d <= :through
"""
        return sql, params

    def monthly(self, t: Terms) -> tuple[str, dict[str, Any]]:
        offset = (t.due_day or 1) - 1
        if self.pg:
            calendar = (
                "WITH cal AS (SELECT CAST(g.m AS date) AS m_start, "
                "CAST(g.m + interval '1 month' - interval '1 day' AS date) AS m_end, "
                "CAST(extract(day FROM g.m + interval '1 month' - interval '1 day') AS integer) AS m_days, "
                "CAST(g.m + interval '1 month' AS date) + CAST(:due_offset AS integer) AS due_on "
                "FROM generate_series(date_trunc('month', CAST(:cal_lo AS date)), "
                "CAST(:cal_hi AS date), interval '1 month') AS g(m))"
            )
            params: dict[str, Any] = {"due_offset": offset}
        else:
            calendar = (
                "WITH RECURSIVE months(m) AS (SELECT date(:cal_lo, 'start of month') UNION ALL "
                "SELECT date(m, '+1 month') FROM months WHERE date(m, '+1 month') <= :cal_hi), "
                "cal AS (SELECT m AS m_start, date(m, '+1 month', '-1 day') AS m_end, "
                "CAST(strftime('%d', date(m, '+1 month', '-1 day')) AS INTEGER) AS m_days, "
                "date(m, '+1 month', :due_mod) AS due_on FROM months)"
            )
            params = {"due_mod": f"+{offset} days"}
        n, amount_params = self._amount_numerator(t)
        days = self._days_between("x.pe", "x.ps") + " + 1"
        sql = f"""
INSERT INTO due ({_COLUMNS})
{calendar}
SELECT y.organisation_id, {self.new_id}, y.member_id, y.unit_id, y.enrolment_id, NULL,
       y.scheme_id, :version_id, y.ps, y.pe, y.due_on, :currency, y.amount, 0, :now
FROM (
  SELECT x.*, (2 * x.n * ({days}) + CAST(:ppm AS BIGINT) * x.m_days)
              / (2 * CAST(:ppm AS BIGINT) * x.m_days) AS amount
  FROM (
    SELECT e.organisation_id, e.member_id, e.unit_id, e.id AS enrolment_id, e.scheme_id,
           e.generated_through AS gt, c.m_days, c.due_on,
           CASE WHEN c.m_start > e.starts_on THEN c.m_start ELSE e.starts_on END AS ps,
           CASE WHEN e.ends_on IS NOT NULL AND e.ends_on < c.m_end THEN e.ends_on ELSE c.m_end END AS pe,
           {n} AS n
    FROM enrolment e
    JOIN cal c ON c.m_end >= e.starts_on AND (e.ends_on IS NULL OR c.m_start <= e.ends_on)
    WHERE e.organisation_id = :org AND e.scheme_id = :scheme_id
      AND e.id >= :lo AND e.id <= :hi
  ) x
  WHERE x.pe <= :through AND x.pe > COALESCE(x.gt, :epoch)
    AND x.ps >= :seg_from AND x.ps <= :seg_to
) y
WHERE y.amount > 0
"""
        return sql, {**params, **amount_params, "ppm": PPM}
