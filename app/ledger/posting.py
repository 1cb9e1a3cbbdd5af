"""The ledger's journal: post balanced entries (one or thousands), reverse them, read them back.

Every verb refuses unbalanced or non-representable input itself (422/409); the database
refuses it again (see models.py), so a bug elsewhere cannot write a broken book. Posting
also keeps the stored balances (`flush_balances`, applied before each commit) that
app/ledger/balances.py reads. Services never commit: the caller's unit of work does.
"""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import clock
from app.core import dialect as sql
from app.core.audit import Actor
from app.core.database import utcnow
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.ids import uuid7
from app.core.messages import N_, Template
from app.core.money import MAX_MINOR_UNITS, OUT_OF_RANGE
from app.core.pending import TransactionNotes
from app.ledger.accounts import NOT_FOUND as ACCOUNT_NOT_FOUND
from app.ledger.accounts import Owner, organisation_of, owner_of
from app.ledger.models import BALANCE_SHARDS, Account, AccountBalance, JournalEntry, Posting

TOO_FEW_POSTINGS = Template("entry.too_few_postings", N_("an entry needs at least two postings"))
ZERO_POSTING = Template("posting.zero_amount", N_("a posting's amount must not be zero"))
# (one currency: its words are the message's own; several: listed as the API says them)
DEBITS_EXCEED = Template(
    "entry.unbalanced_debits",
    N_("postings do not balance (%(currency)s debits exceed credits by %(amount)s minor units)"),
)
CREDITS_EXCEED = Template(
    "entry.unbalanced_credits",
    N_("postings do not balance (%(currency)s credits exceed debits by %(amount)s minor units)"),
)
UNBALANCED = Template("entry.unbalanced", N_("postings do not balance (%(amounts)s minor units)"))
IS_A_REVERSAL = Template(
    "entry.is_reversal", N_("this entry is itself a reversal and cannot be reversed")
)
ALREADY_REVERSED_BY = Template(
    "entry.already_reversed_by", N_("entry %(id)s was already reversed by entry %(by)s")
)
ALREADY_REVERSED = Template("entry.already_reversed", N_("entry %(id)s was already reversed"))
ENTRY_NOT_FOUND = Template("entry.not_found", N_("no journal entry %(id)s"))

# -- posting ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """A posting to make: a signed amount in minor units, debit positive, credit negative."""

    account_id: uuid.UUID
    amount: int
    field: str | None = None  # where it came from in the request, to name it in an error

    @classmethod
    def debit(cls, account_id: uuid.UUID, amount: int) -> Line:
        return cls(account_id, amount)

    @classmethod
    def credit(cls, account_id: uuid.UUID, amount: int) -> Line:
        return cls(account_id, -amount)


@dataclass(slots=True)
class EntryDraft:
    """An entry to post. `owner` is who alone may undo it: a service posting an entry passes
    itself (the receipt, the batch...); unset, the entry's `kind` is its owner, so only an
    entry of kind `manual` is manual."""

    description: str
    effective_on: date
    lines: Sequence[Line]
    kind: str = "manual"
    reverses_id: uuid.UUID | None = None
    reason: str | None = None
    id: uuid.UUID = field(default_factory=uuid7)
    owner: Owner | None = None

    @property
    def owned_by(self) -> Owner:
        return self.owner if self.owner is not None else Owner(self.kind)


def post(
    session: Session,
    actor: Actor,
    *,
    description: str,
    effective_on: date,
    lines: Sequence[Line],
    kind: str = "manual",
    owner: Owner | None = None,
) -> uuid.UUID:
    """Post one balanced entry and return its id (`owner`: see EntryDraft)."""
    draft = EntryDraft(description, effective_on, lines, kind, owner=owner)
    post_many(session, actor, [draft])
    return draft.id


