"""The ledger's accounts: who keeps them (`Owner`), opening them one by one or in bulk, finding
them by id or code.

Services never commit: the caller's unit of work does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.core.audit import Actor
from app.core.database import bound_organisation, utcnow
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.ids import uuid7
from app.core.messages import N_, Template
from app.core.money import MoneyError, check_currency
from app.ledger.models import MANUAL, Account, AccountType, JournalEntry

CODE_TAKEN = Template("account.code_taken", N_("an account with code %(code)s already exists"))
CODE_TWICE = Template("account.code_twice", N_("account code %(code)s is given twice"))
NOT_FOUND = Template("account.not_found", N_("no account %(id)s"))

# -- owners -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Owner:
    """Who keeps an account or an entry: `manual` (the organisation's own books, the journal
    API) or a service's kind and which one of it (`Owner("fund", "AFP")`). The ledger stores
    it and enforces only what `manual` means (see app/ledger/ownership.py); it never reads
    the services' tables to interpret the rest."""

    kind: str
    ref: str | None = None

    @property
    def is_manual(self) -> bool:
        return self.kind == MANUAL


MANUAL_OWNER = Owner(MANUAL)


def owner_of(row: Account | JournalEntry) -> Owner:
    return Owner(row.owner, row.owner_ref)


# -- accounts -----------------------------------------------------------------------------------


def open_account(
    session: Session,
    actor: Actor,
    *,
    code: str,
    name: str,
    type: AccountType | str,
    currency: str,
    owner: Owner = MANUAL_OWNER,
) -> Account:
    """Open an account; the code is unique in the organisation (409 if taken).

    A service opening an account it keeps passes itself as `owner`; the default is an account
    for manual use (the organisation's bank, treasury or other books)."""
    try:
        currency = check_currency(currency)
    except MoneyError as exc:
        raise ValidationFailed.field("currency", exc.message) from None
    org = organisation_of(session)
    taken = session.scalar(select(Account.id).where(Account.code == code))
    if taken is not None:
        raise Conflict(CODE_TAKEN(code=repr(code)))
    account = Account(
        organisation_id=org,
        id=uuid7(),
        code=code,
        name=name,
        type=AccountType(type).value,
        currency=currency,
        created_by=actor.name,
        owner=owner.kind,
        owner_ref=owner.ref,
    )
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, account_id: uuid.UUID) -> Account:
    account = session.scalar(select(Account).where(Account.id == account_id))
    if account is None:
        raise NotFound(NOT_FOUND(id=account_id))
    return account


def account_by_code(session: Session, code: str) -> Account | None:
    return session.scalar(select(Account).where(Account.code == code))


def ensure_account(
    session: Session,
    actor: Actor,
    *,
    code: str,
    name: str,
    type: AccountType,
    currency: str,
    owner: Owner = MANUAL_OWNER,
) -> Account:
    """The account with this code, opened first (for `owner`) if the organisation has none yet."""
    return account_by_code(session, code) or open_account(
        session, actor, code=code, name=name, type=type, currency=currency, owner=owner
    )


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account to open in bulk (see `open_accounts`)."""

    code: str
    name: str
    type: AccountType
    currency: str
    owner: Owner = MANUAL_OWNER


def open_accounts(
    session: Session, actor: Actor, specs: Sequence[AccountSpec]
) -> dict[str, uuid.UUID]:
    """Open many accounts in a few statements (a member import opens thousands).

    Returns {code: id}. Every code must be new in the organisation and appear once (409
    naming the first taken code otherwise); nothing is opened if any is refused.
    """
    if not specs:
        return {}
    org = organisation_of(session)
    codes = [s.code for s in specs]
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise Conflict(CODE_TWICE(code=repr(code)))
        seen.add(code)
    for i in range(0, len(codes), 1000):
        taken = session.scalar(
            select(Account.code).where(Account.code.in_(codes[i : i + 1000])).limit(1)
        )
        if taken is not None:
            raise Conflict(CODE_TAKEN(code=repr(taken)))
    now = utcnow()
    rows: list[dict[str, Any]] = []
    opened: dict[str, uuid.UUID] = {}
    for s in specs:
        try:
            currency = check_currency(s.currency)
        except MoneyError as exc:
            raise ValidationFailed.field("currency", exc.message) from None
        opened[s.code] = uuid7()
        rows.append(
            {
                "organisation_id": org,
                "id": opened[s.code],
                "code": s.code,
                "name": s.name,
                "type": AccountType(s.type).value,
                "currency": currency,
                "created_at": now,
                "created_by": actor.name,
                "owner": s.owner.kind,
                "owner_ref": s.owner.ref,
            }
        )
    table: Any = Account.__table__
    for i in range(0, len(rows), 5000):
        # Core executemany: one prepared statement, pipelined, no ORM bookkeeping per row
        session.execute(insert(table), rows[i : i + 5000])
    return opened


def organisation_of(session: Session) -> uuid.UUID:
    """The organisation the session is bound to; the ledger refuses to work unbound."""
    org = bound_organisation(session)
    if org is None:
        raise RuntimeError("the ledger needs a session bound to an organisation")
    return org
