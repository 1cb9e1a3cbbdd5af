"""Rounds: the payers a collector collects from, and what each owes as of a day.

A treasurer sets a collector's own round (`PUT /collectors/{id}/round`) or a collector group's
(`PUT /collector-groups/{group}/round`); a collector's round is both together. The collector app
downloads it with each payer's figures (`GET /collectors/me/round`) to record receipts offline,
and searches every active payer while online (`GET /collectors/me/payers`). A payer typed by
number or plate (`payer` in a sheet item) is resolved here too, tolerating case, spaces and
dashes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import String, and_, case, delete, func, insert, literal, or_, select, union_all
from sqlalchemy.orm import Session

from app.collections.models import Collector, RoundPayer
from app.collections.payers import among
from app.core import audit
from app.core.audit import Actor
from app.core.errors import ValidationFailed
from app.core.ids import uuid7
from app.core.messages import N_, FieldError, Template
from app.members.models import Member, MemberStatus, TransportUnit, UnitStatus
from app.members.service import MEMBER_NOT_FOUND
from app.members.units import UNIT_NOT_FOUND
from app.schemes.models import Due

MAX_ROUND = 5000
"""Payers on one round at most: what a phone keeps offline and a person walks in a week."""

ROUND_TOO_LONG = Template(
    "round.too_long", N_("a round holds at most %(max)s payers; this one names %(count)s")
)


@dataclass(frozen=True, slots=True)
class RoundLine:
    """One payer of a round with what it owes on `as_of` (amounts in minor units)."""

    kind: str  # member | unit
    id: uuid.UUID
    number: str  # member number or registration
    name: str
    due_today: int
    arrears: int
    paid_through: date | None

    @property
    def member_id(self) -> uuid.UUID | None:
        return self.id if self.kind == "member" else None

    @property
    def unit_id(self) -> uuid.UUID | None:
        return self.id if self.kind == "unit" else None


def payer_key(text: str) -> str:
    """A number or plate as compared: upper case, without spaces or dashes."""
    return "".join(c for c in text.upper() if c not in " -\t")


def _key_sql(column: Any) -> Any:
    return func.upper(func.replace(func.replace(column, " ", ""), "-", ""))


# -- setting a round ------------------------------------------------------------------------------


def set_round(
    session: Session,
    actor: Actor,
    *,
    collector: Collector | None = None,
    group: str | None = None,
    member_ids: Sequence[uuid.UUID],
    unit_ids: Sequence[uuid.UUID],
) -> None:
    """Make the round of `collector` (or of every collector of `group`) exactly these payers.

    Every id must name a payer of the organisation (422 naming `member_ids[i]` or
    `unit_ids[i]`); payers already on the round keep their place, others come and go."""
    assert (collector is None) != (group is None)
    members, units = list(dict.fromkeys(member_ids)), list(dict.fromkeys(unit_ids))
    if len(members) + len(units) > MAX_ROUND:
        count = len(members) + len(units)
        raise ValidationFailed.field("member_ids", ROUND_TOO_LONG(max=MAX_ROUND, count=count))
    errors = _unknown(session, Member, members, "member_ids", MEMBER_NOT_FOUND, member_ids)
    errors += _unknown(session, TransportUnit, units, "unit_ids", UNIT_NOT_FOUND, unit_ids)
    if errors:
        raise ValidationFailed.fields(errors)
    org = collector.organisation_id if collector is not None else _org_of(session)
    if collector is not None:  # one change of a collector's round at a time
        session.execute(select(Collector.id).where(Collector.id == collector.id).with_for_update())
    holder = and_(
        RoundPayer.organisation_id == org,
        RoundPayer.collector_id == collector.id
        if collector is not None
        else RoundPayer.collector_group == group,
    )
    current = session.execute(select(RoundPayer.member_id, RoundPayer.unit_id).where(holder)).all()
    have_members = {m for m, _ in current if m is not None}
    have_units = {u for _, u in current if u is not None}
    gone_members, gone_units = have_members - set(members), have_units - set(units)
    for criterion in among(session, RoundPayer.member_id, gone_members):
        session.execute(delete(RoundPayer).where(holder, criterion))
    for criterion in among(session, RoundPayer.unit_id, gone_units):
        session.execute(delete(RoundPayer).where(holder, criterion))
    holder_cols = {
        "collector_id": collector.id if collector is not None else None,
        "collector_group": group,
    }
    new_rows = [
        {"organisation_id": org, "id": uuid7(), "member_id": m, "unit_id": None, **holder_cols}
        for m in members
        if m not in have_members
    ] + [
        {"organisation_id": org, "id": uuid7(), "member_id": None, "unit_id": u, **holder_cols}
        for u in units
        if u not in have_units
    ]
    if new_rows:
        session.execute(insert(RoundPayer), new_rows)
    audit.record(
        session,
        actor,
        "round.set",
        "collector" if collector is not None else "collector_group",
        collector.id if collector is not None else None,
        {
            "group": group,
            "members": len(members),
            "units": len(units),
            "added": len(new_rows),
            "removed": len(gone_members) + len(gone_units),
        },
    )


def _org_of(session: Session) -> uuid.UUID:
    from app.collections.payers import organisation

    return organisation(session)


def _unknown(
    session: Session,
    model: Any,
    ids: list[uuid.UUID],
    field: str,
    template: Template,
    given: Sequence[uuid.UUID],
) -> list[FieldError]:
    found: set[uuid.UUID] = set()
    for criterion in among(session, model.id, ids):
        found.update(session.scalars(select(model.id).where(criterion)))
    return [
        FieldError(f"{field}[{i}]", template(id=str(v)))
        for i, v in enumerate(given)
        if v not in found
    ][:20]


# -- reading a round ------------------------------------------------------------------------------


def round_payers(session: Session, collector: Collector) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The members and units on the collector's round: its own and its group's."""
    holders = [RoundPayer.collector_id == collector.id]
    if collector.group is not None:
        holders.append(RoundPayer.collector_group == collector.group)
    return _payers_of(session, or_(*holders))