def post_many(session: Session, actor: Actor, drafts: Sequence[EntryDraft]) -> None:
    """Post many entries in a handful of statements (a collection sheet posts thousands).

    Postings go in first and the entries after them: the database checks each entry's
    balance when the entry row is inserted. On PostgreSQL each is one `INSERT ... SELECT
    FROM unnest(arrays)`, whatever the number of rows.
    """
    if not drafts:
        return
    org = organisation_of(session)
    currencies = _account_currencies(session, {ln.account_id for d in drafts for ln in d.lines})
    now = utcnow()
    deltas: dict[uuid.UUID, int] = defaultdict(int)
    for draft in drafts:
        _check_balanced(draft, currencies)
        for ln in draft.lines:
            deltas[ln.account_id] += ln.amount
    _PENDING.add(session, (org, dict(deltas)))
    if sql.is_postgres(session):
        _insert_pg(session, actor, org, drafts, currencies, now)
        return
    posting_rows: list[dict[str, Any]] = []
    entry_rows: list[dict[str, Any]] = []
    for draft in drafts:
        for ln in draft.lines:
            posting_rows.append(
                {
                    "organisation_id": org,
                    "id": uuid7(),
                    "entry_id": draft.id,
                    "account_id": ln.account_id,
                    "currency": currencies[ln.account_id],
                    "amount": ln.amount,
                    "effective_on": draft.effective_on,
                    "recorded_at": now,
                }
            )
        entry_rows.append(
            {
                "organisation_id": org,
                "id": draft.id,
                "description": draft.description[:500],
                "effective_on": draft.effective_on,
                "recorded_at": now,
                "kind": draft.kind,
                "reverses_id": draft.reverses_id,
                "reason": draft.reason,
                "created_by": actor.name,
                "owner": draft.owned_by.kind,
                "owner_ref": draft.owned_by.ref,
            }
        )
    tables: list[tuple[Any, list[dict[str, Any]]]] = [
        (Posting.__table__, posting_rows),
        (JournalEntry.__table__, entry_rows),
    ]
    for table, rows in tables:
        session.execute(insert(table).returning(table.c.id), rows)


_INSERT_POSTINGS = (
    "INSERT INTO posting (organisation_id, id, entry_id, account_id, currency, amount, "
    "effective_on, recorded_at) "
    "SELECT %(org)s, p.id, p.entry_id, p.account_id, p.currency, p.amount, p.effective_on, "
    "%(now)s FROM unnest(%(ids)b::uuid[], %(entries)b::uuid[], %(accounts)b::uuid[], "
    "%(currencies)b::text[], %(amounts)b::bigint[], %(days)b::date[]) "
    "AS p(id, entry_id, account_id, currency, amount, effective_on)"
)
_INSERT_ENTRIES = (
    "INSERT INTO journal_entry (organisation_id, id, description, effective_on, recorded_at, "
    "kind, reverses_id, reason, created_by, owner, owner_ref) "
    "SELECT %(org)s, e.id, e.description, e.effective_on, %(now)s, e.kind, e.reverses_id, "
    "e.reason, %(by)s, e.owner, e.owner_ref FROM unnest(%(ids)b::uuid[], "
    "%(descriptions)b::text[], %(days)b::date[], %(kinds)b::text[], %(reverses)b::uuid[], "
    "%(reasons)b::text[], %(owners)b::text[], %(owner_refs)b::text[]) "
    "AS e(id, description, effective_on, kind, reverses_id, reason, owner, owner_ref)"
)


def _insert_pg(
    session: Session,
    actor: Actor,
    org: uuid.UUID,
    drafts: Sequence[EntryDraft],
    currencies: dict[uuid.UUID, str],
    now: datetime,
) -> None:
    """PostgreSQL: all postings in one statement, then all entries in another (each fires
    the database's statement-level checks once)."""
    ids, entries, accounts, curs, amounts, days = [], [], [], [], [], []
    for d in drafts:
        for ln in d.lines:
            ids.append(uuid7())
            entries.append(d.id)
            accounts.append(ln.account_id)
            curs.append(currencies[ln.account_id])
            amounts.append(ln.amount)
            days.append(d.effective_on)
    sql.run(
        session,
        _INSERT_POSTINGS,
        {
            "org": org,
            "now": now,
            "ids": ids,
            "entries": entries,
            "accounts": accounts,
            "currencies": curs,
            "amounts": amounts,
            "days": days,
        },
    )
    sql.run(
        session,
        _INSERT_ENTRIES,
        {
            "org": org,
            "now": now,
            "by": actor.name,
            "ids": [d.id for d in drafts],
            "descriptions": [d.description[:500] for d in drafts],
            "days": [d.effective_on for d in drafts],
            "kinds": [d.kind for d in drafts],
            "reverses": [d.reverses_id for d in drafts],
            "reasons": [d.reason for d in drafts],
            "owners": [d.owned_by.kind for d in drafts],
            "owner_refs": [d.owned_by.ref for d in drafts],
        },
    )


