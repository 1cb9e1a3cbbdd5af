"""Remittance batches: gather what is owed to a fund, seal, cancel, submit.

Each step is one transaction (the caller's unit of work) with its ledger entry and audit
event; steps out of order are 409. Acknowledgement and settlement are in settlement.py.

Ledger shape: sealing moves the control sum from the fund's owed account to its in-transit
account; a rejected line moves back; settlement moves in-transit out to the bank (or, for a
custody fund, into the fund's custody account at the intermediary).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import (
    Uuid,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from app.collections.models import ContributionShare
from app.core import audit, clock, dialect
from app.core.audit import Actor
from app.core.database import bound_organisation, utcnow
from app.core.deps import Principal
from app.core.errors import Conflict, DomainError, ValidationFailed
from app.core.ids import uuid7
from app.core.messages import N_, Message, Template
from app.core.pagination import NOT_A_CURSOR, decode_cursor, encode_cursor
from app.funds import registry
from app.funds.models import Fund
from app.funds.registry import BatchDocument, Delivery, DeliveryFailed
from app.ledger import ownership
from app.ledger import service as ledger
from app.ledger.service import Line
from app.remittances import access
from app.remittances.documents import (
    FILE_FORMATS,
    STREAM_CHUNK,
    BatchFile,
    message_id,
    remittance_document,
    stream_file,
)
from app.remittances.lifecycle import BatchStatus, LineStatus, require, transition
from app.remittances.lookups import (
    NO_FUND_WITH_CODE,
    bulk_joins,
    fund_by_code,
    fund_of,
    get_batch,
    list_batches,
)
from app.remittances.messages import ADAPTER_NOT_INSTALLED
from app.remittances.models import (
    RemittanceBatch,
    RemittanceCounter,
    RemittanceLine,
    RemittanceShare,
)
from app.remittances.settlement import acknowledge


class FundUnreachable(DomainError):
    """The fund's adapter could not hand the batch over (502); the batch stays sealed."""

    status, slug, title = 502, "fund-unreachable", "The fund did not take the batch"

    def __init__(self, message: Message) -> None:
        super().__init__(message)


NOTHING_OWED = Template(
    "batch.nothing_owed",
    N_("nothing is owed to fund %(fund)s for periods ending on or before %(day)s"),
)


ownership.register(
    "remittance_batch",
    noun="remittance batch",
    undo="a batch's entries follow its lifecycle (sealed, answered by the fund, settled) and "
    "are not reversed in the journal",
)


def _org(session: Session) -> uuid.UUID:
    org = bound_organisation(session)
    if org is None:
        raise RuntimeError("remittances need a session bound to an organisation")
    return org


def next_number(session: Session, kind: str) -> int:
    """The organisation's next batch number of this kind, taken in this transaction."""
    org = _org(session)
    stmt = dialect.insert_on_conflict(session)(RemittanceCounter).values(
        organisation_id=org, kind=kind, last_number=1
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["organisation_id", "kind"],
        set_={"last_number": RemittanceCounter.last_number + 1},
    ).returning(RemittanceCounter.last_number)
    return int(session.execute(stmt).scalar_one())


# -- creating a batch ---------------------------------------------------------------------------


