"""Collectors, the cash they hold, and hand-overs of that cash to a bank or treasury account."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.collections import accounts, lookups
from app.collections.fields import instant_error, minor_amount
from app.collections.messages import NO_HANDOVER, NO_SUCH_COLLECTOR
from app.collections.models import Collector, Handover
from app.core import audit, clock
from app.core.audit import Actor
from app.core.database import bound_organisation
from app.core.errors import NotFound, ValidationFailed
from app.core.ids import uuid7
from app.core.messages import N_, FieldError, Template
from app.core.money import MAX_MINOR_UNITS
from app.core.roles import Role
from app.identity.models import ApiKey, Organisation, User
from app.ledger import ownership
from app.ledger import service as ledger
from app.ledger.models import MANUAL, Account, AccountType


def open_collector(
    session: Session, actor: Actor, kind: str, principal: User | ApiKey
) -> Collector:
    """Make a user or API key a collector: its Collector row and its cash account (asset)."""
    org = session.get(Organisation, principal.organisation_id)
    assert org is not None
    collector_id = uuid7()
    name = principal.username if isinstance(principal, User) else principal.name
    cash = ledger.open_account(
        session,
        actor,
        code=accounts.collector_cash_code(collector_id),
        name=f"Cash held by collector {name}"[:200],
        type=AccountType.asset,
        currency=org.currency,
        owner=ledger.Owner("collector", name[:120]),
    )
    collector = Collector(
        organisation_id=org.id,
        id=collector_id,
        user_id=principal.id if kind == "user" else None,
        api_key_id=principal.id if kind == "key" else None,
        name=name,
        cash_account_id=cash.id,
    )
    session.add(collector)
    session.flush()
    audit.record(
        session,
        actor,
        "collector.open",
        "collector",
        collector.id,
        {"name": name, "kind": kind, "cash_account_id": str(cash.id)},
    )
    return collector


def on_principal_created(
    session: Session, actor: Actor, kind: str, principal: User | ApiKey
) -> None:
    """Identity hook: every user or API key created with role collector becomes a collector."""
    if principal.role == Role.collector.value:
        open_collector(session, actor, kind, principal)


NOT_A_COLLECTOR = Template("collector.not_caller", N_("the caller is not a collector"))
NO_COLLECTOR = Template("collector.not_found", N_("no collector %(id)s"))
TOO_MUCH_COUNTED = Template(
    "handover.too_much_counted",
    N_(
        "%(amount)s minor units is more than %(factor)s times the amount handed over; check the count"
    ),
)
NOTHING_HELD = Template("handover.nothing_held", N_("This collector holds no cash."))
MORE_THAN_HELD = Template(
    "handover.more_than_held",
    N_("the collector's cash account holds %(held)s minor units, less than this"),
)


def collector_for(session: Session, actor: Actor, kind: str, subject_id: uuid.UUID) -> Collector:
    """The collector a calling user or key is (opened now if it predates collections)."""
    column = Collector.user_id if kind == "user" else Collector.api_key_id
    found = session.scalar(select(Collector).where(column == subject_id))
    if found is not None:
        return found
    principal: User | ApiKey | None
    if kind == "user":
        principal = session.scalar(select(User).where(User.id == subject_id))
    else:
        principal = session.scalar(select(ApiKey).where(ApiKey.id == subject_id))
    if principal is None or principal.role != Role.collector.value:
        raise NotFound(NOT_A_COLLECTOR())
    return open_collector(session, actor, kind, principal)


def collector_id_for(session: Session, actor: Actor, kind: str, subject_id: uuid.UUID) -> uuid.UUID:
    """The id of the collector a calling user or key is (remembered: it never changes)."""
    org = bound_organisation(session)
    known = lookups.COLLECTOR_OF.get((org, (kind, subject_id)))
    if known is not None:
        return uuid.UUID(str(known))
    collector = collector_for(session, actor, kind, subject_id)
    lookups.COLLECTOR_OF.stage(session, (org, (kind, subject_id)), collector.id)
    return collector.id


def get_collector(
    session: Session, collector_id: uuid.UUID, *, field: str | None = None
) -> Collector:
    """A collector of this organisation: 404, or 422 naming `field` when the id came in a body."""
    found = session.scalar(select(Collector).where(Collector.id == collector_id))
    if found is None:
        if field:
            raise ValidationFailed.field(field, NO_SUCH_COLLECTOR())
        raise NotFound(NO_COLLECTOR(id=collector_id))
    return found


def collector_by_name(session: Session, name: str) -> Collector | None:
    """The collector with this username (users first) or, failing that, this API key name."""
    rows = list(session.scalars(select(Collector).where(Collector.name == name).limit(3)))
    users = [c for c in rows if c.user_id is not None]
    if len(users) == 1:
        return users[0]
    return rows[0] if len(rows) == 1 else None


def set_group(
    session: Session, actor: Actor, collector_id: uuid.UUID, group: str | None
) -> Collector:
    """Set (or clear) the collector's group, e.g. the union branch it belongs to."""
    collector = get_collector(session, collector_id)
    before = collector.group
    collector.group = group
    session.flush()
    audit.record(
        session, actor, "collector.update", "collector", collector.id, {"group": [before, group]}
    )
    return collector


