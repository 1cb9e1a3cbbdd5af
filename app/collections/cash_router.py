"""HTTP endpoints for collectors and hand-overs of their cash (included by collections.router)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy import select, tuple_

from app.collections import access, cash
from app.collections.models import Collector, Handover
from app.collections.schemas import CollectorRead, CollectorUpdate, HandoverCreate, HandoverRead
from app.core.deps import Caller, DbSession, Principal
from app.core.idempotency import IdempotencyKey, fingerprint, run_idempotent
from app.core.money import format_minor
from app.core.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from app.core.roles import Role
from app.core.schemas import Page
from app.ledger import service as ledger
from app.ledger.models import Account

router = APIRouter(tags=["collectors and hand-overs"])

Reader = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer, Role.auditor))]
Manager = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer))]
HandoverTaker = Annotated[Principal, Depends(Caller(Role.treasurer, Role.collector))]
HandoverReader = Annotated[
    Principal, Depends(Caller(Role.admin, Role.treasurer, Role.auditor, Role.collector))
]


def collector_reads(session: DbSession, rows: list[Collector]) -> list[CollectorRead]:
    balances = ledger.balances(session, [c.cash_account_id for c in rows])
    currencies = dict(
        session.execute(
            select(Account.id, Account.currency).where(
                Account.id.in_([c.cash_account_id for c in rows])
            )
        ).all()
    )
    names = cash.usernames(session, rows)
    return [
        CollectorRead(
            id=c.id,
            name=c.name,
            kind=cash.collector_kind(c),
            username=names.get(c.user_id) if c.user_id else None,
            group=c.group,
            cash_account_id=c.cash_account_id,
            # an asset account: its debit balance is the cash held
            cash_balance=format_minor(balances[c.cash_account_id], currencies[c.cash_account_id]),
            currency=currencies[c.cash_account_id],
            created_at=c.created_at,
        )
        for c in rows
    ]


@router.get("/collectors", response_model=Page[CollectorRead])
def list_collectors(
    session: DbSession,
    who: Reader,
    group: Annotated[str | None, Query(max_length=120, description="only this group")] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[CollectorRead]:
    """Every collector (each user or API key with role collector), by name, with the cash
    it holds now."""
    stmt = select(Collector).order_by(Collector.name, Collector.id)
    if group is not None:
        stmt = stmt.where(Collector.group == group)
    after = decode_cursor(cursor, 2)
    if after:
        stmt = stmt.where(tuple_(Collector.name, Collector.id) > tuple_(*after))
    rows = list(session.scalars(stmt.limit(limit + 1)))
    page = rows[:limit]
    nxt = encode_cursor([page[-1].name, page[-1].id]) if len(rows) > limit else None
    return Page(items=collector_reads(session, page), next_cursor=nxt)


@router.get("/collectors/{collector_id}", response_model=CollectorRead)
def get_collector(collector_id: uuid.UUID, session: DbSession, who: Reader) -> CollectorRead:
    return collector_reads(session, [cash.get_collector(session, collector_id)])[0]


@router.patch("/collectors/{collector_id}", response_model=CollectorRead)
def update_collector(
    collector_id: uuid.UUID, body: CollectorUpdate, session: DbSession, who: Manager
) -> CollectorRead:
    """Set the collector's group (e.g. the union branch); `null` clears it."""
    collector = cash.set_group(session, who.actor, collector_id, body.group)
    return collector_reads(session, [collector])[0]


# -- hand-overs ---------------------------------------------------------------------------------


def handover_read(h: Handover) -> HandoverRead:
    diff = h.difference
    return HandoverRead(
        id=h.id,
        collector_id=h.collector_id,
        amount=format_minor(h.amount, h.currency),
        counted_amount=format_minor(h.counted_amount, h.currency),
        difference=format_minor(diff, h.currency),
        outcome="exact" if diff == 0 else ("shortfall" if diff < 0 else "surplus"),
        currency=h.currency,
        to_account_id=h.to_account_id,
        handed_over_at=h.handed_over_at,
        reference=h.reference,
        journal_id=h.journal_id,
        created_at=h.created_at,
        created_by=h.created_by,
    )


@router.post(
    "/handovers",
    status_code=201,
    response_model=HandoverRead,
    responses={
        403: {"description": "a collector hands over its own cash only"},
        409: {"description": "Idempotency-Key reused with another payload"},
        422: {"description": "invalid request; `errors` names each field"},
    },
)
def create_handover(
    body: HandoverCreate,
    session: DbSession,
    who: HandoverTaker,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Move a collector's cash to a bank or treasury account. Where `counted_amount` differs
    from `amount`, the difference is booked as a shortfall (expense) or surplus (income) and
    shown in the answer, never hidden. A collector may record its own hand-over only.

    `to_account_id` is an asset account in the organisation's currency opened for manual use
    (POST /accounts, the bank or the desk cash): never a collector's cash account (its own or
    another's) nor any other account a service keeps (422 naming `to_account_id` and the
    owner). `counted_amount` is at most twice `amount` (422 naming `counted_amount`): a count
    typed with an extra digit would otherwise book a surplus no cash stands behind."""

    def operation() -> tuple[int, HandoverRead]:
        access.handover_collector(session, who, body.collector_id)
        amount, counted = cash.handover_amounts(
            body.amount, body.counted_amount, body.currency, who.currency, body.handed_over_at
        )
        handover = cash.hand_over(
            session,
            who.actor,
            cash.HandoverDraft(
                collector_id=body.collector_id,
                amount=amount,
                counted_amount=counted,
                currency=body.currency,
                to_account_id=body.to_account_id,
                handed_over_at=body.handed_over_at,
                reference=body.reference,
            ),
        )
        return 201, handover_read(handover)

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint("POST", "/handovers", body.model_dump(mode="json")),
        operation,
    )


@router.get("/handovers", response_model=Page[HandoverRead])
def list_handovers(
    session: DbSession,
    who: HandoverReader,
    collector_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[HandoverRead]:
    """Hand-overs, newest first. A collector sees its own only."""
    seen = access.handovers_seen(session, who)
    stmt = select(Handover).where(*seen)
    stmt = stmt.order_by(Handover.handed_over_at.desc(), Handover.id.desc())
    if collector_id is not None and not seen:  # a collector's list is its own whatever it names
        stmt = stmt.where(Handover.collector_id == collector_id)
    after = decode_cursor(cursor, 2)
    if after:
        stmt = stmt.where(tuple_(Handover.handed_over_at, Handover.id) < tuple_(*after))
    rows = list(session.scalars(stmt.limit(limit + 1)))
    page = rows[:limit]
    nxt = encode_cursor([page[-1].handed_over_at, page[-1].id]) if len(rows) > limit else None
    return Page(items=[handover_read(h) for h in page], next_cursor=nxt)


@router.get("/handovers/{handover_id}", response_model=HandoverRead)
def get_handover(handover_id: uuid.UUID, session: DbSession, who: HandoverReader) -> HandoverRead:
    handover = access.visible_handover(session, who, cash.get_handover(session, handover_id))
    return handover_read(handover)
