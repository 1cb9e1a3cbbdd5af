"""Affiliations: registering members with a fund, sent through the fund's adapter like a
remittance. The fund's answer records each accepted member's affiliation number; where the
fund's `adapter_config` has `commission_per_affiliation`, each accepted affiliation books
that commission as income, owed by the fund until paid (debit
`FUND:{code}:COMMISSION_RECEIVABLE`, credit `FUND:{code}:COMMISSION_INCOME`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import audit, clock
from app.core.audit import Actor
from app.core.database import utcnow
from app.core.deps import Principal
from app.core.errors import Conflict, ValidationFailed
from app.core.ids import uuid7
from app.core.messages import N_, Template
from app.core.money import MoneyError, parse_minor
from app.funds.models import Fund
from app.ledger import ownership
from app.ledger import service as ledger
from app.ledger.models import AccountType
from app.ledger.service import Line
from app.members.models import Member, MemberAffiliation
from app.members.service import AffiliationNumberTaken, number_holders
from app.remittances.answers import (
    Said,
    acknowledged_when_all_decided,
    new_decisions,
    reason_missing,
)
from app.remittances.documents import affiliation_document
from app.remittances.lifecycle import AffiliationStatus, LineStatus, require, transition
from app.remittances.lookups import (
    NO_FUND_WITH_CODE,
    fund_of,
    get_affiliation_batch,
    list_batches,
)
from app.remittances.messages import ADAPTER_MISSING, REJECTION_NEEDS_REASON
from app.remittances.models import AffiliationBatch, AffiliationLine
from app.remittances.service import hand_over, next_number

LISTED_TWICE = Template("affiliation.listed_twice", N_("listed twice"))
NO_MEMBER = Template("affiliation.no_member", N_("no member %(id)s"))
ALREADY_AFFILIATED = Template(
    "affiliation.already_affiliated", N_("already affiliated with %(fund)s as %(number)s")
)
ALREADY_WAITING = Template(
    "affiliation.already_waiting",
    N_("member %(id)s is already waiting for %(fund)s in batch %(reference)s"),
)
NOT_IN_BATCH = Template("affiliation.not_in_batch", N_("not in batch %(reference)s"))
NEEDS_NUMBER = Template(
    "affiliation.number_missing", N_("an accepted affiliation needs its number")
)
MEMBER_DECIDED = Template("affiliation.decided", N_("member %(id)s was already %(status)s"))
BAD_COMMISSION = Template(
    "fund.bad_commission",
    N_("fund %(fund)s's commission_per_affiliation is not valid: %(error)s"),
)


@dataclass(frozen=True, slots=True)
class AffiliationDecision:
    member_id: uuid.UUID
    status: str  # accepted | rejected
    affiliation_number: str | None = None
    reason: str | None = None


ownership.register(
    "affiliation_batch",
    noun="affiliation batch",
    undo="its commission entries follow the fund's answers and payments and are not reversed "
    "in the journal",
)


def affiliation_batches(
    session: Session,
    caller: Principal | None,
    *,
    fund_code: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[tuple[AffiliationBatch, Fund]], str | None]:
    """Affiliation batches with their funds, newest first, within the caller's scope, and the
    next page's cursor."""
    return list_batches(
        session,
        AffiliationBatch,
        caller,
        fund_code=fund_code,
        status=status,
        limit=limit,
        cursor=cursor,
    )


def affiliation_batch(
    session: Session, caller: Principal | None, batch_id: uuid.UUID
) -> AffiliationBatch:
    """The batch, if the caller may see it (404 otherwise)."""
    return get_affiliation_batch(session, batch_id, caller=caller)