def collector_kind(collector: Collector) -> str:
    return "user" if collector.user_id is not None else "key"


def usernames(session: Session, collectors: list[Collector]) -> dict[uuid.UUID, str]:
    user_ids = [c.user_id for c in collectors if c.user_id is not None]
    if not user_ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all())


# -- hand-overs ---------------------------------------------------------------------------------


COUNTED_FACTOR = 2
"""What is counted at a hand-over is at most this many times what the collector's account
says was handed over. A surplus is booked as income: a mistyped count (an extra zero, a
slip's number typed as the amount) would otherwise book a surplus of nine times the cash,
with no cash behind it. Twice the amount still takes any honest surplus (coins found in the
bag, a payment never entered), and a count of zero (nothing arrived) stays possible."""


def max_counted(amount: int) -> int:
    return min(amount * COUNTED_FACTOR, MAX_MINOR_UNITS)


ownership.register(
    "handover",
    noun="hand-over",
    undo="a hand-over is final; record what really moved as another hand-over, or correct the "
    "difference with a manual entry between the organisation's own accounts",
)


def handover_destinations(session: Session, currency: str) -> list[Account]:
    """Where a collector's cash may go: the organisation's asset accounts in `currency` opened
    for manual use (bank, treasury, desk cash), by code."""
    return list(
        session.scalars(
            select(Account)
            .where(
                Account.type == AccountType.asset.value,
                Account.currency == currency,
                Account.owner == MANUAL,
            )
            .order_by(Account.code)
        )
    )


@dataclass(frozen=True, slots=True)
class HandoverDraft:
    collector_id: uuid.UUID
    amount: int | None
    """What leaves the collector's cash account; None: everything it holds."""
    counted_amount: int
    currency: str
    to_account_id: uuid.UUID
    handed_over_at: datetime
    reference: str


def handover_amounts(
    amount: str,
    counted_amount: str | None,
    currency: str,
    book_currency: str,
    handed_over_at: datetime,
) -> tuple[int, int]:
    """A hand-over's amount and what was counted (default: the amount), in minor units of the
    book currency, from the decimal texts of a request; 422 naming each field at fault."""
    errors: list[FieldError] = []
    minor = minor_amount(amount, currency, book_currency)
    counted = minor
    if isinstance(minor, FieldError):
        errors.append(minor)
    elif counted_amount is not None:
        # zero counted is possible: nothing at all arrived, the whole amount is short
        counted = minor_amount(
            counted_amount, currency, book_currency, field="counted_amount", allow_zero=True
        )
        if isinstance(counted, FieldError):
            errors.append(counted)
    late = instant_error(handed_over_at, "handed_over_at")
    if late is not None:
        errors.append(late)
    if errors:
        raise ValidationFailed.fields(errors)
    assert isinstance(minor, int) and isinstance(counted, int)
    return minor, counted


