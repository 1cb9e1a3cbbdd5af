"""HTTP endpoints of the ledger: /accounts and /journal."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select, tuple_

from app.core import audit
from app.core.deps import READERS, Caller, DbSession, Principal
from app.core.errors import ValidationFailed
from app.core.idempotency import IdempotencyKey, fingerprint, run_idempotent
from app.core.messages import MUST_BE_POSITIVE, N_, Template
from app.core.money import MoneyError, format_minor, parse_minor
from app.core.pagination import CursorParam, Limit, decode_cursor, encode_cursor
from app.core.roles import Role
from app.core.schemas import BusinessDate, Page
from app.ledger import ownership, service
from app.ledger.models import Account, AccountType, JournalEntry, Posting
from app.ledger.schemas import (
    AccountCreate,
    AccountRead,
    BalanceRead,
    HistoryLineRead,
    JournalCreate,
    JournalRead,
    PostingRead,
    ReverseRequest,
)

router = APIRouter(tags=["ledger"])

UNKNOWN_ACCOUNT = Template("posting.no_such_account", N_("no such account"))

Reader = Annotated[Principal, Depends(Caller(*READERS))]
AccountWriter = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer))]
Treasurer = Annotated[Principal, Depends(Caller(Role.treasurer))]


@router.post("/accounts", status_code=201, response_model=AccountRead)
def open_account(body: AccountCreate, session: DbSession, who: AccountWriter) -> Account:
    """Open an account for the organisation's own use: a bank or treasury account, an expense,
    a loan... Manual entries (POST /journal) may touch it, and an asset account opened here is
    a valid destination for a hand-over or a settlement.

    The accounts the services open themselves (a fund's owed, in-transit, custody and
    commission accounts, a collector's cash, a member's or unit's prepaid credit, fee income,
    the hand-over shortfall and surplus) belong to those services: they change only through
    the services' operations, never by a manual entry (see docs/ledger.md)."""
    account = ownership.open_manual_account(
        session, who.actor, code=body.code, name=body.name, type=body.type, currency=body.currency
    )
    audit.record(
        session, who.actor, "account.open", "account", account.id, body.model_dump(mode="json")
    )
    return account


@router.get("/accounts", response_model=Page[AccountRead])
def list_accounts(
    session: DbSession, who: Reader, limit: Limit = 50, cursor: CursorParam = None
) -> Page[AccountRead]:
    after = decode_cursor(cursor, 1)
    stmt = select(Account).order_by(Account.code).limit(limit + 1)
    if after:
        stmt = stmt.where(Account.code > after[0])
    rows = list(session.scalars(stmt))
    nxt = encode_cursor([rows[limit - 1].code]) if len(rows) > limit else None
    return Page(items=[AccountRead.model_validate(a) for a in rows[:limit]], next_cursor=nxt)


@router.get("/accounts/{account_id}", response_model=AccountRead)
def get_account(account_id: uuid.UUID, session: DbSession, who: Reader) -> Account:
    return service.get_account(session, account_id)


@router.get("/accounts/{account_id}/balance", response_model=BalanceRead)
def get_balance(
    account_id: uuid.UUID, session: DbSession, who: Reader, as_of: BusinessDate | None = None
) -> BalanceRead:
    bal = service.balance(session, account_id, as_of)
    return BalanceRead(
        account_id=account_id,
        currency=bal.account.currency,
        balance=format_minor(bal.signed, bal.account.currency),
        as_of=as_of,
    )


@router.get("/accounts/{account_id}/history", response_model=Page[HistoryLineRead])
def account_history(
    account_id: uuid.UUID,
    session: DbSession,
    who: Reader,
    limit: Limit = 50,
    cursor: CursorParam = None,
    from_: Annotated[BusinessDate | None, Query(alias="from")] = None,
    to: BusinessDate | None = None,
) -> Page[HistoryLineRead]:
    """The account's postings, newest first, each with the balance after it."""
    before = decode_cursor(cursor, 3)
    account, lines, next_key = service.history(
        session,
        account_id,
        limit=limit,
        before=before,
        from_on=from_,
        to_on=to,
    )
    sign = AccountType(account.type).normal_sign
    items = [
        HistoryLineRead(
            entry_id=ln.posting.entry_id,
            posting_id=ln.posting.id,
            effective_on=ln.posting.effective_on,
            recorded_at=ln.posting.recorded_at,
            description=ln.description,
            kind=ln.kind,
            amount=format_minor(abs(ln.posting.amount), account.currency),
            direction="debit" if ln.posting.amount > 0 else "credit",
            balance_after=format_minor(ln.balance_after * sign, account.currency),
        )
        for ln in lines
    ]
    return Page(items=items, next_cursor=encode_cursor(next_key) if next_key else None)


# -- journal ------------------------------------------------------------------------------------


def journal_read(session: DbSession, entries: list[JournalEntry]) -> list[JournalRead]:
    postings = service.entry_postings(session, [e.id for e in entries])
    reversed_by = service.reversal_of(session, [e.id for e in entries])
    return [
        JournalRead(
            id=e.id,
            description=e.description,
            effective_on=e.effective_on,
            recorded_at=e.recorded_at,
            kind=e.kind,
            created_by=e.created_by,
            reverses_id=e.reverses_id,
            reversed_by_id=reversed_by.get(e.id),
            reason=e.reason,
            owner=e.owner,
            owner_ref=e.owner_ref,
            postings=[_posting_read(p) for p in postings[e.id]],
        )
        for e in entries
    ]