def _check_balanced(draft: EntryDraft, currencies: dict[uuid.UUID, str]) -> None:
    if len(draft.lines) < 2:
        raise ValidationFailed.field("postings", TOO_FEW_POSTINGS())
    sums: dict[str, int] = defaultdict(int)
    for i, ln in enumerate(draft.lines):
        where = ln.field or f"postings.{i}.amount"
        if ln.amount == 0:
            raise ValidationFailed.field(where, ZERO_POSTING())
        if abs(ln.amount) > MAX_MINOR_UNITS:
            raise ValidationFailed.field(where, OUT_OF_RANGE())
        sums[currencies[ln.account_id]] += ln.amount
    unbalanced = {c: s for c, s in sums.items() if s != 0}
    if len(unbalanced) == 1:
        ((currency, excess),) = unbalanced.items()
        said = DEBITS_EXCEED if excess > 0 else CREDITS_EXCEED
        raise ValidationFailed.field("postings", said(currency=currency, amount=abs(excess)))
    if unbalanced:
        what = ", ".join(
            f"{c} debits exceed credits by {s}" if s > 0 else f"{c} credits exceed debits by {-s}"
            for c, s in unbalanced.items()
        )
        raise ValidationFailed.field("postings", UNBALANCED(amounts=what))


_CURRENCIES: dict[uuid.UUID, str] = {}
"""Account id -> currency: an account's currency never changes once it is opened (ids are
never reused), so it is read once per process. An id from a rolled-back account is never
referenced again (a posting to it would be refused by the foreign key anyway)."""
_CURRENCIES_MAX = 200_000
_CURRENCIES_PG = "SELECT id, currency FROM account WHERE id = ANY(%(ids)b::uuid[])"


