"""The fund's answer: acknowledgement per line (JSON or ISO 20022 pain.002, read by
app.funds.adapters.pain002), then settlement.

A line is decided once: accepted, or rejected with a reason. Sending the same decision again
changes nothing (fund offices resend); a different one is 409. Rejected lines go back from
in transit to owed, in one entry per acknowledgement, and their shares are free again for
the fund's next batch. The batch is `acknowledged` when no line is pending.

Settlement books what actually moved. A settled amount that differs from the accepted sum
is recorded and flagged, never absorbed: the difference stays in the in-transit account.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ARRAY, String, Uuid, and_, bindparam, exists, select, text, update
from sqlalchemy.orm import Session

from app.collections.models import ContributionShare
from app.core import audit, clock, dialect
from app.core.audit import Actor
from app.core.database import utcnow
from app.core.deps import Principal
from app.core.errors import Conflict, ValidationFailed
from app.core.ids import uuid7
from app.core.messages import N_, Template
from app.funds.adapters.pain002 import Pain002, transaction_status
from app.funds.registry import LineAnswer
from app.ledger import ownership
from app.ledger import service as ledger
from app.ledger.models import AccountType
from app.ledger.service import Line
from app.remittances.answers import Said, acknowledged_when_all_decided, new_decisions
from app.remittances.lifecycle import BatchStatus, LineStatus, require, transition
from app.remittances.lookups import bulk_joins, fund_of, get_batch
from app.remittances.models import (
    RemittanceAcknowledgement,
    RemittanceBatch,
    RemittanceLine,
    RemittanceShare,
)

LINE_LISTED_TWICE = Template("answer.line_twice", N_("%(line)s is listed twice"))
NO_LINE = Template("answer.no_line", N_("no line %(line)s in batch %(reference)s"))
LINE_DECIDED = Template(
    "line.decided", N_("line %(line)s was already %(status)s; it cannot now be %(wanted)s")
)
NOTHING_TO_SETTLE = Template(
    "batch.nothing_to_settle",
    N_("every line of batch %(reference)s was rejected: nothing to settle"),
)
CUSTODY_SETTLES_INTO_CUSTODY = Template(
    "settlement.custody_account",
    N_("a custody fund settles into its custody account at the intermediary"),
)
NO_CUSTODY_ACCOUNT = Template(
    "fund.no_custody_account", N_("custody fund %(fund)s has no custody account")
)


def answers_from_pain002(
    session: Session, batch: RemittanceBatch, report: Pain002
) -> list[LineAnswer]:
    """Per-transaction statuses win; a final group status (accepted or rejected) decides the
    lines not listed; a transaction whose EndToEndId is the batch reference (one transfer
    per batch) decides every line."""
    by_key = {a.key: a for a in report.answers}
    whole = by_key.pop(batch.reference, None)
    default = whole.status if whole else transaction_status(report.group_status or "")
    default_reason = (whole.reason if whole else None) or (
        f"whole batch rejected (group status {report.group_status})"
        if default == "rejected"
        else None
    )
    if default is None:
        return list(by_key.values())
    pending = session.scalars(
        select(RemittanceLine.end_to_end_id).where(
            RemittanceLine.batch_id == batch.id, RemittanceLine.status == LineStatus.pending
        )
    ).all()
    out = list(by_key.values())
    out += [LineAnswer(k, default, default_reason) for k in pending if k not in by_key]  # type: ignore[arg-type]
    return out


def acknowledge(
    session: Session,
    actor: Actor,
    batch_id: uuid.UUID,
    answers: Sequence[LineAnswer],
    *,
    source: str,
    document: str | None = None,
    message_id: str | None = None,
    caller: Principal | None = None,
    field_prefix: str = "lines",
) -> tuple[RemittanceBatch, RemittanceAcknowledgement]:
    """Record the fund's decisions on lines of a submitted batch (see the module docstring);
    a batch the caller may not see is 404."""
    batch = get_batch(session, batch_id, caller=caller, lock=True)
    require(batch, BatchStatus.acknowledged)
    org = batch.organisation_id
    lines = {
        e2e: (line_id, status, amount)
        for line_id, e2e, status, amount in session.execute(
            select(
                RemittanceLine.id,
                RemittanceLine.end_to_end_id,
                RemittanceLine.status,
                RemittanceLine.amount,
            ).where(RemittanceLine.batch_id == batch.id)
        )
    }
    said = Said(
        where=lambda i: f"{field_prefix}.{i}.end_to_end_id",
        twice=lambda key: LINE_LISTED_TWICE(line=key),
        missing=lambda key: NO_LINE(line=repr(key), reference=batch.reference),
        decided=lambda key, status, wanted: LINE_DECIDED(line=key, status=status, wanted=wanted),
    )
    chosen = new_decisions(
        [(a.key, a.status) for a in answers], {k: v[1] for k, v in lines.items()}, said
    )
    accept: list[tuple[uuid.UUID, int]] = []
    reject: list[tuple[uuid.UUID, str | None, int]] = []
    for i in chosen:
        answer = answers[i]
        line_id, _, amount = lines[answer.key]
        if answer.status == LineStatus.accepted:
            accept.append((line_id, amount))
        else:
            reject.append((line_id, answer.reason, amount))
    fund = fund_of(session, batch)
    ack = RemittanceAcknowledgement(
        organisation_id=org,
        id=uuid7(),
        batch_id=batch.id,
        source=source,
        message_id=message_id[:35] if message_id else None,
        accepted_count=len(accept),
        rejected_count=len(reject),
        rejected_sum=sum(a for _, _, a in reject),
        document=document,
        created_by=actor.name,
    )
    session.add(ack)
    session.flush()
    now = utcnow()
    decided: list[tuple[uuid.UUID, str, str | None]] = [
        (i, LineStatus.accepted.value, None) for i, _ in accept
    ]
    decided += [
        (i, LineStatus.rejected.value, (r or "rejected by the fund")[:500]) for i, r, _ in reject
    ]
    _decide_lines(session, org, ack.id, now, decided)
    if reject:
        _release_rejected(session, org, batch.id, ack.id)
        ack.journal_id = ledger.post(
            session,
            actor,
            description=f"Remittance {batch.reference} to {fund.code}: {len(reject)} line(s) rejected",
            effective_on=clock.session_today(session),  # the organisation's day
            lines=[
                Line.debit(fund.transit_account_id, ack.rejected_sum),
                Line.credit(fund.owed_account_id, ack.rejected_sum),
            ],
            kind="remittance.rejection",
            owner=ledger.Owner("remittance_batch", batch.reference),
        )
    batch.accepted_count += len(accept)
    batch.accepted_sum += sum(a for _, a in accept)
    batch.rejected_count += len(reject)
    batch.rejected_sum += ack.rejected_sum
    acknowledged_when_all_decided(batch, at=now)
    session.flush()
    audit.record(
        session,
        actor,
        "remittance.acknowledge",
        "remittance_batch",
        batch.id,
        {
            "reference": batch.reference,
            "source": source,
            "accepted": len(accept),
            "rejected": len(reject),
            "rejected_sum": ack.rejected_sum,
            "journal_id": str(ack.journal_id) if ack.journal_id else None,
            "status": batch.status,
        },
    )
    return batch, ack


def _decide_lines(
    session: Session,
    org: uuid.UUID,
    ack_id: uuid.UUID,
    now: datetime,
    decided: list[tuple[uuid.UUID, str, str | None]],
) -> None:
    """Write each decided line's status and reason, set-based: on PostgreSQL one UPDATE ...
    FROM unnest(arrays) whatever the number of lines (three array parameters, no per-line
    round trip); on SQLite, where a statement costs no round trip, one executemany."""
    if not decided:
        return
    if dialect.is_postgres(session):
        ids, statuses, reasons = (list(column) for column in zip(*decided, strict=True))
        session.execute(
            text(
                "UPDATE remittance_line AS l SET status = d.status, reason = d.reason, "
                "decided_at = :now, acknowledgement_id = :ack "
                "FROM unnest(:ids, :statuses, :reasons) AS d(id, status, reason) "
                "WHERE l.organisation_id = :org AND l.id = d.id"
            ).bindparams(
                bindparam("org", type_=Uuid()),
                bindparam("ack", type_=Uuid()),
                bindparam("ids", type_=ARRAY(Uuid())),
                bindparam("statuses", type_=ARRAY(String())),
                bindparam("reasons", type_=ARRAY(String())),
            ),
            {
                "org": org,
                "ack": ack_id,
                "now": now,
                "ids": ids,
                "statuses": statuses,
                "reasons": reasons,
            },
        )
        return
    session.execute(
        update(RemittanceLine),
        [
            {
                "organisation_id": org,
                "id": line_id,
                "status": status,
                "reason": reason,
                "decided_at": now,
                "acknowledgement_id": ack_id,
            }
            for line_id, status, reason in decided
        ],
    )


def _release_rejected(
    session: Session, org: uuid.UUID, batch_id: uuid.UUID, ack_id: uuid.UUID
) -> None:
    """Free the shares of the lines this acknowledgement rejected (one statement)."""
    rejected_share = (
        select(ContributionShare.id)
        .join(
            RemittanceLine,
            and_(
                RemittanceLine.organisation_id == ContributionShare.organisation_id,
                RemittanceLine.batch_id == batch_id,
                RemittanceLine.member_id == ContributionShare.member_id,
                RemittanceLine.period_start == ContributionShare.period_start,
                RemittanceLine.period_end == ContributionShare.period_end,
            ),
        )
        .where(
            ContributionShare.organisation_id == org,
            RemittanceLine.acknowledgement_id == ack_id,
            RemittanceLine.status == LineStatus.rejected,
        )
    )
    restore = bulk_joins(session)
    session.execute(
        update(RemittanceShare)
        .where(
            RemittanceShare.organisation_id == org,
            RemittanceShare.batch_id == batch_id,
            RemittanceShare.released_at.is_(None),
            RemittanceShare.share_id.in_(rejected_share),
        )
        .values(released_at=utcnow())
    )
    restore()


# -- settlement ---------------------------------------------------------------------------------


def settle(
    session: Session,
    actor: Actor,
    batch_id: uuid.UUID,
    *,
    amount: int,
    settled_on: date,
    reference: str,
    bank_account_id: uuid.UUID | None = None,
    caller: Principal | None = None,
) -> RemittanceBatch:
    """Book what actually moved for an acknowledged batch: in transit -> bank (an external
    fund) or -> the fund's custody account (a custody fund). A difference from the accepted
    sum is recorded on the batch and left in transit, visible until explained. A batch the
    caller may not see is 404."""
    batch = get_batch(session, batch_id, caller=caller, lock=True)
    require(batch, BatchStatus.settled)
    if batch.accepted_sum == 0:
        raise Conflict(NOTHING_TO_SETTLE(reference=batch.reference))
    fund = fund_of(session, batch)
    if fund.custody:
        if bank_account_id is not None:
            raise ValidationFailed.field("bank_account_id", CUSTODY_SETTLES_INTO_CUSTODY())
        if fund.custody_account_id is None:
            raise Conflict(NO_CUSTODY_ACCOUNT(fund=fund.code))
        to_account = fund.custody_account_id
    else:
        to_account = bank_account(session, actor, bank_account_id, batch.currency)
    journal_id = ledger.post(
        session,
        actor,
        description=f"Remittance {batch.reference} to {fund.code} settled ({reference})",
        effective_on=settled_on,
        lines=[Line.debit(fund.transit_account_id, amount), Line.credit(to_account, amount)],
        kind="remittance.settlement",
        owner=ledger.Owner("remittance_batch", batch.reference),
    )
    transition(batch, BatchStatus.settled)
    batch.settled_on = settled_on
    batch.settled_amount = amount
    batch.settlement_reference = reference
    batch.settlement_account_id = to_account
    batch.settlement_journal_id = journal_id
    session.flush()
    audit.record(
        session,
        actor,
        "remittance.settle",
        "remittance_batch",
        batch.id,
        {
            "reference": batch.reference,
            "amount": amount,
            "accepted_sum": batch.accepted_sum,
            "difference": batch.settlement_difference,
            "settlement_reference": reference,
            "account_id": str(to_account),
            "journal_id": str(journal_id),
        },
    )
    return batch


def bank_account(
    session: Session, actor: Actor, account_id: uuid.UUID | None, currency: str
) -> uuid.UUID:
    """The bank account money moves through: `account_id` if given (an asset account in
    `currency` open to manual use, never one a service keeps such as a collector's cash or a
    fund's commission receivable, else 422 naming `bank_account_id`), otherwise the
    organisation's BANK:MAIN (opened on first use, for manual use)."""
    if account_id is not None:
        return ownership.manual_account(
            session, account_id, field="bank_account_id", currency=currency
        ).id
    return ledger.ensure_account(
        session,
        actor,
        code="BANK:MAIN",
        name="Main bank account",
        type=AccountType.asset,
        currency=currency,
    ).id


def shares_of_line(org: uuid.UUID, line: RemittanceLine) -> Any:
    """The shares a line carries (for checks and tests)."""
    return select(ContributionShare.id).where(
        ContributionShare.organisation_id == org,
        exists().where(
            RemittanceShare.organisation_id == org,
            RemittanceShare.batch_id == line.batch_id,
            RemittanceShare.share_id == ContributionShare.id,
        ),
        ContributionShare.member_id == line.member_id,
        ContributionShare.period_start == line.period_start,
        ContributionShare.period_end == line.period_end,
    )
