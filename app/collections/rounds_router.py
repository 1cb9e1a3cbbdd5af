"""HTTP endpoints for the collector app: the caller's own collector, its day and its round;
and for treasurers, setting rounds (included by collections.router before `/collectors/{id}`)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import func, select

from app.collections import access, cash, rounds
from app.collections.cash_router import collector_reads, handover_read
from app.collections.models import Collector, Handover, Receipt
from app.collections.schemas import (
    CollectorDay,
    CollectorMe,
    OrganisationBrief,
    PayerSearchRead,
    RoundPayerRead,
    RoundRead,
    RoundSet,
)
from app.collections.vocabulary import ReceiptStatus
from app.core import clock
from app.core.deps import Caller, DbSession, Principal
from app.core.money import format_minor
from app.core.roles import Role
from app.identity.models import Organisation

router = APIRouter(tags=["collectors and hand-overs"])

Self = Annotated[Principal, Depends(Caller(Role.collector))]
Reader = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer, Role.auditor))]
Manager = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer))]
AsOf = Annotated[
    date | None, Query(description="the organisation's day for the figures (default: today)")
]
Group = Annotated[str, Path(min_length=1, max_length=120, description="the collector group")]


def _me(session: DbSession, who: Principal) -> Collector:
    collector = access.own_collector(session, who)
    assert collector is not None  # Caller(Role.collector) let only collectors in
    return collector


def _round_read(
    lines: list[rounds.RoundLine],
    as_of: date,
    currency: str,
    *,
    collector_id: uuid.UUID | None = None,
    group: str | None = None,
) -> RoundRead:
    return RoundRead(
        as_of=as_of,
        currency=currency,
        collector_id=collector_id,
        group=group,
        items=_payers(lines, currency),
    )


def _payers(lines: list[rounds.RoundLine], currency: str) -> list[RoundPayerRead]:
    return [
        RoundPayerRead(
            kind="member" if ln.kind == "member" else "unit",
            member_id=ln.member_id,
            unit_id=ln.unit_id,
            member_number=ln.number if ln.kind == "member" else None,
            registration=ln.number if ln.kind == "unit" else None,
            name=ln.name,
            due_today=format_minor(ln.due_today, currency),
            arrears=format_minor(ln.arrears, currency),
            paid_through=ln.paid_through,
        )
        for ln in lines
    ]


def _collector_round(
    session: DbSession, collector: Collector, as_of: date, currency: str
) -> RoundRead:
    members, units = rounds.round_payers(session, collector)
    lines = rounds.round_lines(session, members, units, as_of)
    return _round_read(lines, as_of, currency, collector_id=collector.id, group=collector.group)


@router.get("/collectors/me", response_model=CollectorMe)
def get_me(session: DbSession, who: Self) -> CollectorMe:
    """The calling collector: the cash it holds, its organisation (with the time zone that
    makes its days), what it has posted today and its last hand-over. The collector app shows
    these on its "Today" screen."""
    collector = _me(session, who)
    org = session.get(Organisation, who.organisation_id)
    assert org is not None
    today = clock.today(org.time_zone)
    start, end = clock.day_bounds(today, org.time_zone)
    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(Receipt.amount), 0)).where(
            Receipt.collector_id == collector.id,
            Receipt.status == ReceiptStatus.posted.value,
            Receipt.received_at >= start,
            Receipt.received_at < end,
        )
    ).one()
    last = session.scalar(
        select(Handover)
        .where(Handover.collector_id == collector.id)
        .order_by(Handover.handed_over_at.desc(), Handover.id.desc())
        .limit(1)
    )
    base = collector_reads(session, [collector])[0]
    return CollectorMe(
        **base.model_dump(),
        organisation=OrganisationBrief(
            code=org.code, name=org.name, currency=org.currency, time_zone=org.time_zone
        ),
        today=CollectorDay(on=today, receipts=count, total=format_minor(int(total), org.currency)),
        last_handover=handover_read(last) if last is not None else None,
    )


@router.get("/collectors/me/round", response_model=RoundRead)
def get_my_round(session: DbSession, who: Self, as_of: AsOf = None) -> RoundRead:
    """The payers of the caller's round (its own and its group's), each with what it owes on
    `as_of`: `due_today`, `arrears`, `paid_through`. The collector app keeps it for offline use."""
    day = as_of or clock.today(who.time_zone)
    return _collector_round(session, _me(session, who), day, who.currency)


@router.get("/collectors/me/payers", response_model=PayerSearchRead)
def search_payers(
    session: DbSession,
    who: Self,
    q: Annotated[str, Query(min_length=1, max_length=64, description="number, plate or name")],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    as_of: AsOf = None,
) -> PayerSearchRead:
    """Every active member and unit of the organisation whose number, plate or name contains
    `q` (an exact number or plate first), with the round's figures: for a payer off the round."""
    day = as_of or clock.today(who.time_zone)
    lines = rounds.search(session, q, day, limit=limit)
    return PayerSearchRead(as_of=day, currency=who.currency, items=_payers(lines, who.currency))


@router.get("/collectors/{collector_id}/round", response_model=RoundRead)
def get_round(
    collector_id: uuid.UUID, session: DbSession, who: Reader, as_of: AsOf = None
) -> RoundRead:
    """A collector's round as its app sees it: its own payers and its group's."""
    day = as_of or clock.today(who.time_zone)
    return _collector_round(session, cash.get_collector(session, collector_id), day, who.currency)


@router.put(
    "/collectors/{collector_id}/round",
    response_model=RoundRead,
    responses={422: {"description": "an id names no payer of the organisation"}},
)
def set_collector_round(
    collector_id: uuid.UUID, body: RoundSet, session: DbSession, who: Manager
) -> RoundRead:
    """Make the collector's own round exactly these members and units (its group's round
    still comes with it). Idempotent: the same lists again change nothing."""
    collector = cash.get_collector(session, collector_id)
    rounds.set_round(
        session, who.actor, collector=collector, member_ids=body.member_ids, unit_ids=body.unit_ids
    )
    return _collector_round(session, collector, clock.today(who.time_zone), who.currency)


@router.get("/collector-groups/{group}/round", response_model=RoundRead)
def get_group_round(group: Group, session: DbSession, who: Reader, as_of: AsOf = None) -> RoundRead:
    """The round every collector of `group` shares."""
    day = as_of or clock.today(who.time_zone)
    members, units = rounds.group_payers(session, group)
    return _round_read(
        rounds.round_lines(session, members, units, day), day, who.currency, group=group
    )


@router.put(
    "/collector-groups/{group}/round",
    response_model=RoundRead,
    responses={422: {"description": "an id names no payer of the organisation"}},
)
def set_group_round(group: Group, body: RoundSet, session: DbSession, who: Manager) -> RoundRead:
    """Make the round of every collector of `group` (e.g. a union branch or a route) exactly
    these members and units, on top of each collector's own round."""
    rounds.set_round(
        session, who.actor, group=group, member_ids=body.member_ids, unit_ids=body.unit_ids
    )
    day = clock.today(who.time_zone)
    members, units = rounds.group_payers(session, group)
    return _round_read(
        rounds.round_lines(session, members, units, day), day, who.currency, group=group
    )
