"""Payers and what they owe: the reads every receipt, sheet and credit application needs.

Set-based: each read is one statement per kind of payer whatever the number of payers (on
PostgreSQL the ids travel as one array parameter), and the facts that never change once
committed come from `lookups`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import ARRAY, any_, bindparam, select
from sqlalchemy.orm import Session

from app.collections import lookups
from app.collections.allocation import DueQueue, OpenDue
from app.collections.vocabulary import PayerKind
from app.core import dialect
from app.core.database import bound_organisation
from app.funds.models import Fund
from app.members.models import Member, TransportUnit, UnitCrew
from app.schemes.models import Due, Enrolment, SchemeVersion
from app.schemes.service import Payer

CHUNK = 1000  # ids per IN list: far below every driver's parameter limit

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def among(session: Session, column: Any, values: Iterable[Any]) -> Iterator[Any]:
    """Criteria selecting rows whose `column` is one of `values`: one per statement to run.

    PostgreSQL takes the whole set as one array parameter (`= ANY(:values)`), so a sheet of
    2,000 receipts reads its payers in one statement; SQLite gets IN lists of CHUNK values.
    """
    ordered = sorted(set(values))
    if not ordered:
        return
    if dialect.is_postgres(session):
        yield column == any_(bindparam(None, ordered, type_=ARRAY(column.type)))
        return
    for chunk in chunks(ordered):
        yield column.in_(chunk)


def organisation(session: Session) -> uuid.UUID:
    org = bound_organisation(session)
    if org is None:
        raise RuntimeError("collections needs a session bound to an organisation")
    return org


# -- what a receipt needs to know ---------------------------------------------------------------


@dataclass(slots=True)
class PayerInfo:
    kind: PayerKind
    id: uuid.UUID
    label: str  # member number or registration
    credit_account_id: uuid.UUID
    attributed_to: list[uuid.UUID]  # the members a payment counts for

    @property
    def field(self) -> str:
        return PayerKind(self.kind).field


def load_payers(session: Session, payers: Iterable[Payer], *, lock: bool) -> dict[Payer, PayerInfo]:
    """The payers that exist, locked (`FOR NO KEY UPDATE`) when `lock`: members, then units.

    A unit's payments count for its covered crew; with no covered crew, for its owner; with
    neither, `attributed_to` is empty and nothing can be allocated for it.
    """
    member_ids = sorted({i for kind, i in payers if kind == PayerKind.member})
    unit_ids = sorted({i for kind, i in payers if kind == PayerKind.unit})
    out: dict[Payer, PayerInfo] = {}
    if member_ids and dialect.is_postgres(session):
        params = {"org": organisation(session), "ids": member_ids}
        for mid, number, account_id in dialect.run(
            session, _MEMBERS_LOCKED_PG if lock else _MEMBERS_PG, params
        ):
            out[(PayerKind.member, mid)] = PayerInfo(
                PayerKind.member, mid, number, account_id, [mid]
            )
        member_ids = []
    for criterion in among(session, Member.id, member_ids):
        stmt: Any = (
            select(Member.id, Member.member_number, Member.credit_account_id)
            .where(criterion)
            .order_by(Member.id)
        )
        if lock:
            stmt = stmt.with_for_update(key_share=True)
        for mid, number, account_id in session.execute(stmt):
            out[(PayerKind.member, mid)] = PayerInfo(
                PayerKind.member, mid, number, account_id, [mid]
            )
    owners: dict[uuid.UUID, uuid.UUID | None] = {}
    for criterion in among(session, TransportUnit.id, unit_ids):
        stmt = (
            select(
                TransportUnit.id,
                TransportUnit.registration,
                TransportUnit.credit_account_id,
                TransportUnit.owner_member_id,
            )
            .where(criterion)
            .order_by(TransportUnit.id)
        )
        if lock:
            stmt = stmt.with_for_update(key_share=True)
        for uid, registration, account_id, owner in session.execute(stmt):
            out[(PayerKind.unit, uid)] = PayerInfo(
                PayerKind.unit, uid, registration, account_id, []
            )
            owners[uid] = owner
    if owners:
        crews: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for criterion in among(session, UnitCrew.unit_id, owners):
            rows = session.execute(
                select(UnitCrew.unit_id, UnitCrew.member_id).where(
                    criterion, UnitCrew.covered.is_(True)
                )
            )
            for uid, mid in rows:
                crews[uid].append(mid)
        for uid, owner in owners.items():
            covered = sorted(crews.get(uid, []))
            out[(PayerKind.unit, uid)].attributed_to = covered or ([owner] if owner else [])
    return out


def units_paid_through(
    session: Session, member_ids: Iterable[uuid.UUID], on: date
) -> dict[uuid.UUID, list[str]]:
    """Members with no enrolment of their own running on or after `on` who are covered crew
    of a unit that has one: the units' registrations, per member. Their contributions are
    owed on the unit, so money left with the member would wait for dues that never come."""
    ids = set(member_ids)
    running = Enrolment.ends_on.is_(None) | (Enrolment.ends_on >= on)
    for criterion in among(session, Enrolment.member_id, ids):
        ids -= set(session.scalars(select(Enrolment.member_id).where(criterion, running)))
    out: dict[uuid.UUID, list[str]] = defaultdict(list)
    for criterion in among(session, UnitCrew.member_id, ids):
        rows = session.execute(
            select(UnitCrew.member_id, TransportUnit.registration)
            .join(
                TransportUnit,
                (TransportUnit.organisation_id == UnitCrew.organisation_id)
                & (TransportUnit.id == UnitCrew.unit_id),
            )
            .where(
                criterion,
                UnitCrew.covered.is_(True),
                select(Enrolment.id)
                .where(
                    Enrolment.organisation_id == UnitCrew.organisation_id,
                    Enrolment.unit_id == UnitCrew.unit_id,
                    running,
                )
                .exists(),
            )
            .order_by(UnitCrew.member_id, TransportUnit.registration)
        )
        for member_id, registration in rows:
            out[member_id].append(registration)
    return dict(out)


_MEMBERS_PG = (
    "SELECT id, member_number, credit_account_id FROM member "
    "WHERE organisation_id = %(org)s AND id = ANY(%(ids)b::uuid[]) ORDER BY id"
)
_MEMBERS_LOCKED_PG = _MEMBERS_PG + " FOR NO KEY UPDATE"


def load_open_dues(
    session: Session,
    payers: Iterable[Payer],
    currency: str,
    needs: Mapping[Payer, int] | None = None,
) -> dict[Payer, DueQueue]:
    """The payers' unpaid dues in `currency`, oldest first, with their scheme rules.

    With `needs` (minor units each payer is about to pay) PostgreSQL returns only the dues
    that money can reach: those whose older open dues owe less than it in all. A payer with
    a year of open daily dues paying one day reads one due, not three hundred.
    """
    payer_list = list(payers)
    cols = (
        Due.id,
        Due.member_id,
        Due.unit_id,
        Due.due_on,
        Due.period_start,
        Due.period_end,
        Due.amount,
        Due.paid,
        Due.scheme_version_id,
    )
    rows: list[Any] = []
    for kind, column in (("member", Due.member_id), ("unit", Due.unit_id)):
        ids = [i for k, i in payer_list if k == kind]
        if needs is not None and ids and dialect.is_postgres(session):
            rows.extend(
                reachable_dues(session, column, ids, [needs[(kind, i)] for i in ids], currency)
            )
            continue
        for criterion in among(session, column, ids):
            rows.extend(
                session.execute(
                    select(*cols).where(criterion, Due.paid < Due.amount, Due.currency == currency)
                )
            )
    return _queues(session, payer_list, rows)


def _queues(session: Session, payer_list: list[Payer], rows: list[Any]) -> dict[Payer, DueQueue]:
    """Each payer's open dues (`rows`), oldest first, with their scheme rules."""
    queues: dict[Payer, DueQueue] = {p: DueQueue() for p in payer_list}
    org = organisation(session)

    def read_rules(version_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
        found: dict[uuid.UUID, dict[str, Any]] = {}
        for criterion in among(session, SchemeVersion.id, version_ids):
            rows = session.execute(select(SchemeVersion.id, SchemeVersion.rules).where(criterion))
            found.update({vid: r for vid, r in rows})
        return found

    rules = lookups.cached(
        session, lookups.RULES, org, sorted({r.scheme_version_id for r in rows}), read_rules
    )
    for r in rows:
        payer: Payer = ("member", r.member_id) if r.member_id is not None else ("unit", r.unit_id)
        queues[payer].dues.append(
            OpenDue(
                r.id,
                r.due_on,
                r.period_start,
                r.period_end,
                int(r.amount) - int(r.paid),
                rules[r.scheme_version_id],
            )
        )
    for queue in queues.values():
        queue.sort()
    return queues


_REACHABLE = """
SELECT id, member_id, unit_id, due_on, period_start, period_end, amount, paid, scheme_version_id
FROM (
    SELECT due.id, due.member_id, due.unit_id, due.due_on, due.period_start, due.period_end,
           due.amount, due.paid, due.scheme_version_id, wanted.need,
           coalesce(sum(due.amount - due.paid) OVER (
               PARTITION BY due.{payer} ORDER BY due.due_on, due.period_start, due.id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS older
    FROM unnest(:ids, :needs) AS wanted(payer, need)
    JOIN due ON due.organisation_id = :org AND due.{payer} = wanted.payer
    WHERE due.paid < due.amount AND due.currency = :currency
) AS open_due
WHERE older < need
"""


def reachable_dues(
    session: Session, column: Any, ids: list[uuid.UUID], needs: list[int], currency: str
) -> list[Any]:
    """PostgreSQL: the open dues of these payers that `needs` can reach, oldest first."""
    cursor = dialect.run(
        session,
        _REACHABLE_BY[column.key],
        {"ids": ids, "needs": needs, "org": organisation(session), "currency": currency},
    )
    return _rows(cursor)


def _rows(cursor: Any) -> list[Any]:
    names = [c.name for c in cursor.description]
    return [_Row(zip(names, row, strict=True)) for row in cursor]


def lock_member_with_dues(
    session: Session, member_id: uuid.UUID, currency: str, need: int
) -> tuple[PayerInfo | None, DueQueue]:
    """PostgreSQL, a receipt from a member: lock the member, then read the open dues `need`
    can reach (after the lock is granted, so it sees every due paid by whoever held it)."""
    org = organisation(session)
    members = dialect.run(session, _MEMBERS_LOCKED_PG, {"org": org, "ids": [member_id]}).fetchall()
    rows = _rows(
        dialect.run(
            session,
            _REACHABLE_BY["member_id"],
            {"ids": [member_id], "needs": [need], "org": org, "currency": currency},
        )
    )
    payer: Payer = ("member", member_id)
    if not members:
        return None, DueQueue()
    mid, number, account_id = members[0]
    return PayerInfo(PayerKind.member, mid, number, account_id, [mid]), _queues(
        session, [payer], rows
    )[payer]


class _Row(dict[str, Any]):
    """A row whose columns read as attributes (as SQLAlchemy's rows do)."""

    def __getattr__(self, name: str) -> Any:
        return self[name]


_REACHABLE_BY = {
    payer: _REACHABLE.format(payer=payer)
    .replace(":ids", "%(ids)b::uuid[]")
    .replace(":needs", "%(needs)b::bigint[]")
    .replace(":org", "%(org)s")
    .replace(":currency", "%(currency)s")
    for payer in ("member_id", "unit_id")
}


@dataclass(frozen=True, slots=True)
class FundAccounts:
    fund_id: uuid.UUID
    owed_account_id: uuid.UUID


def load_funds(session: Session, codes: Iterable[str]) -> dict[str, FundAccounts]:
    """The organisation's funds with these codes (those that exist), by code."""

    def read(wanted: list[str]) -> dict[str, FundAccounts]:
        found: dict[str, FundAccounts] = {}
        for criterion in among(session, Fund.code, wanted):
            rows = session.execute(
                select(Fund.code, Fund.id, Fund.owed_account_id).where(criterion)
            )
            found.update({code: FundAccounts(fid, owed) for code, fid, owed in rows})
        return found

    return lookups.cached(session, lookups.FUNDS, organisation(session), sorted(set(codes)), read)


def fund_codes(queues: Iterable[DueQueue]) -> set[str]:
    """Every fund the payers' open dues split to."""
    return {str(s["fund"]) for q in queues for d in q.dues for s in d.rules["split"]}
