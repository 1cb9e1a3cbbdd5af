"""HTTP endpoints of affiliations: /affiliations (included in the remittances router)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from app.core.deps import READERS, Caller, DbSession, Principal
from app.core.errors import problem_response
from app.core.money import format_minor
from app.funds.adapters import csv_file, json_file
from app.identity.models import Role
from app.ledger.idempotency import IdempotencyKey, fingerprint, run_idempotent
from app.remittances import affiliations as service
from app.remittances.models import AffiliationBatch, AffiliationLine
from app.remittances.schemas import (
    AffiliationAcknowledgementCreate,
    AffiliationCreate,
    AffiliationLineRead,
    AffiliationRead,
)
from app.remittances.service import FundUnreachable

router = APIRouter(tags=["affiliations"])

Viewer = Annotated[Principal, Depends(Caller(*READERS, Role.fund_office))]
Preparer = Annotated[Principal, Depends(Caller(Role.admin, Role.treasurer))]
Answerer = Annotated[Principal, Depends(Caller(Role.treasurer, Role.fund_office))]
FORMATS = {
    "csv": (csv_file.render, csv_file.MEDIA_TYPE),
    "json": (json_file.render, json_file.MEDIA_TYPE),
}


def _scope(who: Principal) -> str | None:
    return who.fund_code if who.role == Role.fund_office else None


def affiliation_read(session: DbSession, batch: AffiliationBatch) -> AffiliationRead:
    fund = service.fund_of(session, batch)
    lines = session.scalars(
        select(AffiliationLine)
        .where(AffiliationLine.batch_id == batch.id)
        .order_by(AffiliationLine.line_number)
    )
    return AffiliationRead(
        id=batch.id,
        reference=batch.reference,
        fund_code=fund.code,
        status=batch.status,
        line_count=batch.line_count,
        accepted_count=batch.accepted_count,
        rejected_count=batch.rejected_count,
        commission_total=format_minor(batch.commission_total, fund.currency),
        created_at=batch.created_at,
        submitted_at=batch.submitted_at,
        acknowledged_at=batch.acknowledged_at,
        delivery=batch.delivery,
        lines=[
            AffiliationLineRead(
                line_number=ln.line_number,
                member_id=ln.member_id,
                status=ln.status,
                affiliation_number=ln.affiliation_number,
                reason=ln.reason,
                commission=format_minor(ln.commission, fund.currency)
                if ln.commission is not None
                else None,
            )
            for ln in lines
        ],
    )


@router.post("/affiliations", status_code=201, response_model=AffiliationRead)
def create_affiliations(
    body: AffiliationCreate,
    session: DbSession,
    who: Preparer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Members to register with a fund, sent through the fund's adapter like a remittance."""

    def operation() -> tuple[int, AffiliationRead]:
        batch = service.create_affiliation_batch(
            session, who.actor, fund_code=body.fund_code, member_ids=body.member_ids
        )
        return 201, affiliation_read(session, batch)

    return run_idempotent(
        session,
        who.organisation_id,
        idempotency_key,
        fingerprint("POST", "/affiliations", body.model_dump(mode="json")),
        operation,
    )


@router.get("/affiliations/{batch_id}", response_model=AffiliationRead)
def get_affiliations(batch_id: uuid.UUID, session: DbSession, who: Viewer) -> AffiliationRead:
    return affiliation_read(
        session, service.get_affiliation_batch(session, batch_id, fund_code=_scope(who))
    )


@router.get("/affiliations/{batch_id}/file", response_class=StreamingResponse)
def affiliation_file(
    batch_id: uuid.UUID,
    request: Request,
    session: DbSession,
    who: Viewer,
    format: Annotated[Literal["csv", "json"], Query()] = "csv",
) -> StreamingResponse:
    """The members to register, as CSV (header, lines, trailer) or JSON."""
    batch = service.get_affiliation_batch(session, batch_id, fund_code=_scope(who))
    render, media_type = FORMATS[format]
    session.commit()  # the download reads with its own session (see the remittance file)
    return StreamingResponse(
        service.stream_affiliation_file(
            request.app.state.session_factory, batch.organisation_id, batch.id, render
        ),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{batch.reference}.{format}"'},
    )


@router.post(
    "/affiliations/{batch_id}/submit",
    response_model=AffiliationRead,
    responses={
        409: {"description": "already submitted"},
        502: {"description": "the fund did not take it"},
    },
)
def submit_affiliations(
    batch_id: uuid.UUID, session: DbSession, who: Preparer, idempotency_key: IdempotencyKey = None
) -> Response:
    """Hand the batch to the fund's adapter; per-member answers it returns are applied."""

    def operation() -> tuple[int, AffiliationRead]:
        return 200, affiliation_read(
            session, service.submit_affiliations(session, who.actor, batch_id)
        )

    try:
        return run_idempotent(
            session,
            who.organisation_id,
            idempotency_key,
            fingerprint("POST", f"/affiliations/{batch_id}/submit", {}),
            operation,
        )
    except FundUnreachable as exc:
        return problem_response(
            exc.status, exc.to_problem(f"/api/v1/affiliations/{batch_id}/submit")
        )


@router.post("/affiliations/{batch_id}/acknowledgement", response_model=AffiliationRead)
def acknowledge_affiliations(
    batch_id: uuid.UUID,
    body: AffiliationAcknowledgementCreate,
    session: DbSession,
    who: Answerer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The fund's answer per member: accepted with its affiliation number (stored on the member;
    the fund's commission, if any, booked as income), or rejected with a reason."""
    decisions = [
        service.AffiliationDecision(ln.member_id, ln.status, ln.affiliation_number, ln.reason)
        for ln in body.lines
    ]

    def operation() -> tuple[int, AffiliationRead]:
        batch = service.acknowledge_affiliations(
            session, who.actor, batch_id, decisions, fund_code=_scope(who)
        )
        return 200, affiliation_read(session, batch)

    return run_idempotent(
        session,
        who.organisation_id,
        idempotency_key,
        fingerprint(
            "POST", f"/affiliations/{batch_id}/acknowledgement", body.model_dump(mode="json")
        ),
        operation,
    )