def group_payers(session: Session, group: str) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The members and units on a collector group's round."""
    return _payers_of(session, RoundPayer.collector_group == group)


def _payers_of(session: Session, holder: Any) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    rows = session.execute(
        select(RoundPayer.member_id, RoundPayer.unit_id).where(holder).order_by(RoundPayer.id)
    )
    members: dict[uuid.UUID, None] = {}
    units: dict[uuid.UUID, None] = {}
    for member_id, unit_id in rows:
        if member_id is not None:
            members[member_id] = None
        elif unit_id is not None:
            units[unit_id] = None
    return list(members), list(units)


def round_lines(
    session: Session,
    member_ids: Iterable[uuid.UUID],
    unit_ids: Iterable[uuid.UUID],
    as_of: date,
    *,
    active_only: bool = False,
) -> list[RoundLine]:
    """Each payer with its figures on `as_of`, units by plate then members by number.

    - due today: what is unpaid on dues due on `as_of`;
    - arrears: what is unpaid on dues due before it;
    - paid through: the day before the oldest period not fully paid (the last period's end
      when all is paid; none when the first is unpaid or there are no dues), as for a
      member's standing, counting the payer's own dues only."""
    lines: list[RoundLine] = []
    units = list(unit_ids)
    members = list(member_ids)
    for criterion in among(session, TransportUnit.id, units):
        stmt = select(TransportUnit, Member.full_name).outerjoin(
            Member,
            (Member.organisation_id == TransportUnit.organisation_id)
            & (Member.id == TransportUnit.owner_member_id),
        )
        stmt = stmt.where(criterion)
        if active_only:
            stmt = stmt.where(TransportUnit.status == UnitStatus.active.value)
        for unit, owner in session.execute(stmt):
            name = f"{unit.kind} · {owner}" if owner else unit.kind
            lines.append(RoundLine("unit", unit.id, unit.registration, name, 0, 0, None))
    for criterion in among(session, Member.id, members):
        stmt_m = select(Member.id, Member.member_number, Member.full_name).where(criterion)
        if active_only:
            stmt_m = stmt_m.where(Member.status == MemberStatus.active.value)
        for mid, number, name in session.execute(stmt_m):
            lines.append(RoundLine("member", mid, number, name, 0, 0, None))
    figures = _figures(session, lines, as_of)
    out = [
        RoundLine(ln.kind, ln.id, ln.number, ln.name, *figures.get(ln.id, (0, 0, None)))
        for ln in lines
    ]
    out.sort(key=lambda ln: (ln.kind != "unit", ln.number))
    return out