def create_batch(
    session: Session, actor: Actor, *, fund_code: str, through: date
) -> RemittanceBatch:
    """Gather every share owed to the fund for periods ending on or before `through`, not in
    a live batch, into a draft batch of per-member-per-period lines.

    Shares are claimed first, in one INSERT ... SELECT, so what the lines add up to is
    exactly what the batch holds even while receipts keep arriving. A member's period whose
    shares net to zero (a receipt and its reversal) is claimed without a line; one that nets
    below zero is left owed, to net against later shares. Nothing owed is 409.
    """
    org = _org(session)
    fund = session.scalar(select(Fund).where(Fund.code == fund_code).with_for_update())
    if fund is None:
        raise ValidationFailed.field("fund_code", NO_FUND_WITH_CODE(code=repr(fund_code)))
    batch = RemittanceBatch(
        organisation_id=org,
        id=uuid7(),
        number=next_number(session, "remittance"),
        fund_id=fund.id,
        through=through,
        status=BatchStatus.draft.value,
        currency=fund.currency,
        line_count=0,
        control_sum=0,
        created_by=actor.name,
    )
    session.add(batch)
    session.flush()

    # Right after a bulk load the planner's statistics may say "one share", and it then picks
    # a nested loop that compares every share with every live link (minutes, not a second).
    # Claiming and grouping are bulk work: let PostgreSQL use hash or merge joins for them.
    restore = bulk_joins(session)
    live = exists().where(
        RemittanceShare.organisation_id == ContributionShare.organisation_id,
        RemittanceShare.share_id == ContributionShare.id,
        RemittanceShare.released_at.is_(None),
    )
    session.execute(
        insert(RemittanceShare).from_select(
            ["organisation_id", "batch_id", "share_id"],
            select(
                ContributionShare.organisation_id,
                literal(batch.id, type_=Uuid()),
                ContributionShare.id,
            )
            .where(
                ContributionShare.organisation_id == org,
                ContributionShare.fund_id == fund.id,
                ContributionShare.period_end <= through,
                ~live,
            )
            # in share order: both of the link table's indexes are then appended to, not
            # split at 100,000 random places
            .order_by(ContributionShare.id),
        )
    )
    claimed = _claimed_shares(org, batch.id)
    negative = session.execute(
        select(
            ContributionShare.member_id,
            ContributionShare.period_start,
            ContributionShare.period_end,
        )
        .join(
            claimed,
            claimed.c.share_id == ContributionShare.id,
        )
        .where(ContributionShare.organisation_id == org)
        .group_by(
            ContributionShare.member_id,
            ContributionShare.period_start,
            ContributionShare.period_end,
        )
        .having(func.sum(ContributionShare.amount) < 0)
    ).all()
    owing_back = [(m, ps, pe) for m, ps, pe in negative]
    for i in range(0, len(owing_back), 500):
        keys = owing_back[i : i + 500]
        session.execute(
            delete(RemittanceShare).where(
                RemittanceShare.organisation_id == org,
                RemittanceShare.batch_id == batch.id,
                RemittanceShare.share_id.in_(
                    select(ContributionShare.id).where(
                        ContributionShare.organisation_id == org,
                        ContributionShare.fund_id == fund.id,
                        tuple_(
                            ContributionShare.member_id,
                            ContributionShare.period_start,
                            ContributionShare.period_end,
                        ).in_(keys),
                    )
                ),
            )
        )
    # The lines, in one INSERT ... SELECT: numbered in member-number order, each with the
    # member's affiliation number at this fund as it is now. PostgreSQL hands the control
    # totals back from the same statement; SQLite reads them after.
    pg = dialect.is_postgres(session)
    params = {"org": org, "batch": batch.id, "fund": fund.id, "ref": batch.reference}
    totals = session.execute(
        text(_insert_lines_sql(pg)).bindparams(
            bindparam("org", type_=Uuid()),
            bindparam("batch", type_=Uuid()),
            bindparam("fund", type_=Uuid()),
        ),
        params,
    )
    if pg:
        count, total = totals.one()
    else:
        count, total = session.execute(
            select(func.count(), func.coalesce(func.sum(RemittanceLine.amount), 0)).where(
                RemittanceLine.organisation_id == org, RemittanceLine.batch_id == batch.id
            )
        ).one()
    restore()
    if count == 0:
        raise Conflict(NOTHING_OWED(fund=fund.code, day=through))
    reference = batch.reference
    batch.line_count = int(count)
    batch.control_sum = int(total)
    session.flush()
    audit.record(
        session,
        actor,
        "remittance.create",
        "remittance_batch",
        batch.id,
        {
            "reference": reference,
            "fund_code": fund.code,
            "through": through.isoformat(),
            "line_count": batch.line_count,
            "control_sum": batch.control_sum,
            "left_owed_negative": len(owing_back),
        },
    )
    return batch


def _claimed_shares(org: uuid.UUID, batch_id: uuid.UUID) -> Any:
    return (
        select(RemittanceShare.share_id)
        .where(RemittanceShare.organisation_id == org, RemittanceShare.batch_id == batch_id)
        .subquery("claimed")
    )


