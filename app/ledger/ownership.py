"""Who may write where: manual entries touch manual accounts, a service's entries are its own.

Every account and entry carries an `Owner` (see accounts.Owner). `manual` is the organisation's
own books: the accounts it opened for manual use (POST /accounts, its bank and treasury
accounts) and the entries made by hand in the journal. Every other owner is a service, whose
rows (receipts, batches, funds...) agree with those accounts and entries; `coopledger verify`
checks that they do. So:

- a manual entry (`post_manual`) may touch only manual accounts (422 naming the posting's
  field and the account's owner);
- the journal reverses only manual entries (`reverse_manual`); an entry a service made is
  undone by that service's own operation (409 naming the owner and the operation);
- money that leaves a service for the organisation's books lands in a manual account
  (`manual_account`, e.g. a hand-over's destination).

The ledger does not know the services: each registers how its owner kind is named and undone
(`register`), and may give a label for a reference (a receipt's number for its id).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.audit import Actor
from app.core.errors import Conflict, ValidationFailed
from app.core.messages import N_, Template
from app.ledger import accounts, posting
from app.ledger.accounts import Owner
from app.ledger.models import MANUAL, Account, AccountType
from app.ledger.posting import Line

RESERVED_CODE = Template(
    "account.code_reserved", N_("codes starting %(prefix)s are kept for the accounts of %(owner)s")
)
SERVICE_ACCOUNT = Template(
    "entry.service_account",
    N_(
        "account %(code)s belongs to %(owner)s: a manual entry may touch only accounts opened "
        "for manual use"
    ),
)
REASON_NEEDED = Template("reversal.no_reason", N_("a reversal needs a reason"))
SERVICE_ENTRY = Template(
    "entry.owned_by_service", N_("this entry belongs to %(owner)s: %(remedy)s")
)
NO_SUCH_ACCOUNT = Template("account.unknown_here", N_("no such account in this organisation"))
SERVICE_DESTINATION = Template(
    "account.not_bank_or_treasury",
    N_("must be a bank or treasury account; account %(code)s belongs to %(owner)s"),
)
NOT_ASSET_IN = Template("account.not_asset_in", N_("must be an asset account in %(currency)s"))


@dataclass(frozen=True, slots=True)
class OwnerKind:
    noun: str  # how an owner of this kind is named: "receipt", "fund"
    undo: str  # how its entries are undone, for the journal's refusal
    label: Callable[[Session, str], str | None] | None = None  # a reference, for people


_KINDS: dict[str, OwnerKind] = {}


def register(
    kind: str,
    *,
    noun: str,
    undo: str,
    label: Callable[[Session, str], str | None] | None = None,
) -> None:
    """Say how a service's owner kind is named and how its entries are undone (at import)."""
    _KINDS[kind] = OwnerKind(noun, undo, label)


_RESERVED: dict[str, str] = {}  # account code prefix -> who keeps the accounts under it


def reserve(prefix: str, owner: str) -> None:
    """Keep the account codes under `prefix` for a service's own accounts (at import).

    Services find some of their accounts by code (fee income, the hand-over differences, a
    fund's commission accounts are opened on first use): an account opened by hand under
    that code first would be taken for theirs and stay open to manual entries."""
    _RESERVED[prefix.upper()] = owner


def open_manual_account(
    session: Session, actor: Actor, *, code: str, name: str, type: AccountType, currency: str
) -> Account:
    """Open an account for manual use (POST /accounts): a code a service keeps is 422
    naming `code`."""
    for prefix, owner in _RESERVED.items():
        if code.upper().startswith(prefix):
            raise ValidationFailed.field("code", RESERVED_CODE(prefix=prefix, owner=owner))
    return accounts.open_account(session, actor, code=code, name=name, type=type, currency=currency)


def describe(session: Session, owner: Owner) -> str:
    """The owner in words: "receipt 42", "fund AFP", "collections"."""
    known = _KINDS.get(owner.kind)
    noun = known.noun if known else owner.kind.replace("_", " ")
    if owner.ref is None:
        return noun
    ref = owner.ref
    if known is not None and known.label is not None:
        ref = known.label(session, owner.ref) or ref
    return f"{noun} {ref}"


def undo_text(owner: Owner) -> str:
    known = _KINDS.get(owner.kind)
    return known.undo if known else "undo it through the operation that made it"


def refuse_foreign_accounts(session: Session, lines: Sequence[Line]) -> None:
    """422 naming the first posting (`postings.N.account_id`) on an account a service keeps."""
    ids = {ln.account_id for ln in lines}
    owned = {
        a.id: a
        for a in session.scalars(
            select(Account).where(Account.id.in_(ids), Account.owner != MANUAL)
        )
    }
    for i, ln in enumerate(lines):
        account = owned.get(ln.account_id)
        if account is not None:
            owner = describe(session, accounts.owner_of(account))
            raise ValidationFailed.field(
                f"postings.{i}.account_id", SERVICE_ACCOUNT(code=account.code, owner=owner)
            )


def post_manual(
    session: Session,
    actor: Actor,
    *,
    description: str,
    effective_on: date,
    lines: Sequence[Line],
) -> uuid.UUID:
    """Post an entry made by hand (kind and owner `manual`): only on manual accounts (422)."""
    refuse_foreign_accounts(session, lines)
    return posting.post(
        session,
        actor,
        description=description,
        effective_on=effective_on,
        lines=lines,
        kind="manual",
        owner=accounts.MANUAL_OWNER,
    )


def reverse_manual(
    session: Session,
    actor: Actor,
    entry_id: uuid.UUID,
    *,
    reason: str,
    effective_on: date | None = None,
) -> uuid.UUID:
    """Reverse an entry made by hand; an entry a service owns is 409 naming its owner and the
    operation that undoes it ("this entry belongs to receipt 42: reverse the receipt"). A
    blank reason is 422 naming `reason`."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed.field("reason", REASON_NEEDED())
    entry = posting.get_entry(session, entry_id)
    owner = accounts.owner_of(entry)
    if not owner.is_manual:
        raise Conflict(SERVICE_ENTRY(owner=describe(session, owner), remedy=undo_text(owner)))
    return posting.reverse(session, actor, entry_id, reason=reason, effective_on=effective_on)


def manual_account(
    session: Session,
    account_id: uuid.UUID,
    *,
    field: str,
    currency: str,
) -> Account:
    """An asset account in `currency` that the organisation opened for manual use (its bank,
    treasury...): where money leaving a service lands. 422 naming `field` otherwise, naming
    the owner of a service's account."""
    account = session.scalar(select(Account).where(Account.id == account_id))
    if account is None:
        raise ValidationFailed.field(field, NO_SUCH_ACCOUNT())
    if account.owner != MANUAL:
        owner = describe(session, accounts.owner_of(account))
        raise ValidationFailed.field(field, SERVICE_DESTINATION(code=account.code, owner=owner))
    if account.type != AccountType.asset.value or account.currency != currency:
        raise ValidationFailed.field(field, NOT_ASSET_IN(currency=currency))
    return account
