"""The ledger's verbs: open accounts, post, reverse, balance, history.

Every verb refuses unbalanced or non-representable input itself (422/409); the database
refuses it again (see models.py), so a bug elsewhere cannot write a broken book.
Services never commit: the caller's unit of work does.
"""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Row, event, func, insert, literal, select, tuple_
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import clock
from app.core.audit import Actor
from app.core.database import bound_organisation, utcnow
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.ids import uuid7
from app.core.money import MAX_MINOR_UNITS, MoneyError, check_currency
from app.core.pending import TransactionNotes
from app.ledger import sql
from app.ledger.models import (
    BALANCE_SHARDS,
    MANUAL,
    Account,
    AccountBalance,
    AccountType,
    JournalEntry,
    Posting,
)

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
        raise ValidationFailed.field("currency", str(exc)) from None
    org = _org(session)
    taken = session.scalar(select(Account.id).where(Account.code == code))
    if taken is not None:
        raise Conflict(f"an account with code {code!r} already exists")
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
        raise NotFound(f"no account {account_id}")
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
    org = _org(session)
    codes = [s.code for s in specs]
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise Conflict(f"account code {code!r} is given twice")
        seen.add(code)
    for i in range(0, len(codes), 1000):
        taken = session.scalar(
            select(Account.code).where(Account.code.in_(codes[i : i + 1000])).limit(1)
        )
        if taken is not None:
            raise Conflict(f"an account with code {taken!r} already exists")
    now = utcnow()
    rows: list[dict[str, Any]] = []
    opened: dict[str, uuid.UUID] = {}
    for s in specs:
        try:
            currency = check_currency(s.currency)
        except MoneyError as exc:
            raise ValidationFailed.field("currency", str(exc)) from None
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
    org = _org(session)
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
        raise ValidationFailed.field("postings", "an entry needs at least two postings")
    sums: dict[str, int] = defaultdict(int)
    for i, ln in enumerate(draft.lines):
        where = ln.field or f"postings.{i}.amount"
        if ln.amount == 0:
            raise ValidationFailed.field(where, "a posting's amount must not be zero")
        if abs(ln.amount) > MAX_MINOR_UNITS:
            raise ValidationFailed.field(where, "amount is beyond the supported range")
        sums[currencies[ln.account_id]] += ln.amount
    unbalanced = {c: s for c, s in sums.items() if s != 0}
    if unbalanced:
        what = ", ".join(
            f"{c} debits exceed credits by {s}" if s > 0 else f"{c} credits exceed debits by {-s}"
            for c, s in unbalanced.items()
        )
        raise ValidationFailed.field("postings", f"postings do not balance ({what} minor units)")


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
        raise NotFound(f"no account {sorted(missing)[0]}")
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
        raise Conflict("this entry is itself a reversal and cannot be reversed")
    already = session.scalar(select(JournalEntry.id).where(JournalEntry.reverses_id == entry_id))
    if already is not None:
        raise Conflict(f"entry {entry_id} was already reversed by entry {already}")
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
        raise Conflict(f"entry {entry_id} was already reversed") from exc
    return draft.id


def get_entry(session: Session, entry_id: uuid.UUID) -> JournalEntry:
    entry = session.scalar(select(JournalEntry).where(JournalEntry.id == entry_id))
    if entry is None:
        raise NotFound(f"no journal entry {entry_id}")
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


@dataclass(frozen=True, slots=True)
class Balance:
    account: Account
    raw: int  # debit positive
    as_of: date | None

    @property
    def signed(self) -> int:
        """The balance on the account's normal side (assets' debits, liabilities' credits +)."""
        return self.raw * AccountType(self.account.type).normal_sign


def balance(session: Session, account_id: uuid.UUID, as_of: date | None = None) -> Balance:
    """The stored balance (no history scan); as of a date, minus what was posted after it."""
    account = get_account(session, account_id)
    flush_balances(session)
    current = select(func.coalesce(func.sum(AccountBalance.balance), 0)).where(
        AccountBalance.organisation_id == account.organisation_id,
        AccountBalance.account_id == account_id,
    )
    if as_of is None:
        raw = session.scalar(current)
    else:
        later = select(func.coalesce(func.sum(Posting.amount), 0)).where(
            Posting.account_id == account_id, Posting.effective_on > as_of
        )
        raw = session.scalar(select(current.scalar_subquery() - later.scalar_subquery()))
    return Balance(account, int(raw or 0), as_of)