def _insert_lines_sql(pg: bool) -> str:
    """The set-based line insert. Ids and zero-padding are the only dialect differences."""
    if pg:
        # The batch id's first 80 bits (a UUIDv7: its creation time and randomness) and the
        # line number: unique, and in order, so the primary-key index is appended to rather
        # than split at random places 100,000 times.
        new_id = (
            "CAST(substr(replace(CAST(CAST(:batch AS uuid) AS text), '-', ''), 1, 20)"
            " || lpad(to_hex(x.n), 12, '0') AS uuid)"
        )
        number = "lpad(CAST(x.n AS text), GREATEST(6, length(CAST(x.n AS text))), '0')"
    else:  # SQLite stores a Uuid as 32 hex digits
        new_id = "lower(hex(randomblob(16)))"
        number = "printf('%06d', x.n)"
    insert = f"""
        INSERT INTO remittance_line (organisation_id, id, batch_id, line_number, end_to_end_id,
            member_id, affiliation_number, period_start, period_end, amount, status)
        SELECT :org, {new_id}, :batch, x.n, :ref || '-' || {number}, x.member_id,
            x.affiliation_number, x.ps, x.pe, x.total, 'pending'
        FROM (
            SELECT g.member_id, g.ps, g.pe, g.total, ma.affiliation_number,
                row_number() OVER (ORDER BY m.member_number, g.ps, g.pe) AS n
            FROM (
                SELECT s.member_id AS member_id, s.period_start AS ps, s.period_end AS pe,
                    sum(s.amount) AS total
                FROM remittance_share l
                JOIN contribution_share s
                    ON s.organisation_id = l.organisation_id AND s.id = l.share_id
                WHERE l.organisation_id = :org AND l.batch_id = :batch
                GROUP BY s.member_id, s.period_start, s.period_end
                HAVING sum(s.amount) > 0
            ) g
            JOIN member m ON m.organisation_id = :org AND m.id = g.member_id
            LEFT JOIN member_affiliation ma ON ma.organisation_id = :org
                AND ma.member_id = g.member_id AND ma.fund_id = :fund
        ) x
    """
    if pg:
        return f"""
            WITH line AS ({insert} RETURNING amount)
            SELECT count(*), coalesce(sum(amount), 0) FROM line
        """
    return insert


# -- lifecycle ----------------------------------------------------------------------------------


def seal(session: Session, actor: Actor, batch_id: uuid.UUID) -> RemittanceBatch:
    """Fix the batch (no line changes after this) and move its control sum from owed to in
    transit, in one entry."""
    batch = get_batch(session, batch_id, lock=True)
    require(batch, BatchStatus.sealed)
    fund = fund_of(session, batch)
    batch.seal_journal_id = ledger.post(
        session,
        actor,
        description=f"Remittance {batch.reference} to {fund.code} sealed",
        effective_on=clock.session_today(session),  # the organisation's day
        lines=[
            Line.debit(fund.owed_account_id, batch.control_sum),
            Line.credit(fund.transit_account_id, batch.control_sum),
        ],
        kind="remittance.seal",
        owner=ledger.Owner("remittance_batch", batch.reference),
    )
    transition(batch, BatchStatus.sealed)
    session.flush()
    audit.record(
        session,
        actor,
        "remittance.seal",
        "remittance_batch",
        batch.id,
        {
            "reference": batch.reference,
            "control_sum": batch.control_sum,
            "journal_id": str(batch.seal_journal_id),
        },
    )
    return batch


def cancel(
    session: Session, actor: Actor, batch_id: uuid.UUID, reason: str | None
) -> RemittanceBatch:
    """Cancel a draft: its shares are free again and go into the fund's next batch."""
    batch = get_batch(session, batch_id, lock=True)
    require(batch, BatchStatus.cancelled)
    session.execute(
        update(RemittanceShare)
        .where(
            RemittanceShare.organisation_id == batch.organisation_id,
            RemittanceShare.batch_id == batch.id,
            RemittanceShare.released_at.is_(None),
        )
        .values(released_at=utcnow())
    )
    transition(batch, BatchStatus.cancelled)
    batch.cancel_reason = reason
    session.flush()
    audit.record(
        session,
        actor,
        "remittance.cancel",
        "remittance_batch",
        batch.id,
        {"reference": batch.reference, "reason": reason},
    )
    return batch


def hand_over(
    fund: Fund, document: Callable[[], BatchDocument], not_installed: Callable[[], Message]
) -> Delivery:
    """Hand a batch of either kind to its fund's adapter: 409 (`not_installed`) if the adapter
    is not installed, FundUnreachable (502) if it could not hand it over."""
    try:
        adapter = registry.get(fund.adapter)
    except ValidationFailed:
        raise Conflict(not_installed()) from None
    made = document()
    try:
        return adapter.deliver(made, dict(fund.adapter_config or {}))
    except DeliveryFailed as exc:
        raise FundUnreachable(exc.message) from exc


def submit(session: Session, actor: Actor, batch_id: uuid.UUID) -> RemittanceBatch:
    """Hand a sealed batch to the fund's adapter and record what it did and answered.

    If the fund answers with line statuses, they are applied as its acknowledgement. If the
    adapter cannot hand it over, FundUnreachable (502) and the batch stays sealed.
    """
    batch = get_batch(session, batch_id, lock=True)
    require(batch, BatchStatus.submitted)
    fund = fund_of(session, batch)
    delivery = hand_over(
        fund,
        lambda: remittance_document(session, batch, fund),
        lambda: ADAPTER_NOT_INSTALLED(
            fund=fund.code, adapter=repr(fund.adapter), names=", ".join(registry.names())
        ),
    )
    batch.delivery = {
        "adapter": fund.adapter,
        "outcome": delivery.outcome,
        "reference": delivery.reference,
        "attempts": delivery.attempts,
        "answer": delivery.answer,
        "at": utcnow().isoformat(),
    }
    transition(batch, BatchStatus.submitted)
    session.flush()
    audit.record(
        session,
        actor,
        "remittance.submit",
        "remittance_batch",
        batch.id,
        {
            "reference": batch.reference,
            "adapter": fund.adapter,
            "outcome": delivery.outcome,
            "attempts": delivery.attempts,
            "fund_reference": delivery.reference,
        },
    )
    if delivery.line_answers:
        acknowledge(session, actor, batch.id, delivery.line_answers, source="adapter")
    return batch