def _account_currencies(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    found: dict[uuid.UUID, str] = {}
    wanted = []
    for account_id in ids:
        known = _CURRENCIES.get(account_id)
        if known is None:
            wanted.append(account_id)
        else:
            found[account_id] = known
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        rows: Any
        if sql.is_postgres(session):
            rows = sql.run(session, _CURRENCIES_PG, {"ids": chunk}).fetchall()
        else:
            rows = session.execute(
                select(Account.id, Account.currency).where(Account.id.in_(chunk))
            )
        for account_id, currency in rows:
            found[account_id] = currency
            if len(_CURRENCIES) < _CURRENCIES_MAX:
                _CURRENCIES[account_id] = currency
    missing = ids - found.keys()
    if missing:
        raise NotFound(ACCOUNT_NOT_FOUND(id=sorted(missing)[0]))
    return found


def reverse(
    session: Session,
    actor: Actor,
    entry_id: uuid.UUID,
    *,
    reason: str,
    effective_on: date | None = None,
) -> uuid.UUID:
    """Post the exact mirror of an entry, pointing at it. At most once per entry (409).

    The reversal has its original's owner: the service that made an entry undoes it with this
    verb inside its own operation (a receipt's reversal); the journal API calls
    `ownership.reverse_manual`, which refuses an entry a service owns."""
    original = get_entry(session, entry_id)
    if original.reverses_id is not None:
        raise Conflict(IS_A_REVERSAL())
    already = session.scalar(select(JournalEntry.id).where(JournalEntry.reverses_id == entry_id))
    if already is not None:
        raise Conflict(ALREADY_REVERSED_BY(id=entry_id, by=already))
    postings = session.scalars(select(Posting).where(Posting.entry_id == entry_id)).all()
    draft = EntryDraft(
        description=f"Reversal of {original.description}"[:500],
        effective_on=effective_on or clock.session_today(session),  # the organisation's day
        lines=[Line(p.account_id, -p.amount) for p in postings],
        kind="reversal",
        reverses_id=entry_id,
        reason=reason,
        owner=owner_of(original),
    )
    try:
        with session.begin_nested():
            post_many(session, actor, [draft])
    except IntegrityError as exc:
        raise Conflict(ALREADY_REVERSED(id=entry_id)) from exc
    return draft.id


def get_entry(session: Session, entry_id: uuid.UUID) -> JournalEntry:
    entry = session.scalar(select(JournalEntry).where(JournalEntry.id == entry_id))
    if entry is None:
        raise NotFound(ENTRY_NOT_FOUND(id=entry_id))
    return entry


def entry_postings(
    session: Session, entry_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[Posting]]:
    ids = list(entry_ids)
    out: dict[uuid.UUID, list[Posting]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = session.scalars(
        select(Posting)
        .where(Posting.entry_id.in_(ids))
        .order_by(Posting.entry_id, Posting.amount.desc(), Posting.id)
    )
    for p in rows:
        out[p.entry_id].append(p)
    return out


def reversal_of(session: Session, entry_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Map each of these entries that was reversed to its reversal's id."""
    ids = list(entry_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(JournalEntry.reverses_id, JournalEntry.id).where(JournalEntry.reverses_id.in_(ids))
    )
    return {r: i for r, i in rows if r is not None}


# -- stored balances ----------------------------------------------------------------------------

# (organisation, {account: net change}) of each posting call not yet applied
_PENDING: TransactionNotes[tuple[uuid.UUID, dict[uuid.UUID, int]]] = TransactionNotes(
    "ledger.balance_changes"
)


def flush_balances(session: Session) -> None:
    """Apply this transaction's postings to the stored balances, in one sorted upsert.

    Runs just before commit (see the listener below) and before any balance is read. The net
    change of each account is summed in memory as entries are posted (what a savepoint that
    rolls back posted is dropped with it). Rows are locked once per transaction, in one
    global order, for the shortest time: concurrent writers never deadlock on them. Each
    transaction adds to one of BALANCE_SHARDS rows per account, chosen at random, so writers
    crediting the same hot account rarely wait for each other.
    """
    pending = _PENDING.take(session)
    if not pending:
        return
    sums: dict[tuple[uuid.UUID, uuid.UUID], int] = defaultdict(int)
    for org, deltas in pending:
        for account_id, delta in deltas.items():
            sums[(org, account_id)] += delta
    shard = secrets.randbelow(BALANCE_SHARDS)
    changes = [(o, a, d) for (o, a), d in sorted(sums.items()) if d != 0]
    if not changes:
        return
    if sql.is_postgres(session):
        sql.run(
            session,
            _UPSERT_BALANCES,
            {
                "shard": shard,
                "orgs": [c[0] for c in changes],
                "accounts": [c[1] for c in changes],
                "deltas": [c[2] for c in changes],
            },
        )
        return
    values = [
        {"organisation_id": o, "account_id": a, "shard": shard, "balance": d} for o, a, d in changes
    ]
    for i in range(0, len(values), 1000):
        stmt = sqlite_insert(AccountBalance).values(values[i : i + 1000])
        stmt = stmt.on_conflict_do_update(
            index_elements=["organisation_id", "account_id", "shard"],
            set_={"balance": AccountBalance.balance + stmt.excluded.balance},
        )
        session.execute(stmt)


# rows in the arrays' (sorted) order: concurrent writers lock shared rows in the same order
_UPSERT_BALANCES = (
    "INSERT INTO account_balance (organisation_id, account_id, shard, balance) "
    "SELECT v.org, v.account_id, %(shard)s, v.delta "
    "FROM unnest(%(orgs)b::uuid[], %(accounts)b::uuid[], %(deltas)b::bigint[]) "
    "AS v(org, account_id, delta) "
    "ON CONFLICT (organisation_id, account_id, shard) "
    "DO UPDATE SET balance = account_balance.balance + excluded.balance"
)


@event.listens_for(Session, "before_commit")
def _apply_balances_before_commit(session: Session) -> None:
    if not session.in_nested_transaction():
        flush_balances(session)
