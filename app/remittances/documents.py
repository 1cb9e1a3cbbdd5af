"""A remittance batch as adapters and downloads see it: a header and its lines, streamed
from the database a chunk at a time."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from app.core import dialect
from app.core.database import bind_organisation
from app.core.messages import N_, Template
from app.funds.adapters import csv_file, json_file, pain001
from app.funds.models import Fund
from app.funds.registry import (
    AffiliationRequest,
    BatchDocument,
    BatchHeader,
    ContributionLine,
)
from app.identity.models import Organisation
from app.members.models import Member
from app.remittances.lookups import fund_of, get_affiliation_batch, get_batch
from app.remittances.models import (
    AffiliationBatch,
    AffiliationLine,
    RemittanceBatch,
    RemittanceLine,
)

STREAM_CHUNK = 5000  # lines read per query when a batch is streamed to a file or a fund

FILE_FORMATS: dict[str, tuple[Any, str, str, str]] = {
    # format: (renderer, media type, file extension, the adapter whose config shapes it)
    "csv": (csv_file.render, csv_file.MEDIA_TYPE, "csv", "csv"),
    "json": (json_file.render, json_file.MEDIA_TYPE, "json", "http_json"),
    "pain.001": (pain001.render, pain001.MEDIA_TYPE, "xml", "pain001"),
}


NO_FORMAT = Template("file.no_format", N_("no format %(format)s"))


@dataclass(frozen=True, slots=True)
class BatchFile:
    """A batch's download, as the API and the pages stream it (see stream_file)."""

    organisation_id: uuid.UUID
    batch_id: uuid.UUID
    render: Callable[..., Iterator[bytes]]
    media_type: str
    config: dict[str, Any]
    filename: str


def message_id(organisation_code: str, reference: str) -> str:
    return f"{organisation_code[:20]}-{reference}"


def batch_header(
    session: Session,
    batch: RemittanceBatch | AffiliationBatch,
    fund: Fund,
    *,
    kind: Literal["remittance", "affiliation"],
    currency: str,
    created_at: datetime,
    control_sum: int,
    through: date | None = None,
) -> BatchHeader:
    """The header of a batch of either kind as adapters see it: who sends it to which fund."""
    org = session.scalar(select(Organisation).where(Organisation.id == batch.organisation_id))
    assert org is not None
    return BatchHeader(
        kind=kind,
        batch_id=batch.id,
        reference=batch.reference,
        message_id=message_id(org.code, batch.reference),
        organisation_code=org.code,
        organisation_name=org.name,
        fund_code=fund.code,
        fund_name=fund.name,
        currency=currency,
        created_at=created_at,
        line_count=batch.line_count,
        control_sum=control_sum,
        through=through,
        settlement_account=fund.settlement_account,
        time_zone=org.time_zone,
    )