def create_affiliation_batch(
    session: Session, actor: Actor, *, fund_code: str, member_ids: Sequence[uuid.UUID]
) -> AffiliationBatch:
    """A batch of members to register with the fund. A member already affiliated with it, or
    listed twice, is 422 naming the entry; one already waiting in another batch is 409."""
    fund = session.scalar(select(Fund).where(Fund.code == fund_code))
    if fund is None:
        raise ValidationFailed.field("fund_code", NO_FUND_WITH_CODE(code=repr(fund_code)))
    ids = list(member_ids)
    seen: dict[uuid.UUID, int] = {}
    for i, member_id in enumerate(ids):
        if member_id in seen:
            raise ValidationFailed.field(f"member_ids.{i}", LISTED_TWICE())
        seen[member_id] = i
    found = set(session.scalars(select(Member.id).where(Member.id.in_(ids))))
    for i, member_id in enumerate(ids):
        if member_id not in found:
            raise ValidationFailed.field(f"member_ids.{i}", NO_MEMBER(id=member_id))
    for member_id, number in session.execute(
        select(MemberAffiliation.member_id, MemberAffiliation.affiliation_number).where(
            MemberAffiliation.fund_id == fund.id, MemberAffiliation.member_id.in_(ids)
        )
    ):
        raise ValidationFailed.field(
            f"member_ids.{seen[member_id]}", ALREADY_AFFILIATED(fund=fund.code, number=number)
        )
    waiting = session.execute(
        select(AffiliationLine.member_id, AffiliationBatch.number)
        .join(
            AffiliationBatch,
            and_(
                AffiliationBatch.organisation_id == AffiliationLine.organisation_id,
                AffiliationBatch.id == AffiliationLine.batch_id,
            ),
        )
        .where(
            AffiliationLine.fund_id == fund.id,
            AffiliationLine.status == LineStatus.pending,
            AffiliationLine.member_id.in_(ids),
        )
        .limit(1)
    ).first()
    if waiting is not None:
        raise Conflict(
            ALREADY_WAITING(id=waiting[0], fund=fund.code, reference=f"AF{waiting[1]:06d}")
        )
    batch = AffiliationBatch(
        organisation_id=fund.organisation_id,
        id=uuid7(),
        number=next_number(session, "affiliation"),
        fund_id=fund.id,
        status=AffiliationStatus.open.value,
        line_count=len(ids),
        created_by=actor.name,
    )
    session.add(batch)
    session.flush()
    session.execute(
        insert(AffiliationLine),
        [
            {
                "organisation_id": fund.organisation_id,
                "id": uuid7(),
                "batch_id": batch.id,
                "line_number": n,
                "fund_id": fund.id,
                "member_id": member_id,
                "status": LineStatus.pending.value,
            }
            for n, member_id in enumerate(ids, start=1)
        ],
    )
    audit.record(
        session,
        actor,
        "affiliation.create",
        "affiliation_batch",
        batch.id,
        {"reference": batch.reference, "fund_code": fund.code, "members": len(ids)},
    )
    return batch


def submit_affiliations(session: Session, actor: Actor, batch_id: uuid.UUID) -> AffiliationBatch:
    """Hand the batch to the fund's adapter; an answer with per-member statuses is applied."""
    batch = get_affiliation_batch(session, batch_id, lock=True)
    require(batch, AffiliationStatus.submitted)
    fund = fund_of(session, batch)
    delivery = hand_over(
        fund,
        lambda: affiliation_document(session, batch, fund),
        lambda: ADAPTER_MISSING(fund=fund.code, adapter=repr(fund.adapter)),
    )
    transition(batch, AffiliationStatus.submitted)
    batch.delivery = {
        "adapter": fund.adapter,
        "outcome": delivery.outcome,
        "reference": delivery.reference,
        "attempts": delivery.attempts,
        "answer": delivery.answer,
    }
    session.flush()
    audit.record(
        session,
        actor,
        "affiliation.submit",
        "affiliation_batch",
        batch.id,
        {"reference": batch.reference, "outcome": delivery.outcome},
    )
    decisions = []
    for a in delivery.line_answers:
        try:
            decisions.append(
                AffiliationDecision(uuid.UUID(a.key), a.status, a.affiliation_number, a.reason)
            )
        except ValueError:
            continue  # the fund named something that is not one of our members: ignore it
    # A number the fund gives that another member already holds is not recorded (one number,
    # one member): that line stays pending, the clash is kept with the batch for a treasurer.
    taken = _numbers_taken(
        session,
        fund,
        [
            (i, d.member_id, d.affiliation_number)
            for i, d in enumerate(decisions)
            if d.status == LineStatus.accepted and d.affiliation_number
        ],
    )
    if taken:
        held = {i for i, _, _, _ in taken}
        decisions = [d for i, d in enumerate(decisions) if i not in held]
        batch.delivery = {
            **batch.delivery,
            "numbers_held_by_other_members": [
                {"member_id": str(m), "affiliation_number": n, "holder": h} for _, m, n, h in taken
            ],
        }
        session.flush()
    if decisions:
        acknowledge_affiliations(session, actor, batch.id, decisions)
    return batch