def hand_over(session: Session, actor: Actor, draft: HandoverDraft) -> Handover:
    """Move a collector's cash to a bank or treasury account, recording any difference.

    The collector's cash account is credited with `amount` (what it says was handed over);
    the destination is debited with what was counted; a shortfall is debited to the
    shortfall expense account, a surplus credited to the surplus income account. The
    collector is locked for the hand-over, so two hand-overs cannot both spend its cash.
    """
    late = instant_error(draft.handed_over_at, "handed_over_at")
    if late is not None:
        raise ValidationFailed.fields([late])
    collector = session.scalar(
        select(Collector).where(Collector.id == draft.collector_id).with_for_update(key_share=True)
    )
    if collector is None:
        raise ValidationFailed.field("collector_id", NO_SUCH_COLLECTOR())
    # a bank or treasury account the organisation opened for manual use: never a collector's
    # cash (its own or another's) nor any account a service keeps
    target = ownership.manual_account(
        session, draft.to_account_id, field="to_account_id", currency=draft.currency
    )
    held = ledger.balance(session, collector.cash_account_id).signed
    amount = held if draft.amount is None else draft.amount
    if draft.amount is None and held <= 0:
        raise ValidationFailed.field("collector_id", NOTHING_HELD())
    if draft.counted_amount > max_counted(amount):
        raise ValidationFailed.field(
            "counted_amount", TOO_MUCH_COUNTED(amount=draft.counted_amount, factor=COUNTED_FACTOR)
        )
    if amount > held:
        raise ValidationFailed.field("amount", MORE_THAN_HELD(held=held))
    lines = []
    if draft.counted_amount:
        lines.append(ledger.Line.debit(target.id, draft.counted_amount))
    lines.append(ledger.Line.credit(collector.cash_account_id, amount))
    difference = draft.counted_amount - amount
    if difference < 0:
        shortfall = accounts.shared_account(session, actor, accounts.SHORTFALL, draft.currency)
        lines.append(ledger.Line.debit(shortfall, -difference))
    elif difference > 0:
        surplus = accounts.shared_account(session, actor, accounts.SURPLUS, draft.currency)
        lines.append(ledger.Line.credit(surplus, difference))
    journal_id = ledger.post(
        session,
        actor,
        description=f"Hand-over by collector {collector.name}: {draft.reference}",
        effective_on=clock.local_date(draft.handed_over_at, clock.session_zone(session)),
        lines=lines,
        kind="handover",
        owner=ledger.Owner("handover", draft.reference),
    )
    handover = Handover(
        collector_id=collector.id,
        amount=amount,
        counted_amount=draft.counted_amount,
        currency=draft.currency,
        to_account_id=target.id,
        handed_over_at=draft.handed_over_at,
        reference=draft.reference,
        journal_id=journal_id,
        created_by=actor.name,
    )
    session.add(handover)
    session.flush()
    audit.record(
        session,
        actor,
        "handover.create",
        "handover",
        handover.id,
        {
            "collector_id": str(collector.id),
            "amount": amount,
            "counted_amount": draft.counted_amount,
            "difference": difference,
            "to_account_id": str(target.id),
            "reference": draft.reference,
        },
    )
    return handover


def get_handover(session: Session, handover_id: uuid.UUID) -> Handover:
    found = session.scalar(select(Handover).where(Handover.id == handover_id))
    if found is None:
        raise NotFound(NO_HANDOVER(id=handover_id))
    return found


def collectors_filter(search: str | None) -> list[object]:
    if not search:
        return []
    like = f"%{search}%"
    return [or_(Collector.name.ilike(like), Collector.group.ilike(like))]