def record_failed_delivery(session: Session, actor: Actor, batch_id: uuid.UUID, error: str) -> None:
    """Keep a failed hand-over in the batch and the audit trail (the submission rolled back)."""
    batch = get_batch(session, batch_id)
    batch.delivery = {"outcome": "failed", "error": error[:1000], "at": utcnow().isoformat()}
    session.flush()
    audit.record(
        session,
        actor,
        "remittance.delivery_failed",
        "remittance_batch",
        batch.id,
        {"reference": batch.reference, "error": error[:1000]},
    )


# -- what the caller may see (the API and the pages ask the same functions) --------------------


def batches(
    session: Session,
    caller: Principal | None,
    *,
    fund_code: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[tuple[RemittanceBatch, Fund]], str | None]:
    """Batches with their funds, newest first, within the caller's scope (a fund office's own
    fund; another fund asked for is an empty list), and the next page's cursor."""
    return list_batches(
        session,
        RemittanceBatch,
        caller,
        fund_code=fund_code,
        status=status,
        limit=limit,
        cursor=cursor,
    )


def fund_batches(
    session: Session,
    caller: Principal | None,
    code: str,
    *,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[tuple[RemittanceBatch, Fund]], str | None]:
    """One fund's batches, newest first; a fund outside the caller's scope is 404."""
    access.require_fund(caller, code)
    fund_by_code(session, code, field=None)
    return batches(session, caller, fund_code=code, status=status, limit=limit, cursor=cursor)


def batch(session: Session, caller: Principal | None, batch_id: uuid.UUID) -> RemittanceBatch:
    """The batch, if the caller may see it (404 otherwise)."""
    return get_batch(session, batch_id, caller=caller)


def lines(
    session: Session,
    caller: Principal | None,
    batch_id: uuid.UUID,
    *,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[RemittanceBatch, list[RemittanceLine], str | None]:
    """The batch (if the caller may see it), a page of its lines in order, and the next
    page's cursor."""
    found = batch(session, caller, batch_id)
    after = decode_cursor(cursor, 1)
    stmt = (
        select(RemittanceLine)
        .where(RemittanceLine.batch_id == found.id)
        .order_by(RemittanceLine.line_number)
        .limit(limit + 1)
    )
    if status is not None:
        stmt = stmt.where(RemittanceLine.status == LineStatus(status).value)
    if after is not None:
        if not isinstance(after[0], int):
            raise ValidationFailed.field("cursor", NOT_A_CURSOR())
        stmt = stmt.where(RemittanceLine.line_number > after[0])
    rows = list(session.scalars(stmt))
    nxt = encode_cursor([rows[limit - 1].line_number]) if len(rows) > limit else None
    return found, rows[:limit], nxt


def batch_file(
    session: Session, caller: Principal | None, batch_id: uuid.UUID, format: str
) -> BatchFile:
    """What a download of the batch in `format` needs: 404 for a batch the caller may not
    see, 409 for one that has no file (a draft or cancelled batch)."""
    found = batch(session, caller, batch_id)
    access.require_file(found)
    fund = fund_of(session, found)
    render, media_type, ext, adapter_name = FILE_FORMATS[format]
    config = dict(fund.adapter_config or {}) if fund.adapter == adapter_name else {}
    return BatchFile(
        found.organisation_id, found.id, render, media_type, config, f"{found.reference}.{ext}"
    )


# The batch as a document lives in documents.py and the look-ups in lookups.py; these names
# stay importable from here (the web pages and the benchmark use them).
__all__ = [
    "FILE_FORMATS",
    "STREAM_CHUNK",
    "BatchFile",
    "FundUnreachable",
    "batch",
    "batch_file",
    "batches",
    "cancel",
    "create_batch",
    "fund_batches",
    "fund_by_code",
    "fund_of",
    "get_batch",
    "lines",
    "message_id",
    "next_number",
    "record_failed_delivery",
    "remittance_document",
    "seal",
    "stream_file",
    "submit",
]