def _numbers_taken(
    session: Session, fund: Fund, accepted: list[tuple[int, uuid.UUID, str]]
) -> list[tuple[int, uuid.UUID, str, str]]:
    """(index, member id, number, holder's member number) for each accepted number that
    another member holds at the fund, or that an earlier entry gives to another member."""
    if not accepted:
        return []
    numbers = [n.strip()[:64] for _, _, n in accepted]
    found = number_holders(session, fund.id, numbers)
    holders = {n: held for n, (_, held) in found.items()}
    holder_ids = {n: m for n, (m, _) in found.items()}
    member_numbers: dict[uuid.UUID, str] = {
        member_id: number
        for member_id, number in session.execute(
            select(Member.id, Member.member_number).where(
                Member.id.in_({m for _, m, _ in accepted})
            )
        )
    }
    out = []
    for (i, member_id, _), number in zip(accepted, numbers, strict=True):
        if number in holder_ids and holder_ids[number] != member_id:
            out.append((i, member_id, number, holders[number]))
        else:
            holder_ids[number], holders[number] = member_id, member_numbers.get(member_id, "?")
    return out


def acknowledge_affiliations(
    session: Session,
    actor: Actor,
    batch_id: uuid.UUID,
    decisions: Sequence[AffiliationDecision],
    *,
    caller: Principal | None = None,
) -> AffiliationBatch:
    """Record the fund's answer per member: accepted with the member's affiliation number
    (stored on the member, commission booked), or rejected with a reason. A batch the caller
    may not see is 404."""
    batch = get_affiliation_batch(session, batch_id, caller=caller, lock=True)
    require(batch, AffiliationStatus.acknowledged)
    fund = fund_of(session, batch)
    org = batch.organisation_id
    lines = {
        ln.member_id: ln
        for ln in session.scalars(
            select(AffiliationLine).where(AffiliationLine.batch_id == batch.id)
        )
    }
    said = Said(
        where=lambda i: f"lines.{i}.member_id",
        twice=lambda _: LISTED_TWICE(),
        missing=lambda _: NOT_IN_BATCH(reference=batch.reference),
        decided=lambda member_id, status, _: MEMBER_DECIDED(id=member_id, status=status),
    )

    def check(i: int) -> None:
        d = decisions[i]
        if d.status == LineStatus.accepted and not (
            d.affiliation_number and d.affiliation_number.strip()
        ):
            raise ValidationFailed.field(f"lines.{i}.affiliation_number", NEEDS_NUMBER())
        if reason_missing(d.status, d.reason):
            raise ValidationFailed.field(f"lines.{i}.reason", REJECTION_NEEDS_REASON())

    chosen = new_decisions(
        [(d.member_id, d.status) for d in decisions],
        {member_id: ln.status for member_id, ln in lines.items()},
        said,
        check=check,
    )
    accept: list[tuple[AffiliationLine, str]] = []
    accepted_at: list[int] = []  # the decision index of each accepted line
    reject: list[tuple[AffiliationLine, str]] = []
    for i in chosen:
        d, line = decisions[i], lines[decisions[i].member_id]
        if d.status == LineStatus.accepted:
            accept.append((line, (d.affiliation_number or "").strip()))
            accepted_at.append(i)
        else:
            reject.append((line, (d.reason or "").strip()[:500]))
    taken = _numbers_taken(
        session,
        fund,
        [(i, ln.member_id, n) for i, (ln, n) in zip(accepted_at, accept, strict=True)],
    )
    if taken:  # one number at a fund, one member: refused before anything is written
        i, _, number, holder = taken[0]
        raise AffiliationNumberTaken(
            field=f"lines.{i}.affiliation_number", fund_code=fund.code, number=number, holder=holder
        )
    commission = _commission(fund) if accept else 0
    now = utcnow()
    journal_id = None
    if accept and commission:
        receivable = ledger.ensure_account(
            session,
            actor,
            code=f"FUND:{fund.code}:COMMISSION_RECEIVABLE",
            name=f"Commission receivable from {fund.name}",
            type=AccountType.asset,
            currency=fund.currency,
            owner=ledger.Owner("fund", fund.code),
        )
        income = ledger.ensure_account(
            session,
            actor,
            code=f"FUND:{fund.code}:COMMISSION_INCOME",
            name=f"Affiliation commission from {fund.name}",
            type=AccountType.income,
            currency=fund.currency,
            owner=ledger.Owner("fund", fund.code),
        )
        total = commission * len(accept)
        journal_id = ledger.post(
            session,
            actor,
            description=f"Affiliation commission {batch.reference}: {len(accept)} x {fund.code}",
            effective_on=clock.session_today(session),  # the organisation's day
            lines=[Line.debit(receivable.id, total), Line.credit(income.id, total)],
            kind="affiliation.commission",
            owner=ledger.Owner("affiliation_batch", batch.reference),
        )
        batch.commission_total += total
    for line, number in accept:
        line.status, line.affiliation_number = LineStatus.accepted.value, number[:64]
        line.decided_at = now
        if journal_id is not None:
            line.commission, line.commission_journal_id = commission, journal_id
    for line, reason in reject:
        line.status, line.reason, line.decided_at = LineStatus.rejected.value, reason, now
    _record_numbers(session, org, fund, [(ln.member_id, n[:64]) for ln, n in accept])
    batch.accepted_count += len(accept)
    batch.rejected_count += len(reject)
    acknowledged_when_all_decided(batch, at=now)
    session.flush()
    audit.record(
        session,
        actor,
        "affiliation.acknowledge",
        "affiliation_batch",
        batch.id,
        {
            "reference": batch.reference,
            "accepted": len(accept),
            "rejected": len(reject),
            "commission_journal_id": str(journal_id) if journal_id else None,
        },
    )
    return batch