def _figures(
    session: Session, lines: list[RoundLine], as_of: date
) -> dict[uuid.UUID, tuple[int, int, date | None]]:
    out: dict[uuid.UUID, tuple[int, int, date | None]] = {}
    for kind, column in (("member", Due.member_id), ("unit", Due.unit_id)):
        ids = [ln.id for ln in lines if ln.kind == kind]
        unpaid = Due.paid < Due.amount
        owed = Due.amount - Due.paid
        for criterion in among(session, column, ids):
            rows = session.execute(
                select(
                    column,
                    func.sum(case((unpaid & (Due.due_on == as_of), owed), else_=0)),
                    func.sum(case((unpaid & (Due.due_on < as_of), owed), else_=0)),
                    func.min(case((unpaid, Due.period_start), else_=None)),
                    func.min(Due.period_start),
                    func.max(Due.period_end),
                )
                .where(criterion)
                .group_by(column)
            )
            for payer_id, today, arrears, first_unpaid, first, last in rows:
                out[payer_id] = (
                    int(today or 0),
                    int(arrears or 0),
                    _paid_through(_day(first_unpaid), _day(first), _day(last)),
                )
    return out


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _paid_through(first_unpaid: date | None, first: date | None, last: date | None) -> date | None:
    if first is None:
        return None
    if first_unpaid is None:
        return last
    if first_unpaid <= first:
        return None
    return first_unpaid - timedelta(days=1)


# -- finding payers -------------------------------------------------------------------------------


def search(session: Session, text: str, as_of: date, *, limit: int) -> list[RoundLine]:
    """Active members and units whose number, plate or name contains `text` (exact number or
    plate first)."""
    key = payer_key(text)
    folded = text.strip().lower()
    if not key and not folded:
        return []
    members = select(Member.id).where(
        Member.status == MemberStatus.active.value,
        or_(
            _key_sql(Member.member_number).contains(key, autoescape=True),
            Member.search_text.contains(folded, autoescape=True),
        ),
    )
    units = select(TransportUnit.id).where(
        TransportUnit.status == UnitStatus.active.value,
        _key_sql(TransportUnit.registration).contains(key, autoescape=True),
    )
    member_ids = list(session.scalars(members.order_by(Member.member_number).limit(limit)))
    unit_ids = list(session.scalars(units.order_by(TransportUnit.registration).limit(limit)))
    lines = round_lines(session, member_ids, unit_ids, as_of)
    lines.sort(key=lambda ln: (payer_key(ln.number) != key, ln.number))
    return lines[:limit]


def resolve(session: Session, texts: Iterable[str]) -> dict[str, list[tuple[str, uuid.UUID]]]:
    """Each typed number or plate -> the payers it names, as ("member" | "unit", id): none,
    one, or more than one (a member number that reads like a plate, once case, spaces and
    dashes are set aside)."""
    keys = {t: payer_key(t) for t in texts}
    wanted = {k for k in keys.values() if k}
    found: dict[str, list[tuple[str, uuid.UUID]]] = {}
    org = _org_of(session)
    for chunk in _chunks(sorted(wanted)):
        stmt = union_all(
            select(
                literal("member", String).label("kind"),
                Member.id,
                _key_sql(Member.member_number).label("key"),
            ).where(Member.organisation_id == org, _key_sql(Member.member_number).in_(chunk)),
            select(
                literal("unit", String).label("kind"),
                TransportUnit.id,
                _key_sql(TransportUnit.registration).label("key"),
            ).where(
                TransportUnit.organisation_id == org,
                _key_sql(TransportUnit.registration).in_(chunk),
            ),
        )
        for kind, pid, key in session.execute(stmt):
            found.setdefault(key, []).append((kind, pid))
    return {text: found.get(key, []) for text, key in keys.items()}


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