def balances(session: Session, account_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Current raw (debit-positive) balances of several accounts in one query."""
    ids = list(account_ids)
    flush_balances(session)
    org = _org(session)
    out = {i: 0 for i in ids}
    if not ids:
        return out
    rows = session.execute(
        select(AccountBalance.account_id, func.sum(AccountBalance.balance))
        .where(AccountBalance.organisation_id == org, AccountBalance.account_id.in_(ids))
        .group_by(AccountBalance.account_id)
    )
    for account_id, total in rows:
        out[account_id] = int(total)
    return out


# -- history ------------------------------------------------------------------------------------

HistoryKey = tuple[date, datetime, uuid.UUID]


@dataclass(frozen=True, slots=True)
class HistoryLine:
    posting: Posting
    description: str
    kind: str
    balance_after: int  # raw, debit positive


def history(
    session: Session,
    account_id: uuid.UUID,
    *,
    limit: int,
    before: HistoryKey | None = None,
    from_on: date | None = None,
    to_on: date | None = None,
) -> tuple[Account, list[HistoryLine], HistoryKey | None]:
    """An account's postings, newest first, each with the balance after it.

    Ordered by (effective date, recorded instant, id). The balance after the newest line of a
    page is the stored balance minus everything ordered after it, computed in the same
    statement as the page (one snapshot), so no page ever scans the whole history.
    """
    account = get_account(session, account_id)
    flush_balances(session)
    order = tuple_(Posting.effective_on, Posting.recorded_at, Posting.id)
    upper: Any
    if before is not None:
        upper = tuple_(literal(before[0]), literal(before[1]), literal(before[2]))
        newer = order >= upper
        in_page = order < upper
    elif to_on is not None:
        newer = Posting.effective_on > to_on
        in_page = Posting.effective_on <= to_on
    else:
        newer = None
        in_page = None
    stored = (
        select(func.coalesce(func.sum(AccountBalance.balance), 0))
        .where(
            AccountBalance.organisation_id == account.organisation_id,
            AccountBalance.account_id == account_id,
        )
        .scalar_subquery()
    )
    if newer is not None:
        after = (
            select(func.coalesce(func.sum(Posting.amount), 0))
            .where(
                Posting.organisation_id == account.organisation_id,
                Posting.account_id == account_id,
                newer,
            )
            .scalar_subquery()
        )
        start = stored - after
    else:
        start = stored
    stmt = (
        select(Posting, JournalEntry.description, JournalEntry.kind, start.label("start"))
        .join(
            JournalEntry,
            (JournalEntry.organisation_id == Posting.organisation_id)
            & (JournalEntry.id == Posting.entry_id),
        )
        .where(Posting.account_id == account_id)
        .order_by(Posting.effective_on.desc(), Posting.recorded_at.desc(), Posting.id.desc())
        .limit(limit + 1)
    )
    if in_page is not None:
        stmt = stmt.where(in_page)
    if from_on is not None:
        stmt = stmt.where(Posting.effective_on >= from_on)
    rows: list[Row[Any]] = list(session.execute(stmt))
    lines: list[HistoryLine] = []
    running = int(rows[0].start) if rows else 0
    for row in rows[:limit]:
        p: Posting = row[0]
        lines.append(HistoryLine(p, row.description, row.kind, running))
        running -= p.amount
    next_key = None
    if len(rows) > limit:
        last = lines[-1].posting
        next_key = (last.effective_on, last.recorded_at, last.id)
    return account, lines, next_key


def _org(session: Session) -> uuid.UUID:
    org = bound_organisation(session)
    if org is None:
        raise RuntimeError("the ledger needs a session bound to an organisation")
    return org


def today() -> date:
    return datetime.now(UTC).date()