def _commission(fund: Fund) -> int:
    text = (fund.adapter_config or {}).get("commission_per_affiliation")
    if text is None:
        return 0
    try:
        return parse_minor(str(text), fund.currency)
    except MoneyError as exc:
        raise Conflict(BAD_COMMISSION(fund=fund.code, error=exc.message)) from None


def _record_numbers(
    session: Session, org: uuid.UUID, fund: Fund, numbers: list[tuple[uuid.UUID, str]]
) -> None:
    """Store each accepted member's affiliation number (insert, or update a stale one). The
    numbers were checked free; a concurrent request that took one meanwhile meets the unique
    constraint, answered as the same 409."""
    if not numbers:
        return
    try:
        with session.begin_nested():
            _write_numbers(session, org, fund, numbers)
    except IntegrityError:
        taken = _numbers_taken(session, fund, [(i, m, n) for i, (m, n) in enumerate(numbers)])
        if not taken:
            raise
        _, _, number, holder = taken[0]
        raise AffiliationNumberTaken(
            field="affiliation_number", fund_code=fund.code, number=number, holder=holder
        ) from None


def _write_numbers(
    session: Session, org: uuid.UUID, fund: Fund, numbers: list[tuple[uuid.UUID, str]]
) -> None:
    existing = set(
        session.scalars(
            select(MemberAffiliation.member_id).where(
                MemberAffiliation.fund_id == fund.id,
                MemberAffiliation.member_id.in_([m for m, _ in numbers]),
            )
        )
    )
    today = clock.session_today(session)  # the organisation's day
    new = [
        {
            "organisation_id": org,
            "id": uuid7(),
            "member_id": m,
            "fund_id": fund.id,
            "affiliation_number": n,
            "affiliated_on": today,
            "updated_at": utcnow(),
        }
        for m, n in numbers
        if m not in existing
    ]
    if new:
        session.execute(insert(MemberAffiliation), new)
    for m, n in numbers:
        if m in existing:
            session.execute(
                update(MemberAffiliation)
                .where(
                    MemberAffiliation.organisation_id == org,
                    MemberAffiliation.fund_id == fund.id,
                    MemberAffiliation.member_id == m,
                )
                .values(affiliation_number=n, affiliated_on=today, updated_at=utcnow())
            )