def _posting_read(p: Posting) -> PostingRead:
    return PostingRead(
        id=p.id,
        account_id=p.account_id,
        amount=format_minor(abs(p.amount), p.currency),
        direction="debit" if p.amount > 0 else "credit",
        currency=p.currency,
    )


@router.post(
    "/journal",
    status_code=201,
    response_model=JournalRead,
    responses={409: {"description": "Idempotency-Key reused with another payload"}},
)
def post_journal(
    body: JournalCreate,
    request: Request,
    session: DbSession,
    who: Treasurer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Post a balanced manual entry (postings must balance per currency).

    A manual entry may touch only accounts opened for manual use (POST /accounts, and the
    organisation's bank, treasury, desk-cash and clearing accounts). A posting on an account a
    service keeps is 422 naming the posting's field and the owner (`postings.1.account_id`:
    "account FUND:AFP:OWED belongs to fund AFP: ..."), and nothing is written."""

    def operation() -> tuple[int, JournalRead]:
        accounts = {
            a.id: a
            for a in session.scalars(
                select(Account).where(Account.id.in_({p.account_id for p in body.postings}))
            )
        }
        lines = []
        for i, p in enumerate(body.postings):
            account = accounts.get(p.account_id)
            if account is None:
                raise ValidationFailed.field(f"postings.{i}.account_id", UNKNOWN_ACCOUNT())
            try:
                minor = parse_minor(p.amount, account.currency)
            except MoneyError as exc:
                raise ValidationFailed.field(f"postings.{i}.amount", exc.message) from None
            if minor == 0:
                raise ValidationFailed.field(f"postings.{i}.amount", MUST_BE_POSITIVE())
            signed = minor if p.direction == "debit" else -minor
            lines.append(service.Line(account.id, signed, f"postings.{i}.amount"))
        entry_id = ownership.post_manual(
            session,
            who.actor,
            description=body.description,
            effective_on=body.effective_on,
            lines=lines,
        )
        audit.record(session, who.actor, "journal.post", "journal_entry", entry_id)
        return 201, journal_read(session, [service.get_entry(session, entry_id)])[0]

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint("POST", "/journal", body.model_dump(mode="json")),
        operation,
    )


@router.get("/journal", response_model=Page[JournalRead])
def list_journal(
    session: DbSession,
    who: Reader,
    account_id: uuid.UUID | None = None,
    from_: Annotated[BusinessDate | None, Query(alias="from")] = None,
    to: BusinessDate | None = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[JournalRead]:
    """Entries, most recently recorded first; `account_id` keeps those touching an account."""
    stmt = select(JournalEntry).order_by(JournalEntry.recorded_at.desc(), JournalEntry.id.desc())
    if account_id is not None:
        touching = select(Posting.entry_id).where(Posting.account_id == account_id)
        stmt = stmt.where(JournalEntry.id.in_(touching))
    if from_ is not None:
        stmt = stmt.where(JournalEntry.effective_on >= from_)
    if to is not None:
        stmt = stmt.where(JournalEntry.effective_on <= to)
    after = decode_cursor(cursor, 2)
    if after:
        stmt = stmt.where(tuple_(JournalEntry.recorded_at, JournalEntry.id) < tuple_(*after))
    rows = list(session.scalars(stmt.limit(limit + 1)))
    page = rows[:limit]
    nxt = encode_cursor([page[-1].recorded_at, page[-1].id]) if len(rows) > limit else None
    return Page(items=journal_read(session, page), next_cursor=nxt)


@router.get("/journal/{entry_id}", response_model=JournalRead)
def get_journal(entry_id: uuid.UUID, session: DbSession, who: Reader) -> JournalRead:
    return journal_read(session, [service.get_entry(session, entry_id)])[0]


@router.post("/journal/{entry_id}/reverse", status_code=201, response_model=JournalRead)
def reverse_journal(
    entry_id: uuid.UUID,
    body: ReverseRequest,
    session: DbSession,
    who: Treasurer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Post the exact mirror of a manual entry. Once: a second reversal is 409.

    An entry a service made (a receipt's, a hand-over's, a batch's seal, rejection or
    settlement, a commission's, prepaid credit applied) is undone only by that service's own
    operation: 409 naming the owner and the operation ("this entry belongs to receipt 42:
    reverse the receipt ..."). `reason` is trimmed; a blank one is 422 naming `reason`."""

    def operation() -> tuple[int, JournalRead]:
        reversal_id = ownership.reverse_manual(
            session, who.actor, entry_id, reason=body.reason, effective_on=body.effective_on
        )
        audit.record(
            session,
            who.actor,
            "journal.reverse",
            "journal_entry",
            entry_id,
            {"reversal_id": str(reversal_id), "reason": body.reason},
        )
        return 201, journal_read(session, [service.get_entry(session, reversal_id)])[0]

    return run_idempotent(
        session,
        who,
        idempotency_key,
        fingerprint("POST", f"/journal/{entry_id}/reverse", body.model_dump(mode="json")),
        operation,
    )