def remittance_document(
    session: Session, batch: RemittanceBatch, fund: Fund, *, release_between_chunks: bool = False
) -> BatchDocument:
    """The batch as adapters see it; its lines are read in chunks each time they are walked.

    With `release_between_chunks` each chunk is read in its own short transaction (a
    download must not hold SQLite's lock while a slow client reads); sealed lines never
    change, so the chunks agree."""
    header = batch_header(
        session,
        batch,
        fund,
        kind="remittance",
        currency=batch.currency,
        created_at=batch.sealed_at or batch.created_at,
        control_sum=batch.control_sum,
        through=batch.through,
    )
    org_id, batch_id = batch.organisation_id, batch.id

    pg = dialect.is_postgres(session)

    def lines() -> Iterator[ContributionLine]:
        if pg:
            yield from streamed()
        else:
            yield from chunked()

    def streamed() -> Iterator[ContributionLine]:
        # PostgreSQL: one query over a server-side cursor, STREAM_CHUNK rows per round trip,
        # each row already in ContributionLine's field order. A long read holds no lock
        # anyone waits for (MVCC), so the download keeps one snapshot from start to end.
        result = session.connection().execute(
            select(
                RemittanceLine.end_to_end_id,
                RemittanceLine.member_id,
                Member.member_number,
                Member.full_name,
                Member.national_id,
                RemittanceLine.affiliation_number,
                RemittanceLine.period_start,
                RemittanceLine.period_end,
                RemittanceLine.amount,
            )
            .join(
                Member,
                and_(
                    Member.organisation_id == RemittanceLine.organisation_id,
                    Member.id == RemittanceLine.member_id,
                ),
            )
            .where(
                RemittanceLine.organisation_id == org_id,
                RemittanceLine.batch_id == batch_id,
            )
            .order_by(RemittanceLine.line_number),
            # per statement: Connection.execution_options() would change the connection's
            # own options and put every later statement of the session on a cursor
            execution_options={"yield_per": STREAM_CHUNK},
        )
        make = ContributionLine._make
        try:
            for rows in result.partitions():
                yield from map(make, rows)
        finally:
            result.close()
            if release_between_chunks:
                session.rollback()

    def chunked() -> Iterator[ContributionLine]:
        # SQLite: a transaction there holds the database's write lock (BEGIN IMMEDIATE), so
        # each chunk is read in its own short one when `release_between_chunks`.
        after = 0
        while True:
            # Two index-driven queries per chunk (a range of the batch's lines by number, then
            # those lines' members by primary key) and Core rows, not ORM objects.
            conn = session.connection()
            rows = conn.execute(
                select(
                    RemittanceLine.line_number,
                    RemittanceLine.end_to_end_id,
                    RemittanceLine.member_id,
                    RemittanceLine.affiliation_number,
                    RemittanceLine.period_start,
                    RemittanceLine.period_end,
                    RemittanceLine.amount,
                )
                .where(
                    RemittanceLine.organisation_id == org_id,
                    RemittanceLine.batch_id == batch_id,
                    RemittanceLine.line_number > after,
                )
                .order_by(RemittanceLine.line_number)
                .limit(STREAM_CHUNK)
            ).all()
            ids = list({r.member_id for r in rows})
            members = {
                m[0]: m
                for m in conn.execute(
                    select(
                        Member.id, Member.member_number, Member.full_name, Member.national_id
                    ).where(Member.organisation_id == org_id, Member.id.in_(ids))
                )
            }
            if release_between_chunks:
                session.rollback()
            if not rows:
                return
            for _, e2e, member_id, affiliation, start, end, amount in rows:
                _, number, name, national_id = members[member_id]
                yield ContributionLine(
                    e2e, member_id, number, name, national_id, affiliation, start, end, amount
                )
            after = rows[-1][0]

    return BatchDocument(header, lines)


def affiliation_document(session: Session, batch: AffiliationBatch, fund: Fund) -> BatchDocument:
    """An affiliation batch as adapters see it: the members to register, in line order."""
    header = batch_header(
        session,
        batch,
        fund,
        kind="affiliation",
        currency=fund.currency,
        created_at=batch.created_at,
        control_sum=0,
    )
    org_id, batch_id = batch.organisation_id, batch.id

    def lines() -> Iterator[AffiliationRequest]:
        rows = session.execute(
            select(
                AffiliationLine.line_number,
                AffiliationLine.member_id,
                Member.member_number,
                Member.full_name,
                Member.national_id,
                Member.phone,
                Member.joined_on,
            )
            .join(
                Member,
                and_(Member.organisation_id == org_id, Member.id == AffiliationLine.member_id),
            )
            .where(AffiliationLine.organisation_id == org_id, AffiliationLine.batch_id == batch_id)
            .order_by(AffiliationLine.line_number)
        )
        for r in rows:
            yield AffiliationRequest(
                line_number=r.line_number,
                member_id=r.member_id,
                member_number=r.member_number,
                full_name=r.full_name,
                national_id=r.national_id,
                phone=r.phone,
                joined_on=r.joined_on,
            )

    return BatchDocument(header, lines)


def stream_file(
    factory: Any,
    organisation_id: uuid.UUID,
    batch_id: uuid.UUID,
    render: Any,
    config: dict[str, Any],
) -> Iterator[bytes]:
    """Render a batch with its own session, so a download outlives the request's transaction
    and reads its lines a chunk at a time."""
    with factory() as session:
        bind_organisation(session, organisation_id)
        batch = get_batch(session, batch_id)
        document = remittance_document(
            session, batch, fund_of(session, batch), release_between_chunks=True
        )
        session.rollback()
        yield from render(document, config)


def stream_affiliation_file(
    factory: Any, organisation_id: uuid.UUID, batch_id: uuid.UUID, render: Any
) -> Iterator[bytes]:
    """Render an affiliation batch with its own session (see stream_file)."""
    with factory() as session:
        bind_organisation(session, organisation_id)
        batch = get_affiliation_batch(session, batch_id)
        yield from render(affiliation_document(session, batch, fund_of(session, batch)), {})
